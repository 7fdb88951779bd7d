"""Anthropic through the official SDK (messages).

The SDK reads ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL itself; its own retries are off.
Recent SDKs no longer type the sampling parameters, so ``temperature`` and ``top_p`` travel in the
request body (``extra_body``) as the Messages API expects them. A ``response_format`` with a JSON
schema becomes ``output_config.format`` (structured outputs); a plain ``json_object`` becomes an
instruction in the system prompt.
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
    StreamEvent,
    ToolCall,
    aiohttp_installed,
    async_with_retries,
    cost_of,
    finish_reason,
    interrupted,
    loop_client,
    require_key,
    resolved_tools,
    retry_policy,
    sdk_failure,
    secret_api_key,
    shared_client,
    split_system,
    with_retries,
)

DEFAULT_MAX_TOKENS = 1024
def client() -> Any:
    """The process's Anthropic client (SDK retries off)."""
    import anthropic

    return shared_client("anthropic", lambda: anthropic.Anthropic(
        max_retries=0, api_key=secret_api_key("anthropic"), timeout=retry_policy().provider_timeout_seconds))


def async_client() -> Any:
    """This event loop's AsyncAnthropic client (on the SDK's aiohttp transport when aiohttp is installed)."""
    import anthropic

    def make() -> Any:
        http = anthropic.DefaultAioHttpClient() if aiohttp_installed() else None
        return anthropic.AsyncAnthropic(max_retries=0, api_key=secret_api_key("anthropic"), http_client=http,
                                        timeout=retry_policy().provider_timeout_seconds)

    return loop_client("anthropic", make)


def warm_up(config: ModelConfig) -> None:
    """Check the key and build the client before the first timed call."""
    require_key("anthropic")
    client()


def _classify(exc: BaseException) -> Failure | None:
    import anthropic

    return sdk_failure(exc, anthropic)


def _tool(tool: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(tool, dict):
        if tool.get("type") == "function" and "function" in tool:  # OpenAI-style schema
            fn = tool["function"]
            return {"name": fn["name"], "description": fn.get("description", ""),
                    "input_schema": fn.get("parameters", {"type": "object"})}
        return tool
    return {"name": tool, "input_schema": {"type": "object", "properties": {}}}


def _json_schema(response_format: str | dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema inside an OpenAI-style or bare response_format, if there is one."""
    if not isinstance(response_format, dict):
        return None
    if "json_schema" in response_format:
        inner = response_format["json_schema"]
        return inner.get("schema", inner) if isinstance(inner, dict) else None
    if "schema" in response_format:
        return response_format["schema"]  # type: ignore[no-any-return]
    return None if response_format.get("type") == "json_object" else response_format


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Provider-neutral messages in Messages-API form: tool calls as ``tool_use`` blocks, tool results as
    ``tool_result`` blocks of one user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.get("role") == "assistant" and m.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}] if m.get("content") else []
            blocks += [{"type": "tool_use", "id": c["id"], "name": c["name"], "input": c.get("arguments") or {}}
                       for c in m["tool_calls"]]
            out.append({"role": "assistant", "content": blocks})
        elif m.get("role") == "tool":
            content = m.get("content")
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"],
                     "content": content if isinstance(content, str) else json.dumps(content)}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        else:
            out.append(m)
    return out


def request_kwargs(config: ModelConfig, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The messages.create arguments for a version's whole configuration."""
    system, rest = split_system(config, messages)
    kwargs: dict[str, Any] = {"model": config.model_id, "messages": _messages(rest),
                              "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS}
    if config.response_format is not None:
        schema = _json_schema(config.response_format)
        if schema is not None:
            kwargs["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        else:
            note = "Respond with a single JSON object only."
            system = f"{system}\n\n{note}" if system else note
    if system:
        kwargs["system"] = system
    if config.stop:
        kwargs["stop_sequences"] = list(config.stop)
    if config.tools:
        kwargs["tools"] = [_tool(t) for t in resolved_tools(config)]
    body = {k: v for k, v in (("temperature", config.temperature), ("top_p", config.top_p)) if v is not None}
    body.update(config.params or {})
    if body:
        kwargs["extra_body"] = body
    return kwargs


def _completion(resp: Any, config: ModelConfig, pricing: Pricing | None, start: float,
                request_id: str | None = None) -> Completion:
    latency = (time.perf_counter() - start) * 1000
    parts, calls = [], []
    for block in resp.content:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "tool_use":
            calls.append(ToolCall(block.id, block.name, dict(block.input or {})))
    tin, tout = resp.usage.input_tokens, resp.usage.output_tokens
    return Completion(text="".join(parts), input_tokens=tin, output_tokens=tout, latency_ms=latency,
                      cost_usd=cost_of(pricing, tin, tout),
                      request_id=request_id or getattr(resp, "_request_id", None) or resp.id,
                      finish_reason=finish_reason(resp.stop_reason), model_id=resp.model or config.model_id,
                      tool_calls=tuple(calls))


def complete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
             ctx: CallContext) -> Completion:
    """One message."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    resp = with_retries(lambda: client().messages.create(**kwargs), _classify, config, ctx)
    return _completion(resp, config, pricing, start)


async def acomplete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                    ctx: CallContext) -> Completion:
    """One message through AsyncAnthropic."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    resp = await async_with_retries(lambda: async_client().messages.create(**kwargs), _classify, config, ctx)
    return _completion(resp, config, pricing, start)


def _request_id(stream: Any) -> str | None:
    response = getattr(stream, "response", None)
    return response.headers.get("request-id") if response is not None else None


def stream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
           ctx: CallContext) -> Iterator[StreamEvent]:
    """Text deltas from ``messages.stream``, then the final message (tool calls, usage)."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    events = with_retries(lambda: client().messages.stream(**kwargs).__enter__(), _classify, config, ctx)
    try:
        try:
            for event in events:
                if event.type == "text" and event.text:
                    yield StreamEvent(event.text)
            final = events.get_final_message()
        except Exception as exc:
            raise interrupted(exc, _classify, config, ctx) from exc
    finally:
        events.close()
    yield StreamEvent(completion=_completion(final, config, pricing, start, _request_id(events)))


async def astream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                  ctx: CallContext) -> AsyncIterator[StreamEvent]:
    """``stream`` through AsyncAnthropic."""
    kwargs = request_kwargs(config, messages)
    start = time.perf_counter()
    events = await async_with_retries(lambda: async_client().messages.stream(**kwargs).__aenter__(), _classify,
                                      config, ctx)
    try:
        try:
            async for event in events:
                if event.type == "text" and event.text:
                    yield StreamEvent(event.text)
            final = await events.get_final_message()
        except Exception as exc:
            raise interrupted(exc, _classify, config, ctx) from exc
    finally:
        await events.close()
    yield StreamEvent(completion=_completion(final, config, pricing, start, _request_id(events)))
