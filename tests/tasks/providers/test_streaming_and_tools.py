"""Async, streaming and tool-call paths of every provider, through the real SDKs and wire-format servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from registry.entities import ModelConfig, Pricing
from tasks.providers import (
    Completion,
    PermanentProviderError,
    StreamEvent,
    ToolCall,
    acomplete,
    astream,
    base,
    complete,
    stream,
)
from tests.tasks.providers.fakes import (
    FakeProvider,
    anthropic_message,
    anthropic_tool_use,
    bedrock_converse,
    bedrock_eventstream,
    error_body,
    openai_chat,
    openai_tool_call,
)

PRICE = Pricing(input_per_1m=2.5, output_per_1m=10.0)
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}}}}}
OPENAI = ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06", system_prompt="Be brief.", max_tokens=50,
                     tools=[WEATHER])
ANTHROPIC = ModelConfig(provider="anthropic", model_id="claude-sonnet-4-5-20250929", max_tokens=100, tools=[WEATHER])
BEDROCK = ModelConfig(provider="bedrock", model_id="anthropic.claude-3-5-sonnet-20240620-v1:0", max_tokens=100,
                      tools=[WEATHER])
LOCAL = ModelConfig(provider="local", model_id="lead-3-v1", params={"sentences": 2})
ASK = [{"role": "user", "content": "Weather in Paris?"}]


def collect(events: Iterator[StreamEvent]) -> tuple[list[str], Completion]:
    chunks, done = [], None
    for event in events:
        if event.text:
            chunks.append(event.text)
        if event.completion is not None:
            done = event.completion
    assert done is not None
    return chunks, done


async def acollect(config: ModelConfig, messages: list[dict[str, Any]], **kw: Any) -> tuple[list[str], Completion]:
    chunks, done = [], None
    async for event in astream(config, messages, **kw):
        if event.text:
            chunks.append(event.text)
        if event.completion is not None:
            done = event.completion
    assert done is not None
    return chunks, done


# -- openai ---------------------------------------------------------------------------------------
def test_openai_stream_sends_include_usage_and_reports_final_usage(openai_env: FakeProvider) -> None:
    openai_env.script.append((200, openai_chat("The refund is on its way."), {}, 0.0))
    chunks, done = collect(stream(OPENAI, ASK, pricing=PRICE, model="triage", version=1))
    body = openai_env.requests[-1]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert len(chunks) > 1 and "".join(chunks) == done.text == "The refund is on its way."
    assert (done.input_tokens, done.output_tokens, done.finish_reason) == (12, 3, "stop")
    assert done.cost_usd == pytest.approx((12 * 2.5 + 3 * 10) / 1e6) and done.request_id == "req_1"


def test_openai_tool_calls_structured_plain_streamed_and_async(openai_env: FakeProvider) -> None:
    answer = openai_tool_call("get_weather", {"city": "Paris"}, call_id="call_9")
    expected = (ToolCall("call_9", "get_weather", {"city": "Paris"}),)
    openai_env.script.extend([(200, answer, {}, 0.0)] * 4)
    plain = complete(OPENAI, ASK)
    _, streamed = collect(stream(OPENAI, ASK))
    asynced = asyncio.run(acomplete(OPENAI, ASK))
    _, astreamed = asyncio.run(acollect(OPENAI, ASK))
    for out in (plain, streamed, asynced, astreamed):
        assert out.tool_calls == expected and out.finish_reason == "tool_call" and out.text == ""
    assert openai_env.requests[0]["body"]["tools"] == [WEATHER]


def test_openai_tool_results_are_sent_back_natively(openai_env: FakeProvider) -> None:
    history = [*ASK, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_9", "name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": {"temp_c": 18}}]
    assert complete(OPENAI, history).text == "billing"
    sent = openai_env.requests[-1]["body"]["messages"]
    assert sent[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert sent[3] == {"role": "tool", "tool_call_id": "call_9", "content": '{"temp_c": 18}'}


def test_openai_async_complete_and_errors(openai_env: FakeProvider) -> None:
    openai_env.script.append((429, error_body("rate_limit_exceeded", "slow"), {"retry-after": "0"}, 0.0))
    out = asyncio.run(acomplete(OPENAI, ASK, pricing=PRICE, model="triage", version=2))
    assert (out.text, out.input_tokens, len(openai_env.requests)) == ("billing", 12, 2)
    openai_env.script.append((400, error_body("invalid_request_error", "bad"), {}, 0.0))
    with pytest.raises(PermanentProviderError, match="triage@2"):
        asyncio.run(acollect(OPENAI, ASK, model="triage", version=2))


def test_tool_names_resolve_from_the_tools_file(openai_env: FakeProvider, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "tools.yaml"
    tools.write_text("lookup_order:\n  description: Find an order\n  parameters:\n    type: object\n"
                     "    properties: {order_id: {type: string}}\n    required: [order_id]\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"tools_file: {tools}\nprovider_max_attempts: 2\nretry_base_seconds: 0.01\n")
    monkeypatch.setenv("MODELCTL_CONFIG", str(cfg))
    base.reset_clients()
    complete(OPENAI.model_copy(update={"tools": ["lookup_order", "unknown_tool"]}), ASK)
    sent = openai_env.requests[-1]["body"]["tools"]
    assert sent[0]["function"]["parameters"]["required"] == ["order_id"]
    assert sent[0]["function"]["description"] == "Find an order"
    assert sent[1]["function"]["name"] == "unknown_tool"


# -- anthropic ------------------------------------------------------------------------------------
def test_anthropic_stream_and_async(anthropic_env: FakeProvider) -> None:
    anthropic_env.script.extend([(200, anthropic_message("A short summary."), {}, 0.0)] * 2)
    chunks, done = collect(stream(ANTHROPIC, ASK, pricing=PRICE))
    assert len(chunks) > 1 and "".join(chunks) == done.text == "A short summary."
    assert (done.input_tokens, done.output_tokens, done.finish_reason) == (20, 5, "end_turn")
    assert anthropic_env.requests[-1]["body"]["stream"] is True and done.request_id == "req_1"
    out = asyncio.run(acomplete(ANTHROPIC, ASK, pricing=PRICE))
    assert out.text == "A short summary." and out.cost_usd == pytest.approx((20 * 2.5 + 5 * 10) / 1e6)


def test_anthropic_tool_use_everywhere(anthropic_env: FakeProvider) -> None:
    answer = anthropic_tool_use("get_weather", {"city": "Paris"}, call_id="toolu_7")
    anthropic_env.script.extend([(200, answer, {}, 0.0)] * 4)
    expected = (ToolCall("toolu_7", "get_weather", {"city": "Paris"}),)
    outs = [complete(ANTHROPIC, ASK), collect(stream(ANTHROPIC, ASK))[1], asyncio.run(acomplete(ANTHROPIC, ASK)),
            asyncio.run(acollect(ANTHROPIC, ASK))[1]]
    for out in outs:
        assert out.tool_calls == expected and out.finish_reason == "tool_call" and out.text == "Let me check."
    tool = anthropic_env.requests[0]["body"]["tools"][0]
    assert tool["name"] == "get_weather" and tool["input_schema"]["properties"] == {"city": {"type": "string"}}


def test_anthropic_tool_results_become_tool_result_blocks(anthropic_env: FakeProvider) -> None:
    history = [*ASK, {"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"id": "toolu_7", "name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "tool_call_id": "toolu_7", "content": "18 C"}]
    complete(ANTHROPIC, history)
    sent = anthropic_env.requests[-1]["body"]["messages"]
    assert sent[1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "toolu_7", "name": "get_weather", "input": {"city": "Paris"}}]}
    assert sent[2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_7",
                                                    "content": "18 C"}]}


# -- bedrock (a wire-format server speaking JSON and AWS event streams) ------------------------------
@pytest.fixture
def bedrock_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    server = FakeProvider(bedrock_converse(), request_id_header="x-amzn-requestid", sse=bedrock_eventstream)
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=server.url)
    monkeypatch.setitem(base._clients, "bedrock", client)
    yield server
    server.close()


def test_bedrock_converse_stream_text_and_usage(bedrock_env: FakeProvider) -> None:
    bedrock_env.script.append((200, bedrock_converse("It is sunny in Paris."), {}, 0.0))
    chunks, done = collect(stream(BEDROCK, ASK, pricing=PRICE))
    assert bedrock_env.requests[-1]["path"].endswith("/converse-stream")
    assert len(chunks) > 1 and "".join(chunks) == done.text == "It is sunny in Paris."
    assert (done.input_tokens, done.output_tokens, done.finish_reason) == (11, 3, "end_turn")
    assert done.cost_usd == pytest.approx((11 * 2.5 + 3 * 10) / 1e6)


def test_bedrock_tool_use_plain_streamed_async(bedrock_env: FakeProvider) -> None:
    answer = bedrock_converse("", tools=[("tu_1", "get_weather", {"city": "Paris"})])
    bedrock_env.script.extend([(200, answer, {}, 0.0)] * 4)
    expected = (ToolCall("tu_1", "get_weather", {"city": "Paris"}),)
    outs = [complete(BEDROCK, ASK), collect(stream(BEDROCK, ASK))[1], asyncio.run(acomplete(BEDROCK, ASK)),
            asyncio.run(acollect(BEDROCK, ASK))[1]]
    for out in outs:
        assert out.tool_calls == expected and out.finish_reason == "tool_call"
    spec = bedrock_env.requests[0]["body"]["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["name"] == "get_weather" and spec["inputSchema"]["json"]["properties"]["city"] == {"type": "string"}


def test_bedrock_tool_results_are_sent_back(bedrock_env: FakeProvider) -> None:
    history = [*ASK, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "tu_1", "name": "get_weather", "arguments": {"city": "Paris"}}]},
        {"role": "tool", "tool_call_id": "tu_1", "content": {"temp_c": 18}}]
    complete(BEDROCK, history)
    sent = bedrock_env.requests[-1]["body"]["messages"]
    assert sent[1]["content"] == [{"toolUse": {"toolUseId": "tu_1", "name": "get_weather",
                                               "input": {"city": "Paris"}}}]
    assert sent[2] == {"role": "user", "content": [{"toolResult": {"toolUseId": "tu_1",
                                                                   "content": [{"json": {"temp_c": 18}}]}}]}


# -- local ----------------------------------------------------------------------------------------
def test_local_stream_chunks_join_to_the_completion() -> None:
    text = "First sentence here.  Second one follows.\nThird is dropped."
    chunks, done = collect(stream(LOCAL, [{"role": "user", "content": text}]))
    assert len(chunks) > 2 and "".join(chunks) == done.text == complete(LOCAL, [{"role": "user", "content": text}]).text
    achunks, adone = asyncio.run(acollect(LOCAL, [{"role": "user", "content": text}]))
    assert achunks == chunks and adone.output_tokens == done.output_tokens


def test_arguments_that_are_not_json_are_kept_raw() -> None:
    assert base.parse_arguments('{"a": 1}') == {"a": 1}
    assert base.parse_arguments("{oops") == {"_raw": "{oops"}
    assert base.finish_reason("tool_use") == base.finish_reason("tool_calls") == "tool_call"
    assert json.loads(json.dumps(ToolCall("i", "n", {"x": [1]}).to_dict())) == {"id": "i", "name": "n",
                                                                                  "arguments": {"x": [1]}}
