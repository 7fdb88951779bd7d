"""Decisions, SRM, the CLI contract, and a canary advance/abort round trip on a real file registry."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.entities import utcnow
from registry.service import open_registry
from tasks.ab import apply_decision, run_analysis
from tasks.ab.analysis import analyze
from tasks.ab.data import load_arms

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "ab"))
from generate import generate, write  # noqa: E402


def table(tmp_path: Path, name: str, **kw) -> str:
    path = tmp_path / name
    write(generate(**kw), str(path))
    return str(path)


def test_ship_continue_rollback_invalid(tmp_path: Path) -> None:
    guard = {"latency_ms": 0.05, "error_rate": 0.0}
    ship = analyze(load_arms(table(tmp_path, "a.parquet", users=8000, split=0.5, lift=0.05)), planned_split=0.5,
                   guardrails=guard)
    assert ship.decision == "ship" and ship.metric("quality_score").significant
    flat = analyze(load_arms(table(tmp_path, "b.csv", users=600, split=0.5, lift=0.0, seed=2)), planned_split=0.5,
                   guardrails=guard)
    assert flat.decision == "continue" and "more users" in flat.reasons[-1]
    slow = analyze(load_arms(table(tmp_path, "c.jsonl", users=6000, split=0.5, latency_lift=0.4, seed=3)),
                   planned_split=0.5, guardrails=guard)
    assert slow.decision == "rollback" and any("guardrail latency_ms" in r and "beyond" in r for r in slow.reasons)
    srm = analyze(load_arms(table(tmp_path, "d.parquet", users=4000, split=0.5, lift=0.05, seed=4)), planned_split=0.1,
                  guardrails=guard)
    assert srm.decision == "invalid" and not srm.srm["ok"] and srm.srm["p_value"] < 0.001


def test_negligible_significant_lift_is_not_a_ship(tmp_path: Path) -> None:
    result = analyze(load_arms(table(tmp_path, "e.parquet", users=40000, split=0.5, lift=0.015, seed=6)),
                     planned_split=0.5, min_effect=0.05)
    assert result.metric("quality_score").significant and result.decision == "continue"
    assert any("below the minimum practical effect" in r for r in result.reasons)


def test_cli_json_contract_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = table(tmp_path, "log.csv", users=3000, split=0.2, lift=0.06, seed=5)
    with pytest.raises(SystemExit) as exc:
        main(["--registry", str(tmp_path / "none"), "ab", "analyze", "summarizer-exp-1", "--logs", path,
              "--planned-split", "0.2", "--guardrail", "latency_ms:0.05", "--guardrail", "error_rate:0", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 0 and out["decision"] == "ship"
    assert set(out) >= {"decision", "reasons", "srm", "metrics"} and set(out["srm"]) >= {"p_value", "ok"}
    m = out["metrics"][0]
    assert set(m) >= {"metric", "unit", "control", "treatment", "abs_diff", "abs_ci", "rel_diff", "rel_ci", "p_value",
                      "p_value_adjusted", "significant", "test"}
    assert set(m["control"]) >= {"n", "mean"} and m["unit"] in ("user", "request")
    with pytest.raises(SystemExit) as exc:
        main(["ab", "analyze", "summarizer-exp-1", "--logs", path, "--planned-split", "0.5", "--registry", str(tmp_path / "none")])
    assert exc.value.code == 4  # 20% observed against 50% planned: SRM
    with pytest.raises(SystemExit) as exc:
        main(["ab", "analyze", "x", "--logs", path, "--planned-split", "0.2", "--guardrail", "speed:1",
              "--registry", str(tmp_path / "none")])
    assert exc.value.code == 2


@pytest.fixture
def registry(tmp_path: Path) -> str:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    for t in (0.1, 0.2):
        v, _ = reg.register("summarizer", {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929",
                                           "temperature": t})
        reg.record_eval("summarizer", v.number, suite="s", passed=True)
    reg.promote("summarizer", 1, "production", reason="base")
    return uri


def test_canary_advances_then_aborts(registry: str, tmp_path: Path) -> None:
    reg = open_registry(registry)
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.0, kind="canary", steps=[10, 50, 100],
                               step_min_samples=100, guardrails={"latency_ms": 0.10, "error_rate": 0.0},
                               primary_metric="error_rate")
    assert exp.split == 0.1
    soon = (utcnow() + timedelta(minutes=1)).isoformat()
    good = table(tmp_path, "good.parquet", users=4000, split=0.1, seed=8, experiment_id=exp.id, start=soon, days=0.01)
    done = apply_decision(reg, exp.id, run_analysis(reg, exp.id, logs=good), apply=True).done
    _, exp = reg.find_experiment(exp.id)
    assert exp.split == 0.5 and exp.step_index == 1 and any("advance" in d for d in done)
    soon = (utcnow() + timedelta(minutes=1)).isoformat()
    bad = table(tmp_path, "bad.parquet", users=4000, split=0.5, latency_lift=0.5, seed=9, experiment_id=exp.id,
                start=soon, days=0.01)
    apply_decision(reg, exp.id, run_analysis(reg, exp.id, logs=bad), apply=True)
    _, exp = reg.find_experiment(exp.id)
    assert exp.split == 0.0 and exp.status == "rolled_back" and len(exp.analyses) == 2
    assert reg.get_model("summarizer").env_version("production") == 1
    assert [e.action for e in reg.history("summarizer")][-2:] == ["experiment_analysis", "experiment_stop"]


def test_experiment_cli_round_trip(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "experiment", "start", "summarizer", "--control", "summarizer@production",
              "--treatment", "summarizer@2", "--split", "0.1", "--guardrail", "latency_ms:0.05", "--json"])
    assert exc.value.code == 0
    exp = json.loads(capsys.readouterr().out)
    assert exp["control"] == 1 and exp["treatment"] == 2 and exp["guardrails"] == {"latency_ms": 0.05}
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "experiment", "start", "summarizer", "--control", "summarizer@1",
              "--treatment", "summarizer@2", "--split", "0.1"])
    assert exc.value.code == 1  # one running experiment per model
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "experiment", "stop", exp["id"], "--reason", "done"])
    assert exc.value.code == 0


def test_parquet_fast_path_equals_the_generic_path(tmp_path: Path) -> None:
    frame = generate(users=2000, split=0.3, lift=0.02, seed=21)
    write(frame, str(tmp_path / "x.parquet"))
    write(frame, str(tmp_path / "x.csv"))
    fast, generic = load_arms(str(tmp_path / "x.parquet")), load_arms(str(tmp_path / "x.csv"))
    a = analyze(fast, planned_split=0.3, guardrails={"latency_ms": 0.05})
    b = analyze(generic, planned_split=0.3, guardrails={"latency_ms": 0.05})
    for m, n in zip(a.metrics, b.metrics, strict=True):
        assert m.control == pytest.approx(n.control) and m.treatment == pytest.approx(n.treatment)
        assert (m.p_value is None and n.p_value is None) or m.p_value == pytest.approx(n.p_value, rel=1e-9)
    assert a.metric("tokens").p_value is None  # no token columns in this table: nothing to test
    assert a.decision == b.decision and a.users == b.users


def test_users_in_both_arms_make_the_result_invalid(tmp_path: Path) -> None:
    frame = generate(users=1000, split=0.5, seed=22)
    frame.loc[frame.index[:40], "variant"] = "treatment"
    frame.loc[frame.index[40:80], "variant"] = "control"
    write(frame, str(tmp_path / "mixed.parquet"))
    result = analyze(load_arms(str(tmp_path / "mixed.parquet")), planned_split=0.5)
    assert result.decision == "invalid" and any("both arms" in r for r in result.reasons)


def test_sequential_mode_labels_its_p_values_and_keeps_the_running_minimum(tmp_path: Path) -> None:
    arms = load_arms(table(tmp_path, "seq.parquet", users=6000, split=0.5, lift=0.05, seed=31))
    first = analyze(arms, planned_split=0.5, sequential=True)
    m = first.metric("quality_score")
    assert first.mode == "sequential" and m.test.startswith("mSPRT always-valid") and m.mode == "sequential"
    fixed = analyze(arms, planned_split=0.5).metric("quality_score")
    assert m.p_value >= fixed.p_value  # always-valid p-values are more conservative
    later = analyze(arms, planned_split=0.5, sequential=True, prior_sequential={"quality_score": {"p": 1e-30}})
    assert later.metric("quality_score").p_value == 1e-30  # the running minimum over looks
