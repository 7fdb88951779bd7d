"""OpenAI through the official SDK (chat completions, embeddings).

The SDK reads OPENAI_API_KEY and OPENAI_BASE_URL itself; its own retries are off so that ours
(with Retry-After) are the only ones.

Chat completions go through the SDK client's generic ``post`` (its documented way to call an endpoint
with a body as JSON) rather than the typed ``chat.completions.create``: the same request (auth, base URL,
headers, timeouts, connection pool, the SDK's status errors), the same bytes on the wire (the typed
call's parameter transform is an identity for chat completions: no aliases, no file fields), but no
per-call walk of the parameter TypedDicts and no pydantic model built from each response or stream
chunk: the answer is read as the JSON it is (measured on aiohttp: 0.93 against 1.73 ms of client CPU per
call). The async client runs on aiohttp (``openai.DefaultAioHttpClient``, the ``aiohttp`` extra) when it
is installed: 1.73 against 2.41 ms per typed call on httpx's anyio transport. ``bench/eval_bench.py``
prints each against the ideal.
"""

from __future__ import annotations

import functools
import json
import sys
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
    aiohttp_installed,
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

CHAT_PATH = "/chat/completions"


def client() -> Any:
    """The process's OpenAI client (SDK retries off: ours honour Retry-After)."""
    import openai

    return shared_client("openai", lambda: openai.OpenAI(max_retries=0, api_key=secret_api_key("openai"),
                                                         timeout=retry_policy().provider_timeout_seconds))


def async_client() -> Any:
    """This event loop's AsyncOpenAI client (on aiohttp when installed; one connection pool per loop)."""
    import openai

    def make() -> Any:
        http = openai.DefaultAioHttpClient() if aiohttp_installed() else None
        return openai.AsyncOpenAI(max_retries=0, api_key=secret_api_key("openai"), http_client=http,
                                  timeout=retry_policy().provider_timeout_seconds)

    return loop_client("openai", make)


@functools.cache
def _response_class() -> type:
    """The SDK's HTTP response class (``httpx2.Response`` in openai 3, ``httpx.Response`` before): passed
    as ``cast_to``, the SDK hands the response back unparsed, with its headers. Found from the public
    ``DefaultAsyncHttpxClient``, a subclass of that library's ``AsyncClient``."""
    import openai

    base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
    return sys.modules[base.__module__.split(".")[0]].Response  # type: ignore[no-any-return]


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


def request_body(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat-completions request body for a version's whole configuration (``params`` merged in, as the
    typed call's ``extra_body``)."""
    system, rest = split_system(config, messages)
    body: dict[str, Any] = {"model": config.model_id,
                            "messages": ([{"role": "system", "content": system}] if system else [])
                            + [_message(m) for m in rest]}
    for field in ("temperature", "max_tokens", "top_p", "stop"):
        value = getattr(config, field)
        if value is not None:
            body[field] = value
    if config.tools:
        body["tools"] = [_tool(t) for t in resolved_tools(config)]
    if config.response_format is not None:
        rf = config.response_format
        body["response_format"] = {"type": rf} if isinstance(rf, str) else rf
    if config.params:
        body.update(config.params)
    return body


def _json(resp: Any, config: ModelConfig, ctx: CallContext) -> dict[str, Any]:
    try:
        data = json.loads(resp.content)
    except ValueError as exc:
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response (not JSON)") from exc
    if not isinstance(data, dict):
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response (got {type(data).__name__})")
    return data


def _completion(resp: Any, config: ModelConfig, pricing: Pricing | None, start: float,
                ctx: CallContext) -> Completion:
    latency = (time.perf_counter() - start) * 1000
    data = _json(resp, config, ctx)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict) \
            or not isinstance(choices[0].get("message"), dict):
        raise PermanentProviderError(f"{ctx.describe(config)}: malformed response: no choices[0].message")
    choice = choices[0]
    message = choice["message"]
    calls = tuple(ToolCall(c.get("id", ""), c["function"]["name"], parse_arguments(c["function"].get("arguments")))
                  for c in (message.get("tool_calls") or ()))
    usage = data.get("usage") or {}
    tin, tout = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    return Completion(text=message.get("content") or "", input_tokens=tin, output_tokens=tout, latency_ms=latency,
                      cost_usd=cost_of(pricing, tin, tout),
                      request_id=resp.headers.get("x-request-id") or data.get("id"),
                      finish_reason=finish_reason(choice.get("finish_reason")),
                      model_id=data.get("model") or config.model_id, tool_calls=calls,
                      fingerprint=data.get("system_fingerprint"))


