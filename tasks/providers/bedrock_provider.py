"""AWS Bedrock through boto3's ``bedrock-runtime`` Converse API.

Region, credentials and endpoint come from the standard AWS settings (AWS_REGION / AWS_DEFAULT_REGION,
the credential chain, AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_BEDROCK_RUNTIME); botocore's own retries are
off so ours are the only ones.
"""

from __future__ import annotations

import json
import time
from typing import Any

from registry.entities import ModelConfig, Pricing
from tasks.providers.base import (
    CallContext,
    Completion,
    Failure,
    cost_of,
    retry_policy,
    shared_client,
    split_system,
    with_retries,
)

TRANSIENT_CODES = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException",
                   "ModelNotReadyException", "ModelTimeoutException", "TooManyRequestsException"}
def _make_client() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("bedrock-runtime", config=Config(retries={"max_attempts": 1, "mode": "standard"},
                                                         read_timeout=retry_policy().provider_timeout_seconds,
                                                         connect_timeout=10))


def client() -> Any:
    """The process's bedrock-runtime client (botocore retries off)."""
    return shared_client("bedrock", _make_client)


def _classify(exc: BaseException) -> Failure | None:
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(exc, ReadTimeoutError | ConnectionError):
        return Failure(transient=True, message=f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        transient = code in TRANSIENT_CODES or (status is not None and (status == 429 or status >= 500))
        return Failure(transient=transient, status=status, message=f"{code}: {exc}")
    return None


def _tool(tool: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(tool, dict):
        if "toolSpec" in tool:
            return tool
        fn = tool.get("function", tool)
        return {"toolSpec": {"name": fn["name"], "description": fn.get("description", fn["name"]),
                             "inputSchema": {"json": fn.get("parameters") or fn.get("input_schema") or {"type": "object"}}}}
    return {"toolSpec": {"name": tool, "description": tool, "inputSchema": {"json": {"type": "object"}}}}


def request_kwargs(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The converse() arguments for a version's whole configuration."""
    system, rest = split_system(config, messages)
    kwargs: dict[str, Any] = {
        "modelId": config.model_id,
        "messages": [{"role": m["role"], "content": [{"text": str(m["content"])}]} for m in rest],
    }
    if system:
        kwargs["system"] = [{"text": system}]
    inference = {k: v for k, v in (("maxTokens", config.max_tokens), ("temperature", config.temperature),
                                   ("topP", config.top_p), ("stopSequences", config.stop)) if v is not None}
    if inference:
        kwargs["inferenceConfig"] = inference
    if config.tools:
        kwargs["toolConfig"] = {"tools": [_tool(t) for t in config.tools]}
    if config.params:
        kwargs["additionalModelRequestFields"] = dict(config.params)
    return kwargs


def complete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
             ctx: CallContext) -> Completion:
    """One Converse call."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    resp = with_retries(lambda: client().converse(**kwargs), _classify, config, ctx)
    latency = (time.perf_counter() - start) * 1000
    parts = []
    for block in resp["output"]["message"]["content"]:
        if "text" in block:
            parts.append(block["text"])
        elif "toolUse" in block:
            parts.append(f"{block['toolUse']['name']}({json.dumps(block['toolUse'].get('input'))})")
    usage = resp.get("usage", {})
    tin, tout = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
    return Completion(text="".join(parts), input_tokens=tin, output_tokens=tout, latency_ms=latency,
                      cost_usd=cost_of(pricing, tin, tout),
                      request_id=resp.get("ResponseMetadata", {}).get("RequestId"),
                      finish_reason=resp.get("stopReason"), model_id=config.model_id)


def embed(config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
    """Titan-style embeddings through InvokeModel (one request per text)."""
    out = []
    for text in texts:
        body = json.dumps({"inputText": text, **(config.params or {})})
        resp = with_retries(lambda b=body: client().invoke_model(modelId=config.model_id, body=b,  # type: ignore[misc]
                                                                 contentType="application/json"),
                            _classify, config, ctx)
        out.append(list(json.loads(resp["body"].read())["embedding"]))
    return out
