"""The gateway: resolve -> call -> log, with the version that served each request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest

from modelctl.cli import main
from registry.errors import InvalidInput
from registry.service import open_registry
from tasks.gateway import AsyncGateway, Gateway
from tasks.providers import PermanentProviderError
from tasks.request_log import RequestLogWriter, hash_user, load_requests
from tests.tasks.providers.fakes import FakeProvider, error_body, openai_chat, openai_tool_call


@pytest.fixture
def registry(tmp_path: Path) -> str:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    for temperature in (0.0, 0.5):
        v, _ = reg.register("triage", {"provider": "openai", "model_id": "gpt-4o-2024-08-06",
                                       "system_prompt": "Classify.", "temperature": temperature, "max_tokens": 5,
                                       "pricing": {"input_per_1m": 2.5, "output_per_1m": 10}})
        reg.record_eval("triage", v.number, suite="s", passed=True)
    reg.promote("triage", 1, "production", reason="base")
    reg.set_model_fields("triage", capture_content=True)
    return uri


def test_complete_logs_the_serving_version(registry: str, tmp_path: Path, openai_env: FakeProvider) -> None:
    logs = str(tmp_path / "logs")
    gw = Gateway(registry, writer=RequestLogWriter(logs, flush_interval=60))
    resp = gw.complete("triage", [{"role": "user", "content": "refund me, mail me at bob@example.com"}], user_id="u-1")
    assert (resp.text, resp.version, resp.arm) == ("billing", 1, None)
    assert openai_env.requests[-1]["body"]["temperature"] == 0.0
    gw.feedback(resp.request_id, thumbs_up=True, quality_score=0.9, label="billing", verified_by="agent-7")
    gw.close()
    row = load_requests(logs).iloc[0]
    assert (row["request_id"], row["version"], row["digest"], row["model_id"]) == \
        (resp.request_id, 1, resp.digest, "gpt-4o-2024-08-06")
    assert row["user_id"] == hash_user("u-1") and row["error"] == 0 and row["label"] == "billing"
    assert row["cost_usd"] == pytest.approx(resp.cost_usd) and "[REDACTED]" in row["input_text"]
    assert "bob@example.com" not in row["input_text"] and row["output_text"] == "billing"


def test_experiment_arms_are_logged(registry: str, tmp_path: Path, openai_env: FakeProvider) -> None:
    exp = open_registry(registry).start_experiment("triage", control=1, treatment=2, split=0.5)
    logs = str(tmp_path / "logs")
    gw = Gateway(registry, writer=RequestLogWriter(logs, flush_interval=60))
    sent = {}
    for i in range(40):
        resp = gw.complete("triage", [{"role": "user", "content": "hi"}], user_id=f"user-{i}")
        sent[resp.request_id] = (resp.arm, openai_env.requests[-1]["body"]["temperature"])
    gw.close()
    frame = load_requests(logs, experiment_id=exp.id)
    assert len(frame) == 40 and set(frame["variant"]) == {"control", "treatment"}
    for _, row in frame.iterrows():
        arm, temperature = sent[row["request_id"]]
        assert row["variant"] == arm and temperature == (0.5 if arm == "treatment" else 0.0)
        assert row["version"] == (2 if arm == "treatment" else 1)


def test_provider_errors_are_logged_and_raised(registry: str, tmp_path: Path, openai_env: FakeProvider) -> None:
    openai_env.script.append((400, error_body("invalid_request_error", "bad"), {}, 0.0))
    logs = str(tmp_path / "logs")
    gw = Gateway(registry, writer=RequestLogWriter(logs, flush_interval=60))
    with pytest.raises(PermanentProviderError, match="triage@1"):
        gw.complete("triage", [{"role": "user", "content": "hi"}])
    gw.close()
    row = load_requests(logs).iloc[0]
    assert row["error"] == 1 and row["error_type"] == "PermanentProviderError"


def test_cli_complete_json(registry: str, tmp_path: Path, openai_env: FakeProvider, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MODELCTL_LOG", str(tmp_path / "cli-logs"))
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "complete", "triage", "--input", "charged twice", "--user-id", "u-9", "--json"])
    assert exc.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert {"text", "request_id", "model", "version", "digest", "arm", "input_tokens", "output_tokens",
            "latency_ms", "cost_usd"} <= set(out)
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "feedback", out["request_id"], "--thumbs-down", "--score", "0.1"])
    assert exc.value.code == 0
    row = load_requests(str(tmp_path / "cli-logs")).iloc[0]
    assert row["request_id"] == out["request_id"] and row["quality_score"] == 0.1 and not row["thumbs_up"]
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "feedback", out["request_id"], "--score", "7"])
    assert exc.value.code == 2


# -- streaming, async, tool calls, templates ------------------------------------------------------
def _register(uri: str, name: str, **config: object) -> None:
    reg = open_registry(uri, actor="test")
    v, _ = reg.register(name, {"provider": "openai", "model_id": "gpt-4o-2024-08-06",
                               "pricing": {"input_per_1m": 2.5, "output_per_1m": 10}, **config})
    reg.record_eval(name, v.number, suite="s", passed=True)
    reg.promote(name, v.number, "production", reason="test")


def test_stream_logs_one_record_with_usage_and_time_to_first_token(registry: str, tmp_path: Path,
                                                                   openai_env: FakeProvider) -> None:
    openai_env.script.append((200, openai_chat("Your refund is on its way."), {}, 0.0))
    logs = str(tmp_path / "logs")
    gw = Gateway(registry, writer=RequestLogWriter(logs, flush_interval=60))
    with gw.stream("triage", [{"role": "user", "content": "refund?"}], user_id="u-1") as chunks:
        pieces = list(chunks)
    resp = chunks.response
    gw.close()
    assert resp is not None and "".join(pieces) == resp.text == "Your refund is on its way." and len(pieces) > 1
    assert resp.ttft_ms is not None and 0 < resp.ttft_ms <= resp.latency_ms
    frame = load_requests(logs)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert (row["request_id"], row["input_tokens"], row["output_tokens"], row["version"]) == \
        (resp.request_id, 12, 3, 1)
    assert row["ttft_ms"] == pytest.approx(resp.ttft_ms, abs=1e-3) and row["cost_usd"] == pytest.approx(resp.cost_usd)
    assert pd.isna(row["abandoned"]) and row["output_text"] == resp.text


def test_abandoned_stream_is_logged_as_such_and_the_connection_closed(registry: str, tmp_path: Path,
                                                                      openai_env: FakeProvider) -> None:
    openai_env.script.append((200, openai_chat("one two three four five six seven eight nine ten " * 5), {}, 0.0))
    openai_env.chunk_delay = 0.05
    logs = str(tmp_path / "logs")
    gw = Gateway(registry, writer=RequestLogWriter(logs, flush_interval=60))
    with gw.stream("triage", [{"role": "user", "content": "long answer please"}]) as chunks:
        first = next(chunks)
    assert first and chunks.response is None
    gw.close()
    row = load_requests(logs).iloc[0]
    assert row["abandoned"] == 1 and row["error"] == 0 and row["ttft_ms"] > 0
    assert row["output_text"].startswith(first)


def test_async_gateway_complete_and_stream(registry: str, tmp_path: Path, openai_env: FakeProvider) -> None:
    logs = str(tmp_path / "logs")
    agw = AsyncGateway(registry, writer=RequestLogWriter(logs, flush_interval=60))

    async def main() -> tuple[list, list[str], object]:
        answers = await asyncio.gather(*(agw.complete("triage", [{"role": "user", "content": f"q{i}"}],
                                                      user_id=f"u{i}") for i in range(5)))
        async with agw.stream("triage", [{"role": "user", "content": "stream"}]) as chunks:
            pieces = [p async for p in chunks]
        await agw.aclose()
        return answers, pieces, chunks.response

    answers, pieces, streamed = asyncio.run(main())
    assert [a.text for a in answers] == ["billing"] * 5 and "".join(pieces) == "billing"
    frame = load_requests(logs)
    assert len(frame) == 6 and set(frame["request_id"]) == {a.request_id for a in answers} | {streamed.request_id}
    assert frame["ttft_ms"].notna().sum() == 1


def test_tool_calls_come_back_structured_and_are_logged(registry: str, tmp_path: Path,
                                                        openai_env: FakeProvider) -> None:
    _register(registry, "agent", tools=["lookup_order"])
    openai_env.script.append((200, openai_tool_call("lookup_order", {"order_id": "A-1"}), {}, 0.0))
    openai_env.script.append((200, openai_tool_call("lookup_order", {"order_id": "A-2"}, call_id="call_2"), {}, 0.0))
    logs = str(tmp_path / "logs")
    gw = Gateway(registry, writer=RequestLogWriter(logs, flush_interval=60))
    ask = [{"role": "user", "content": "where is A-1?"}]
    resp = gw.complete("agent", ask)
    assert resp.finish_reason == "tool_call"
    assert resp.tool_calls == [{"id": "call_1", "name": "lookup_order", "arguments": {"order_id": "A-1"}}]
    streamed = gw.stream("agent", ask).collect()
    assert streamed.tool_calls[0]["arguments"] == {"order_id": "A-2"}
    follow = [*ask, resp.message(), {"role": "tool", "tool_call_id": "call_1", "content": "shipped"}]
    assert gw.complete("agent", follow).text == "billing"
    assert openai_env.requests[-1]["body"]["messages"][-1] == {"role": "tool", "tool_call_id": "call_1",
                                                              "content": "shipped"}
    gw.close()
    frame = load_requests(logs).sort_values("timestamp")
    assert list(frame["tool_names"].fillna("")) == ["lookup_order", "lookup_order", ""]


def test_templates_are_rendered_per_request(registry: str, tmp_path: Path, openai_env: FakeProvider) -> None:
    _register(registry, "support", system_prompt="You help {{ customer_name }} ({{ plan | upper }}).",
              prompt_template="Order {{ order_id }}: {{ question }}")
    gw = Gateway(registry, writer=RequestLogWriter(str(tmp_path / "logs"), flush_interval=60))
    res = gw.resolve("support")
    assert res.variables == ("customer_name", "order_id", "plan", "question")
    assert res.to_dict()["config"]["prompt_template"] == "Order {{ order_id }}: {{ question }}"
    gw.complete("support", variables={"customer_name": "Ada", "plan": "pro", "order_id": "A-1",
                                      "question": "where is it?"})
    assert openai_env.requests[-1]["body"]["messages"] == [
        {"role": "system", "content": "You help Ada (PRO)."}, {"role": "user", "content": "Order A-1: where is it?"}]
    with pytest.raises(InvalidInput, match="prompt_template.*'order_id' is undefined.*expects order_id, question"):
        gw.complete("support", variables={"customer_name": "Ada", "plan": "pro", "question": "?"})
    gw.close()


def test_cli_resolve_lists_template_variables(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    _register(registry, "support", system_prompt="Hi {{ name }}")
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "resolve", "support", "--json"])
    assert exc.value.code == 0
    assert json.loads(capsys.readouterr().out)["variables"] == ["name"]


def test_cli_complete_streams_with_template_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    reg.register("echo", {"provider": "local", "model_id": "lead-3-v1", "params": {"sentences": 2},
                          "prompt_template": "Customer {{ name }} writes. {{ text }}"})
    reg.record_eval("echo", 1, suite="s", passed=True)
    reg.promote("echo", 1, "production", reason="test")
    monkeypatch.setenv("MODELCTL_LOG", str(tmp_path / "logs"))
    with pytest.raises(SystemExit) as exc:
        main(["--registry", uri, "complete", "echo", "--var", "name=Ada", "--var", "text=It broke. Help!",
              "--stream"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == "Customer Ada writes. It broke.\n"
    row = load_requests(str(tmp_path / "logs")).iloc[0]
    assert row["ttft_ms"] > 0 and row["output_tokens"] > 0
    with pytest.raises(SystemExit) as exc:
        main(["--registry", uri, "complete", "echo", "--var", "name=Ada"])
    assert exc.value.code == 2 and "'text' is undefined" in capsys.readouterr().err


def test_a_stream_that_fails_is_logged_once_as_an_error(registry: str, tmp_path: Path,
                                                        openai_env: FakeProvider) -> None:
    openai_env.script.append((400, error_body("invalid_request_error", "bad"), {}, 0.0))
    logs = str(tmp_path / "logs")
    gw = Gateway(registry, writer=RequestLogWriter(logs, flush_interval=60))
    chunks = gw.stream("triage", [{"role": "user", "content": "hi"}])
    with pytest.raises(PermanentProviderError, match="triage@1"), chunks:
        list(chunks)
    gw.close()
    frame = load_requests(logs)
    assert len(frame) == 1 and frame.iloc[0]["error"] == 1 and pd.isna(frame.iloc[0]["abandoned"])
