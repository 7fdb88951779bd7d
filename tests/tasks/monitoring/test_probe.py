"""Drift probes end to end: the real openai SDK against a loopback provider, the registry, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.errors import InvalidInput
from registry.service import Registry, open_registry
from tasks.monitoring.probe_run import reference_key, result_key, run_probe
from tasks.monitoring.simulate import probe_inputs, switched_inputs
from tasks.providers.base import reset_clients
from tests.conftest import free_port
from tests.tasks.monitoring.loopback import MODEL_ID, LoopbackProvider

INPUTS = 12  # the 200-run calibration uses 20 inputs in process (test_probe_stats.py)


@pytest.fixture(scope="module")
def provider() -> Iterator[LoopbackProvider]:
    server = LoopbackProvider()
    yield server
    server.close()


@pytest.fixture
def setup(tmp_path: Path, provider: LoopbackProvider, monkeypatch: pytest.MonkeyPatch) -> tuple[Registry, str]:
    monkeypatch.setenv("OPENAI_BASE_URL", provider.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    reg = open_registry(str(tmp_path / "reg"), actor="test")
    reg.init()
    reg.register("summarizer", {"provider": "openai", "model_id": MODEL_ID, "temperature": 0.7,
                                "pricing": {"input_per_1m": 2.5, "output_per_1m": 10.0}})
    reg.record_eval("summarizer", 1, suite="smoke", passed=True)
    reg.promote("summarizer", 1, "production", reason="baseline")
    inputs = tmp_path / "probe.jsonl"
    inputs.write_text("".join(json.dumps({"input": t}) + "\n" for t in probe_inputs(INPUTS)))
    return reg, str(inputs)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def test_reference_then_stable_then_each_kind_of_drift(setup: tuple[Registry, str], provider: LoopbackProvider) -> None:
    reg, inputs = setup
    plans = []
    provider.configure("same", seed=1)
    first = run_probe(reg, "summarizer", inputs_file=inputs, on_plan=plans.append)
    digest = reg.get_version("summarizer", 1).digest
    assert first.status == "reference-recorded" and reg.read_aux(reference_key("summarizer", digest))
    assert plans[0].calls == INPUTS * 5 and plans[0].estimated_cost_usd > 0
    reference = json.loads(reg.read_aux(reference_key("summarizer", digest)) or b"{}")
    assert reference["model_ids"] == [MODEL_ID] and reference["fingerprints"] == ["fp_44709d6fcb"]
    assert len(reference["inputs"]) == INPUTS and all(len(i["outputs"]) == 5 for i in reference["inputs"])

    provider.configure("same", seed=2)
    assert run_probe(reg, "summarizer").status == "stable"

    provider.configure("switch", seed=3, switched=switched_inputs(probe_inputs(INPUTS), 0.3, seed=3))
    switched = run_probe(reg, "summarizer")
    assert switched.status == "drift" and not switched.result.identity["changed"]  # type: ignore[union-attr]
    saved = json.loads(reg.read_aux(result_key("summarizer", digest)) or b"{}")
    assert saved["status"] == "drift" and saved["reasons"]

    provider.configure("length", seed=4)
    longer = run_probe(reg, "summarizer")
    assert longer.status == "drift" and longer.result.length["relative_change"] > 0.1  # type: ignore[union-attr]

    provider.configure("fingerprint", seed=5)
    snapshot = run_probe(reg, "summarizer")
    assert snapshot.status == "drift" and snapshot.result.identity["new_fingerprints"] == ["fp_new_snapshot"]  # type: ignore[union-attr]
    assert "conclusive" in snapshot.result.reasons[0]  # type: ignore[union-attr]


def test_budget_limits_the_calls(setup: tuple[Registry, str], provider: LoopbackProvider) -> None:
    reg, inputs = setup
    provider.configure("same", seed=1)
    with pytest.raises(InvalidInput, match="budget"):
        run_probe(reg, "summarizer", inputs_file=inputs, budget_usd=0.0001)
    run_probe(reg, "summarizer", inputs_file=inputs)
    before = provider.calls
    plans = []
    outcome = run_probe(reg, "summarizer", budget_usd=3 * plans_per_input_cost(reg), on_plan=plans.append)
    assert outcome.status == "insufficient" and plans[0].affordable_inputs < 5, outcome.result.reasons  # type: ignore[union-attr]
    result = outcome.result
    assert result is not None and provider.calls - before == result.calls < plans[0].calls
    assert result.cost_usd <= plans[0].budget_usd  # type: ignore[operator]  # it stops before the budget is exceeded


def plans_per_input_cost(reg: Registry) -> float:
    """What sampling one input five times is estimated to cost (from a plan computed without calls)."""
    from tasks.monitoring.probe_run import per_call_usd

    version = reg.get_version("summarizer", 1)
    digest = version.digest
    reference = json.loads(reg.read_aux(reference_key("summarizer", digest)) or b"{}")
    inputs = [i["input"] for i in reference["inputs"]]
    return 5 * per_call_usd(version.config, version.pricing, inputs, reference)


def test_cli_exit_codes_and_the_plan_first(setup: tuple[Registry, str], provider: LoopbackProvider,
                                           capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    reg, inputs = setup
    provider.configure("same", seed=11)
    code, out, _ = cli(capsys, "--registry", reg.uri, "probe", "summarizer", "--inputs", inputs)
    assert code == 0 and out.startswith(f"probe plan: {INPUTS} inputs x 5 samples = {INPUTS * 5} calls, estimated cost $")
    provider.configure("same", seed=12)
    code, out, err = cli(capsys, "--registry", reg.uri, "probe", "summarizer", "--json")
    assert code == 0 and err.startswith("probe plan:") and json.loads(out)["status"] == "stable"
    provider.configure("length", seed=13)
    code, out, _ = cli(capsys, "--registry", reg.uri, "probe", "summarizer", "--json")
    assert code == 1 and json.loads(out)["status"] == "drift"
    code, _, err = cli(capsys, "--registry", reg.uri, "probe", "summarizer", "--samples", "1")
    assert code == 2 and "samples" in err
    code, _, err = cli(capsys, "--registry", reg.uri, "probe", "nobody")
    assert code == 2
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    reset_clients()
    code, _, err = cli(capsys, "--registry", reg.uri, "probe", "summarizer")
    assert code == 5 and "after 3 attempts" in err, err
