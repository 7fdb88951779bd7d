"""AWS Bedrock through boto3's ``bedrock-runtime`` Converse API.

Region, credentials and endpoint come from the standard AWS settings (AWS_REGION / AWS_DEFAULT_REGION,
the credential chain, AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_BEDROCK_RUNTIME); botocore's own retries are
off so ours are the only ones.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Generator
from typing import Any

from registry.entities import ModelConfig, Pricing
from tasks.providers.base import (
    CallContext,
    Completion,
    Failure,
    StreamEvent,
    ToolCall,
    cost_of,
    finish_reason,
    interrupted,
    parse_arguments,
    resolved_tools,
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


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Provider-neutral messages in Converse form (``toolUse`` / ``toolResult`` content blocks)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("role") == "tool":
            content = m.get("content")
            block = {"toolResult": {"toolUseId": m["tool_call_id"], "content": [
                {"text": content} if isinstance(content, str) else {"json": content}]}}
            if out and out[-1]["role"] == "user" and "toolResult" in out[-1]["content"][0]:
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
            continue
        blocks: list[dict[str, Any]] = [{"text": str(m["content"])}] if m.get("content") else []
        blocks += [{"toolUse": {"toolUseId": c["id"], "name": c["name"], "input": c.get("arguments") or {}}}
                   for c in m.get("tool_calls") or ()]
        out.append({"role": m["role"], "content": blocks})
    return out


def request_kwargs(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The converse() arguments for a version's whole configuration."""
    system, rest = split_system(config, messages)
    kwargs: dict[str, Any] = {"modelId": config.model_id, "messages": _messages(rest)}
    if system:
        kwargs["system"] = [{"text": system}]
    inference = {k: v for k, v in (("maxTokens", config.max_tokens), ("temperature", config.temperature),
                                   ("topP", config.top_p), ("stopSequences", config.stop)) if v is not None}
    if inference:
        kwargs["inferenceConfig"] = inference
    if config.tools:
        kwargs["toolConfig"] = {"tools": [_tool(t) for t in resolved_tools(config)]}
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
    parts, calls = [], []
    for block in resp["output"]["message"]["content"]:
        if "text" in block:
            parts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(ToolCall(use["toolUseId"], use["name"], parse_arguments(use.get("input"))))
    usage = resp.get("usage", {})
    tin, tout = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
    return Completion(text="".join(parts), input_tokens=tin, output_tokens=tout, latency_ms=latency,
                      cost_usd=cost_of(pricing, tin, tout),
                      request_id=resp.get("ResponseMetadata", {}).get("RequestId"),
                      finish_reason=finish_reason(resp.get("stopReason")), model_id=config.model_id,
                      tool_calls=tuple(calls))


async def acomplete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                    ctx: CallContext) -> Completion:
    """boto3 has no async client: one Converse call in a worker thread."""
    return await asyncio.to_thread(complete, config, messages, pricing, ctx)


def stream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
           ctx: CallContext) -> Generator[StreamEvent, None, None]:
    """ConverseStream: text deltas, tool-use input assembled from its JSON fragments, usage from metadata."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    resp = with_retries(lambda: client().converse_stream(**kwargs), _classify, config, ctx)
    events = resp["stream"]
    parts: list[str] = []
    calls: dict[int, dict[str, str]] = {}
    stop, usage = None, {}
    try:
        for event in events:
            if "contentBlockStart" in event:
                use = event["contentBlockStart"].get("start", {}).get("toolUse")
                if use:
                    calls[event["contentBlockStart"]["contentBlockIndex"]] = {
                        "id": use["toolUseId"], "name": use["name"], "input": ""}
            elif "contentBlockDelta" in event:
                delta = event["contentBlockDelta"]["delta"]
                if delta.get("text"):
                    parts.append(delta["text"])
                    yield StreamEvent(delta["text"])
                elif "toolUse" in delta:
                    calls[event["contentBlockDelta"]["contentBlockIndex"]]["input"] += delta["toolUse"]["input"]
            elif "messageStop" in event:
                stop = event["messageStop"].get("stopReason")
            elif "metadata" in event:
                usage = event["metadata"].get("usage", {})
    except Exception as exc:
        raise interrupted(exc, _classify, config, ctx) from exc
    finally:
        if hasattr(events, "close"):
            events.close()
    tin, tout = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
    yield StreamEvent(completion=Completion(
        text="".join(parts), input_tokens=tin, output_tokens=tout, latency_ms=(time.perf_counter() - start) * 1000,
        cost_usd=cost_of(pricing, tin, tout), request_id=resp.get("ResponseMetadata", {}).get("RequestId"),
        finish_reason=finish_reason(stop), model_id=config.model_id,
        tool_calls=tuple(ToolCall(c["id"], c["name"], parse_arguments(c["input"]))
                         for _, c in sorted(calls.items()))))


async def astream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                  ctx: CallContext) -> AsyncIterator[StreamEvent]:
    """``stream`` with each blocking read in a worker thread."""
    events = stream(config, messages, pricing, ctx)
    try:
        while (event := await asyncio.to_thread(next, events, None)) is not None:
            yield event
    finally:
        events.close()


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
