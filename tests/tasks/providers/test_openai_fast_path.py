"""The openai provider's cheap path: the SDK client's ``post`` with the body the typed call would send,
the async client on the SDK's aiohttp transport; the real SDK against the wire-format server."""

from __future__ import annotations

import asyncio

import openai
import pytest

from registry.entities import ModelConfig
from tasks.providers import PermanentProviderError, acomplete, astream, complete, stream
from tasks.providers.base import aclose_loop_clients, aiohttp_installed, reset_clients
from tasks.providers.openai_provider import async_client, request_body
from tests.tasks.providers.fakes import FakeProvider, openai_chat, openai_tool_call

CONFIG = ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06", system_prompt="Classify the ticket.",
                     temperature=0.0, max_tokens=5, top_p=0.9, stop=["\n"], tools=["lookup_order"],
                     response_format="json_object", params={"seed": 7, "user": "team-a"})
HISTORY = [{"role": "user", "content": "Where is order 42?"},
           {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "name": "lookup_order",
                                                                "arguments": {"order_id": 42}}]},
           {"role": "tool", "tool_call_id": "call_1", "content": {"status": "shipped"}}]


def test_the_wire_body_is_what_the_typed_create_call_sends(openai_env: FakeProvider) -> None:
    complete(CONFIG, HISTORY)
    ours = openai_env.requests[-1]
    body = request_body(CONFIG, HISTORY)
    typed = {k: v for k, v in body.items() if k not in CONFIG.params}
    openai.OpenAI(max_retries=0).chat.completions.create(**typed, extra_body=dict(CONFIG.params))
    theirs = openai_env.requests[-1]
    assert ours["body"] == theirs["body"] and ours["path"] == theirs["path"] == "/v1/chat/completions"
    assert ours["headers"]["authorization"] == theirs["headers"]["authorization"]


def test_async_client_runs_on_the_sdks_aiohttp_transport(openai_env: FakeProvider) -> None:
    pytest.importorskip("aiohttp")
    assert aiohttp_installed()
    reset_clients()

    async def run() -> tuple[type, str]:
        try:
            sdk = async_client()
            done = await acomplete(CONFIG, [{"role": "user", "content": "hi"}])
            return type(sdk._client), done.text
        finally:
            await aclose_loop_clients()

    transport, text = asyncio.run(run())
    assert issubclass(transport, openai.DefaultAioHttpClient) and text == "billing"


def test_async_tool_calls_and_streams_through_aiohttp(openai_env: FakeProvider) -> None:
    openai_env.script.append((200, openai_tool_call("lookup_order", {"order_id": 42}), {}, 0.0))
    openai_env.script.append((200, openai_chat("Your order has shipped."), {}, 0.0))
    reset_clients()

    async def run() -> tuple:
        try:
            called = await acomplete(CONFIG, HISTORY[:1])
            events = [e async for e in astream(CONFIG, HISTORY)]
            return called, events
        finally:
            await aclose_loop_clients()

    called, events = asyncio.run(run())
    assert called.finish_reason == "tool_call" and called.tool_calls[0].arguments == {"order_id": 42}
    done = events[-1].completion
    assert done is not None and "".join(e.text for e in events) == done.text == "Your order has shipped."
    assert (done.input_tokens, done.output_tokens, done.request_id) == (12, 3, "req_2")


@pytest.mark.parametrize("payload", [{"id": "x", "object": "chat.completion"}, {"choices": []},
                                     {"choices": [{"index": 0, "finish_reason": "stop"}]}])
def test_a_response_without_a_message_is_a_permanent_error_naming_the_version(openai_env: FakeProvider,
                                                                              payload: dict) -> None:
    openai_env.script.append((200, payload, {}, 0.0))
    with pytest.raises(PermanentProviderError, match=r"triage@2 \(openai:gpt-4o-2024-08-06\): malformed"):
        complete(CONFIG, HISTORY[:1], model="triage", version=2)


def test_stream_deltas_are_read_from_the_chunks_json(openai_env: FakeProvider) -> None:
    openai_env.script.append((200, openai_tool_call("lookup_order", {"order_id": 42}), {}, 0.0))
    events = list(stream(CONFIG, HISTORY[:1]))
    done = events[-1].completion
    assert done is not None and done.finish_reason == "tool_call"
    assert [(c.id, c.name, c.arguments) for c in done.tool_calls] == [("call_1", "lookup_order", {"order_id": 42})]
    assert (done.input_tokens, done.output_tokens) == (30, 9)