def complete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
             ctx: CallContext) -> Completion:
    """One chat completion."""
    body = request_body(config, messages)
    start = time.perf_counter()
    resp = with_retries(lambda: client().post(CHAT_PATH, body=body, cast_to=_response_class()), _classify,
                        config, ctx)
    return _completion(resp, config, pricing, start, ctx)


async def acomplete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                    ctx: CallContext) -> Completion:
    """One chat completion through AsyncOpenAI."""
    body = request_body(config, messages)
    start = time.perf_counter()
    resp = await async_with_retries(lambda: async_client().post(CHAT_PATH, body=body, cast_to=_response_class()),
                                    _classify, config, ctx)
    return _completion(resp, config, pricing, start, ctx)


class _Chunks:
    """Accumulates streamed chunks (JSON objects): text, tool-call fragments by index, the usage chunk."""

    def __init__(self, config: ModelConfig, pricing: Pricing | None, start: float) -> None:
        self.config, self.pricing, self.start = config, pricing, start
        self.parts: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.request_id: str | None = None
        self.model: str | None = None

    def add(self, chunk: dict[str, Any]) -> str:
        if self.request_id is None:
            self.request_id, self.model = chunk.get("id"), chunk.get("model")
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        choices = chunk.get("choices")
        if not choices:
            return ""
        choice = choices[0]
        self.finish = choice.get("finish_reason") or self.finish
        delta = choice.get("delta") or {}
        for frag in delta.get("tool_calls") or ():
            call = self.calls.setdefault(frag.get("index", 0), {"id": "", "name": "", "arguments": ""})
            call["id"] = frag.get("id") or call["id"]
            function = frag.get("function")
            if function:
                call["name"] = function.get("name") or call["name"]
                call["arguments"] += function.get("arguments") or ""
        text = delta.get("content")
        if text:
            self.parts.append(text)
            return str(text)
        return ""

    def completion(self, request_id: str | None) -> Completion:
        usage = self.usage or {}
        tin, tout = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
        calls = tuple(ToolCall(c["id"], c["name"], parse_arguments(c["arguments"]))
                      for _, c in sorted(self.calls.items()))
        return Completion(text="".join(self.parts), input_tokens=tin, output_tokens=tout,
                          latency_ms=(time.perf_counter() - self.start) * 1000,
                          cost_usd=cost_of(self.pricing, tin, tout), request_id=request_id or self.request_id,
                          finish_reason=finish_reason(self.finish), model_id=self.model or self.config.model_id,
                          tool_calls=calls)


def _stream_body(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {**request_body(config, messages), "stream": True, "stream_options": {"include_usage": True}}


def stream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
           ctx: CallContext) -> Iterator[StreamEvent]:
    """Text deltas as they arrive, then the Completion with the usage of the final chunk."""
    import openai

    body = _stream_body(config, messages)
    start = time.perf_counter()
    chunks = with_retries(lambda: client().post(CHAT_PATH, body=body, cast_to=object, stream=True,
                                                stream_cls=openai.Stream[object]), _classify, config, ctx)
    acc = _Chunks(config, pricing, start)
    with chunks:  # closing the generator early closes the HTTP response
        try:
            for chunk in chunks:
                text = acc.add(chunk)
                if text:
                    yield StreamEvent(text)
        except Exception as exc:
            raise interrupted(exc, _classify, config, ctx) from exc
    yield StreamEvent(completion=acc.completion(chunks.response.headers.get("x-request-id")))


async def astream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                  ctx: CallContext) -> AsyncIterator[StreamEvent]:
    """``stream`` through AsyncOpenAI."""
    import openai

    body = _stream_body(config, messages)
    start = time.perf_counter()
    chunks = await async_with_retries(lambda: async_client().post(CHAT_PATH, body=body, cast_to=object, stream=True,
                                                                  stream_cls=openai.AsyncStream[object]),
                                      _classify, config, ctx)
    acc = _Chunks(config, pricing, start)
    async with chunks:
        try:
            async for chunk in chunks:
                text = acc.add(chunk)
                if text:
                    yield StreamEvent(text)
        except Exception as exc:
            raise interrupted(exc, _classify, config, ctx) from exc
    yield StreamEvent(completion=acc.completion(chunks.response.headers.get("x-request-id")))


def embed(config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
    """Embeddings for ``texts`` (``params.dimensions`` is passed through)."""
    extra = dict(config.params or {})
    resp = with_retries(lambda: client().embeddings.create(model=config.model_id, input=texts, **extra),
                        _classify, config, ctx)
    return [list(d.embedding) for d in sorted(resp.data, key=lambda d: d.index)]
