"""OpenAI through the official SDK (chat completions, embeddings).

The SDK reads OPENAI_API_KEY and OPENAI_BASE_URL itself; its own retries are off so that ours
(with Retry-After) are the only ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from registry.entities import ModelConfig, Pricing
from tasks.providers.base import (
    CallContext,
    Completion,
    Failure,
    PermanentProviderError,
    StreamEvent,
    ToolCall,
    async_with_retries,
    cost_of,
    finish_reason,
    interrupted,
    loop_client,
    parse_arguments,
    require_key,
    resolved_tools,
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


def async_client() -> Any:
    """This event loop's AsyncOpenAI client."""
    import openai

    return loop_client("openai", lambda: openai.AsyncOpenAI(max_retries=0, api_key=secret_api_key("openai"),
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


def _message(m: dict[str, Any]) -> dict[str, Any]:
    """A provider-neutral message (assistant tool calls with parsed arguments) in chat-completions form."""
    if m.get("role") == "assistant" and m.get("tool_calls"):
        calls = [{"id": c["id"], "type": "function",
                  "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments") or {})}}
                 for c in m["tool_calls"]]
        return {"role": "assistant", "content": m.get("content") or None, "tool_calls": calls}
    if m.get("role") == "tool":
        content = m.get("content")
        return {"role": "tool", "tool_call_id": m["tool_call_id"],
                "content": content if isinstance(content, str) else json.dumps(content)}
    return m


def request_kwargs(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat.completions.create arguments for a version's whole configuration."""
    system, rest = split_system(config, messages)
    kwargs: dict[str, Any] = {"model": config.model_id,
                              "messages": ([{"role": "system", "content": system}] if system else [])
                              + [_message(m) for m in rest]}
    for field in ("temperature", "max_tokens", "top_p", "stop"):
        value = getattr(config, field)
        if value is not None:
            kwargs[field] = value
    if config.tools:
        kwargs["tools"] = [_tool(t) for t in resolved_tools(config)]
    if config.response_format is not None:
        rf = config.response_format
        kwargs["response_format"] = {"type": rf} if isinstance(rf, str) else rf
    if config.params:
        kwargs["extra_body"] = dict(config.params)
    return kwargs


def _completion(resp: Any, config: ModelConfig, pricing: Pricing | None, start: float,
                ctx: CallContext) -> Completion:
    latency = (time.perf_counter() - start) * 1000
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or not choices or getattr(choices[0], "message", None) is None:
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response: no choices[0].message "
                                     f"(got {type(resp).__name__})")
    choice = choices[0]
    message = choice.message
    calls = tuple(ToolCall(c.id, c.function.name, parse_arguments(c.function.arguments))
                  for c in (getattr(message, "tool_calls", None) or ()))
    usage = resp.usage
    tin, tout = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    return Completion(text=message.content or "", input_tokens=tin, output_tokens=tout, latency_ms=latency,
                      cost_usd=cost_of(pricing, tin, tout),
                      request_id=getattr(resp, "_request_id", None) or resp.id,
                      finish_reason=finish_reason(choice.finish_reason), model_id=resp.model or config.model_id,
                      tool_calls=calls, fingerprint=getattr(resp, "system_fingerprint", None))


def complete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
             ctx: CallContext) -> Completion:
    """One chat completion."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    try:
        resp = with_retries(lambda: client().chat.completions.create(**kwargs), _classify, config, ctx)
    except ValueError as exc:  # a body that is not JSON, or not the API's shape
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response ({type(exc).__name__})") from exc
    return _completion(resp, config, pricing, start, ctx)


async def acomplete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                    ctx: CallContext) -> Completion:
    """One chat completion through AsyncOpenAI."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    try:
        resp = await async_with_retries(lambda: async_client().chat.completions.create(**kwargs), _classify,
                                        config, ctx)
    except ValueError as exc:  # a body that is not JSON, or not the API's shape
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response ({type(exc).__name__})") from exc
    return _completion(resp, config, pricing, start, ctx)


class _Chunks:
    """Accumulates streamed chunks: text, tool-call fragments by index, the final usage chunk."""

    def __init__(self, config: ModelConfig, pricing: Pricing | None, start: float) -> None:
        self.config, self.pricing, self.start = config, pricing, start
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish: str | None = None
        self.usage: Any = None
        self.request_id: str | None = None
        self.model: str | None = None

    def add(self, chunk: Any) -> str:
        self.request_id = self.request_id or chunk.id
        self.model = self.model or chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        self.finish = choice.finish_reason or self.finish
        delta = choice.delta
        for frag in delta.tool_calls or ():
            call = self.calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = frag.id or call["id"]
            if frag.function is not None:
                call["name"] = frag.function.name or call["name"]
                call["arguments"] += frag.function.arguments or ""
        if delta.content:
            self.parts.append(delta.content)
            return str(delta.content)
        return ""

    def completion(self, request_id: str | None) -> Completion:
        tin, tout = (self.usage.prompt_tokens, self.usage.completion_tokens) if self.usage else (0, 0)
        calls = tuple(ToolCall(c["id"], c["name"], parse_arguments(c["arguments"]))
                      for _, c in sorted(self.calls.items()))
        return Completion(text="".join(self.parts), input_tokens=tin, output_tokens=tout,
                          latency_ms=(time.perf_counter() - self.start) * 1000,
                          cost_usd=cost_of(self.pricing, tin, tout), request_id=request_id or self.request_id,
                          finish_reason=finish_reason(self.finish), model_id=self.model or self.config.model_id,
                          tool_calls=calls)


def _stream_kwargs(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {**request_kwargs(config, messages), "stream": True, "stream_options": {"include_usage": True}}


def stream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
           ctx: CallContext) -> Iterator[StreamEvent]:
    """Text deltas as they arrive, then the Completion with the usage of the final chunk."""
    kwargs = _stream_kwargs(config, messages)
    start = time.perf_counter()
    chunks = with_retries(lambda: client().chat.completions.create(**kwargs), _classify, config, ctx)
    acc = _Chunks(config, pricing, start)
    with chunks:  # closing the generator early closes the HTTP response
        try:
            for chunk in chunks:
                text = acc.add(chunk)
                if text:
                    yield StreamEvent(text)
        except Exception as exc:
            raise interrupted(exc, _classify, config, ctx) from exc
    yield StreamEvent(completion=acc.completion(getattr(chunks.response, "headers", {}).get("x-request-id")))


async def astream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                  ctx: CallContext) -> AsyncIterator[StreamEvent]:
    """``stream`` through AsyncOpenAI."""
    kwargs = _stream_kwargs(config, messages)
    start = time.perf_counter()
    chunks = await async_with_retries(lambda: async_client().chat.completions.create(**kwargs), _classify,
                                      config, ctx)
    acc = _Chunks(config, pricing, start)
    async with chunks:
        try:
            async for chunk in chunks:
                text = acc.add(chunk)
                if text:
                    yield StreamEvent(text)
        except Exception as exc:
            raise interrupted(exc, _classify, config, ctx) from exc
    yield StreamEvent(completion=acc.completion(getattr(chunks.response, "headers", {}).get("x-request-id")))


def embed(config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
    """Embeddings for ``texts`` (``params.dimensions`` is passed through)."""
    extra = dict(config.params or {})
    resp = with_retries(lambda: client().embeddings.create(model=config.model_id, input=texts, **extra),
                        _classify, config, ctx)
    return [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]
