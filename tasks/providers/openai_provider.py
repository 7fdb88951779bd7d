"""OpenAI through the official SDK (chat completions, embeddings).

The SDK reads OPENAI_API_KEY and OPENAI_BASE_URL itself; its own retries are off so that ours
(with Retry-After) are the only ones.
"""

from __future__ import annotations

import time
from typing import Any

from registry.entities import ModelConfig, Pricing
from tasks.providers.base import (
    CallContext,
    Completion,
    Failure,
    PermanentProviderError,
    cost_of,
    require_key,
    retry_policy,
    sdk_failure,
    secret_api_key,
    shared_client,
    split_system,
    with_retries,
)


def client() -> Any:
    """The process's OpenAI client (SDK retries off: ours honour Retry-After)."""
    import openai

    return shared_client("openai", lambda: openai.OpenAI(max_retries=0, api_key=secret_api_key("openai"),
                                                         timeout=retry_policy().provider_timeout_seconds))


def warm_up(config: ModelConfig) -> None:
    """Check the key and build the client before the first timed call."""
    require_key("openai")
    client()


def _classify(exc: BaseException) -> Failure | None:
    import openai

    return sdk_failure(exc, openai)


def _tool(tool: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(tool, dict):
        return tool
    return {"type": "function", "function": {"name": tool, "parameters": {"type": "object", "properties": {}}}}


def request_kwargs(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat.completions.create arguments for a version's whole configuration."""
    system, rest = split_system(config, messages)
    kwargs: dict[str, Any] = {"model": config.model_id,
                              "messages": ([{"role": "system", "content": system}] if system else []) + rest}
    for field in ("temperature", "max_tokens", "top_p", "stop"):
        value = getattr(config, field)
        if value is not None:
            kwargs[field] = value
    if config.tools:
        kwargs["tools"] = [_tool(t) for t in config.tools]
    if config.response_format is not None:
        rf = config.response_format
        kwargs["response_format"] = {"type": rf} if isinstance(rf, str) else rf
    if config.params:
        kwargs["extra_body"] = dict(config.params)
    return kwargs


def complete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
             ctx: CallContext) -> Completion:
    """One chat completion."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    try:
        resp = with_retries(lambda: client().chat.completions.create(**kwargs), _classify, config, ctx)
    except ValueError as exc:  # a body that is not JSON, or not the API's shape
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response ({type(exc).__name__})") from exc
    latency = (time.perf_counter() - start) * 1000
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or not choices or getattr(choices[0], "message", None) is None:
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response: no choices[0].message "
                                     f"(got {type(resp).__name__})")
    choice = choices[0]
    message = choice.message
    text = message.content or ""
    if not text and getattr(message, "tool_calls", None):
        text = "\n".join(f"{c.function.name}({c.function.arguments})" for c in message.tool_calls)
    usage = resp.usage
    tin, tout = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    return Completion(text=text, input_tokens=tin, output_tokens=tout, latency_ms=latency,
                      cost_usd=cost_of(pricing, tin, tout),
                      request_id=getattr(resp, "_request_id", None) or resp.id,
                      finish_reason=choice.finish_reason, model_id=resp.model or config.model_id,
                      fingerprint=getattr(resp, "system_fingerprint", None))


def embed(config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
    """Embeddings for ``texts`` (``params.dimensions`` is passed through)."""
    extra = dict(config.params or {})
    resp = with_retries(lambda: client().embeddings.create(model=config.model_id, input=texts, **extra),
                        _classify, config, ctx)
    return [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]
