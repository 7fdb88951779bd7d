"""The gateway: resolve -> call -> log, with the version that served each request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.service import open_registry
from tasks.gateway import Gateway
from tasks.providers import PermanentProviderError
from tasks.request_log import RequestLogWriter, hash_user, load_requests
from tests.tasks.providers.fakes import FakeProvider, error_body


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
