"""Verdicts that must never be a wrong "go": heavy tails, canaries with returning users, no traffic,
half-applied decisions, CI/p agreement, CUPED and the Bayesian readout."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sp

from modelctl.cli import main
from registry.errors import InvalidInput, PolicyViolation
from registry.routing import assign_arm
from registry.service import open_registry
from tasks import stats
from tasks.ab import apply_decision, run_analysis
from tasks.ab.analysis import analyze
from tasks.ab.data import empty_arm, load_arms

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples" / "ab"))
from generate import generate, write  # noqa: E402

TEXT = "The first sentence. The second one. A third here. And a fourth that lead-3 drops."


def table(tmp_path: Path, name: str, **kw) -> str:
    path = tmp_path / name
    write(generate(**kw), str(path))
    return str(path)


# -- heavy tails ------------------------------------------------------------------------------------
def test_a_7x_latency_regression_with_a_slow_control_outlier_is_a_breach(tmp_path: Path) -> None:
    path = table(tmp_path, "slow.csv", users=3000, split=0.3, latency_lift=6.0, seed=41, slow_outlier_ms=3.0e7)
    result = analyze(load_arms(path), planned_split=0.3, guardrails={"latency_ms": 0.10, "error_rate": 0.0})
    lat = result.metric("latency_ms")
    assert lat.estimator == "log" and lat.rel_diff > 5 and lat.rel_ci[0] > 4  # ~ +600%, a tight interval
    assert result.guardrails["latency_ms"]["status"] == "breached" and result.decision == "rollback"
    # the raw mean, shown beside, is swamped by the one outlier: it hides the 7x regression entirely
    assert lat.raw["rel_diff"] < 1.0


def test_a_heavy_tailed_primary_is_judged_on_the_log_scale(tmp_path: Path) -> None:
    frame = generate(users=6000, split=0.5, latency_lift=-0.08, seed=42)
    timeouts = np.random.default_rng(1).choice(len(frame), 60, replace=False)
    frame.loc[timeouts, "latency_ms"] = 60_000.0  # timeouts in both arms
    write(frame, str(tmp_path / "t.parquet"))
    result = analyze(load_arms(str(tmp_path / "t.parquet")), planned_split=0.5, primary="latency_ms",
                     min_effect=0.02)
    lat = result.metric("latency_ms")
    assert lat.rel_diff == pytest.approx(-0.08, abs=0.03) and lat.significant
    assert result.decision == "ship" and "log" in lat.test
    raw = analyze(load_arms(str(tmp_path / "t.parquet")), planned_split=0.5, primary="latency_ms", min_effect=0.02,
                  estimators={"latency_ms": "mean"})
    assert raw.decision == "continue"  # what the raw-mean Welch test said before


def test_every_metric_interval_and_p_value_agree(tmp_path: Path) -> None:
    datasets = [dict(users=3000, split=0.5, lift=0.03, seed=51), dict(users=800, split=0.1, seed=52),
                dict(users=4000, split=0.3, latency_lift=0.2, seed=53, slow_outlier_ms=1e6),
                dict(users=2000, split=0.5, lift=0.05, seed=54, pre_days=7)]
    checked = 0
    for i, kw in enumerate(datasets):
        arms = load_arms(table(tmp_path, f"d{i}.parquet", **kw))
        for sequential in (False, True):
            for estimators in ({}, {"latency_ms": "capped", "cost_usd": "mean"}):
                result = analyze(arms, planned_split=kw["split"], sequential=sequential, estimators=estimators,
                                 guardrails={"latency_ms": 0.05})
                for m in result.metrics:
                    if m.p_value is None:
                        continue
                    excludes_zero = m.rel_ci[0] > 0 or m.rel_ci[1] < 0
                    assert excludes_zero == (m.p_value < 0.05), (m.metric, m.estimator, m.p_value, m.rel_ci)
                    checked += 1
    assert checked > 60


def test_log_estimator_matches_scipy_welch_on_per_user_log_means() -> None:
    rng = np.random.default_rng(3)
    arms = {}
    for arm, shift in (("control", 0.0), ("treatment", 0.1)):
        a = empty_arm()
        n = rng.geometric(0.3, 500).astype(float)
        a.users, a.n = np.arange(500), n
        a.latency = n * rng.lognormal(6 + shift, 0.5, 500)
        a.cost = a.errors = a.q_sum = a.q_n = a.t_sum = a.t_n = np.zeros(500)
        arms[arm] = a
    m = analyze(arms, planned_split=0.5).metric("latency_ms")
    ref = sp.ttest_ind(np.log(arms["treatment"].latency / arms["treatment"].n),
                       np.log(arms["control"].latency / arms["control"].n), equal_var=False)
    assert m.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.95)
    assert m.rel_ci == pytest.approx([math.expm1(ci.low), math.expm1(ci.high)], rel=1e-9)


# -- no traffic, inputs ---------------------------------------------------------------------------
def test_no_traffic_yet_is_continue_not_invalid() -> None:
    result = analyze({"control": empty_arm(), "treatment": empty_arm()}, planned_split=0.1,
                     guardrails={"latency_ms": 0.1}, min_samples=500)
    assert result.decision == "continue" and "no traffic yet" in result.reasons[-1]
    assert "500 users per arm" in result.reasons[-1]


def test_an_experiment_id_absent_from_the_table_names_the_ids_present(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = table(tmp_path, "x.csv", users=300, seed=5)
    with pytest.raises(InvalidInput, match="ids present: summarizer-exp-1"):
        load_arms(path, "summarizr-exp-1", require_experiment=True)
    with pytest.raises(SystemExit) as exc:
        main(["--registry", str(tmp_path / "none"), "ab", "analyze", "nope-exp-9", "--logs", path,
              "--planned-split", "0.1"])
    assert exc.value.code == 2 and "summarizer-exp-1" in capsys.readouterr().err


def test_s3_tables_are_read_as_tables(tmp_path: Path, s3_bucket: str) -> None:
    import boto3

    local = table(tmp_path, "t.parquet", users=1500, split=0.5, lift=0.05, seed=61)
    boto3.client("s3").upload_file(local, s3_bucket, "ab/t.parquet")
    a = analyze(load_arms(f"s3://{s3_bucket}/ab/t.parquet", "summarizer-exp-1"), planned_split=0.5)
    b = analyze(load_arms(local, "summarizer-exp-1"), planned_split=0.5)
    assert a.users == b.users and a.users["control"] > 600
    assert a.metric("quality_score").p_value == pytest.approx(b.metric("quality_score").p_value, rel=1e-12)


# -- CUPED and the Bayesian readout ----------------------------------------------------------------
def test_cuped_reduces_variance_with_a_pre_period_and_keeps_the_estimate(tmp_path: Path) -> None:
    arms = load_arms(table(tmp_path, "pre.parquet", users=4000, split=0.5, lift=0.03, seed=71, pre_days=14,
                           mean_requests=15))
    result = analyze(arms, planned_split=0.5)
    with_cuped = result.metric("quality_score")
    without = analyze(arms, planned_split=0.5, cuped=False).metric("quality_score")
    assert with_cuped.cuped is not None and with_cuped.cuped["variance_reduction"] > 0.12
    assert result.metric("latency_ms").cuped["variance_reduction"] > 0.2  # per-user speed persists
    assert "CUPED" in with_cuped.test and without.cuped is None
    assert with_cuped.scale["se"] < without.scale["se"]
    assert with_cuped.rel_diff == pytest.approx(without.rel_diff, abs=0.01)


def test_bayesian_readout_matches_gbstats_truncated_normal_formulas() -> None:
    for mu, sigma in ((0.03, 0.02), (-0.01, 0.05), (0.0, 0.1)):
        out = stats.bayes_readout(mu, sigma)
        ctw = sp.norm.sf(0, mu, sigma)
        a, b = (0 - mu) / sigma, np.inf
        mean_pos = sp.truncnorm.mean(a, b, loc=mu, scale=sigma)
        mean_neg = sp.truncnorm.mean(-np.inf, (0 - mu) / sigma, loc=mu, scale=sigma)
        assert out["chance_to_win"] == pytest.approx(ctw, rel=1e-9)
        assert out["expected_loss_control"] == pytest.approx(ctw * mean_pos, rel=1e-7)
        assert out["expected_loss_treatment"] == pytest.approx(-(1 - ctw) * mean_neg, rel=1e-7)


# -- decide, then apply atomically -----------------------------------------------------------------
def _registry(tmp_path: Path, configs: list[dict], *, passed: tuple[int, ...] = (1, 2)) -> str:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    for config in configs:
        v, _ = reg.register("summarizer", config)
        if v.number in passed:
            reg.record_eval("summarizer", v.number, suite="s", passed=True)
    reg.promote("summarizer", 1, "production", reason="base")
    return uri


def test_a_refused_ship_writes_nothing_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929"}
    uri = _registry(tmp_path, [{**base, "temperature": 0.1}, {**base, "temperature": 0.2}], passed=(1,))
    reg = open_registry(uri, actor="test")
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.5, force=True, reason="try it")
    logs = table(tmp_path, "ship.parquet", users=8000, split=0.5, lift=0.05, seed=12, experiment_id=exp.id)
    analysis = run_analysis(reg, exp.id, logs=logs)
    assert analysis.decision == "ship"
    before = reg.store.read_raw("summarizer")
    with pytest.raises(PolicyViolation, match="cannot go to production"):
        apply_decision(reg, exp.id, analysis, apply=True)
    assert reg.store.read_raw("summarizer") == before  # not even the analysis: all or nothing
    with pytest.raises(SystemExit) as exc:
        main(["--registry", uri, "ab", "analyze", exp.id, "--logs", logs, "--apply"])
    assert exc.value.code == 1 and "refused" in capsys.readouterr().err
    assert reg.store.read_raw("summarizer") == before


def test_promoting_the_treatment_by_hand_completes_the_experiment(tmp_path: Path) -> None:
    base = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929"}
    uri = _registry(tmp_path, [{**base, "temperature": 0.1}, {**base, "temperature": 0.2}])
    reg = open_registry(uri, actor="test")
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.1, kind="canary", steps=[10, 50, 100])
    reg.promote("summarizer", 2, "production", reason="looks good")
    done = reg.get_model("summarizer").experiments[0]
    assert done.id == exp.id and done.status == "shipped" and done.stopped_at is not None
    assert reg.history("summarizer")[-1].action == "experiment_stop" and "looks good" in reg.history("summarizer")[-1].reason


def test_a_canary_at_100_percent_completes_instead_of_failing(tmp_path: Path) -> None:
    base = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929"}
    uri = _registry(tmp_path, [{**base, "temperature": 0.1}, {**base, "temperature": 0.2}])
    reg = open_registry(uri, actor="test")
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.0, kind="canary", steps=[100])
    (tmp_path / "log").mkdir()
    analysis = run_analysis(reg, exp.id, logs=str(tmp_path / "log"))
    assert analysis.decision == "continue" and "100%" in analysis.reasons[0]
    assert apply_decision(reg, exp.id, analysis, apply=True).action == "complete"
    model = reg.get_model("summarizer")
    assert model.env_version("production") == 2 and model.experiments[0].status == "shipped"


# -- canaries on real gateway traffic ----------------------------------------------------------------
def _gateway_registry(tmp_path: Path, treatment_latency: float) -> str:
    local = {"provider": "local", "model_id": "lead-3-v1"}
    return _registry(tmp_path, [{**local, "params": {"simulated_latency_ms": 2}},
                                {**local, "params": {"simulated_latency_ms": treatment_latency, "sentences": 2}}])


def _traffic(uri: str, log: str, users: list[str], stale: set[str] | None = None, old: object = None) -> None:
    from tasks.gateway import Gateway

    gw = Gateway(uri, log)
    gw.snapshot.reload()
    for user in users:
        if stale and user in stale:  # a request at the step boundary, served by the stale snapshot
            Gateway(uri, log, snapshot=old, writer=gw.log).complete("summarizer", [{"role": "user", "content": TEXT}],
                                                                    user_id=user)
        gw.complete("summarizer", [{"role": "user", "content": TEXT}], user_id=user)
    gw.close()


def test_canary_with_returning_users_advances_and_completes(tmp_path: Path) -> None:
    uri, log = _gateway_registry(tmp_path, treatment_latency=2), str(tmp_path / "logs")
    reg = open_registry(uri, actor="test")
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.0, kind="canary", steps=[10, 50, 100],
                               step_min_samples=20, guardrails={"error_rate": 0.0, "latency_ms": 0.25},
                               primary_metric="error_rate")
    users = [f"user-{i}" for i in range(400)]
    _traffic(uri, log, users)
    from registry.serving import ServingSnapshot

    old = ServingSnapshot(uri, refresh_seconds=3600)  # a worker that will not have refreshed at the boundary
    old.reload()
    first = apply_decision(reg, exp.id, run_analysis(reg, exp.id, logs=log), apply=True)
    assert first.action == "advance", first.done
    _, exp = reg.find_experiment(exp.id)
    assert exp.split == 0.5 and exp.step_index == 1
    switched = {u for u in users if assign_arm(exp.salt, u, 0.1) == "control"
                and assign_arm(exp.salt, u, 0.5) == "treatment"}
    _traffic(uri, log, users, stale=set(sorted(switched)[:10]), old=old)  # the same users return
    second = run_analysis(reg, exp.id, logs=log)
    assert second.decision != "invalid" and second.srm["ok"]
    assert second.data["switched_users"] == 10 and second.users["treatment"] > 150
    applied = apply_decision(reg, exp.id, second, apply=True)
    assert applied.action == "complete", applied.done
    model = reg.get_model("summarizer")
    assert model.env_version("production") == 2 and model.experiments[0].status == "shipped"
    assert len(model.experiments[0].analyses) == 2


def test_an_inverted_canary_aborts_at_the_first_step(tmp_path: Path) -> None:
    uri, log = _gateway_registry(tmp_path, treatment_latency=14), str(tmp_path / "logs")
    reg = open_registry(uri, actor="test")
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.0, kind="canary", steps=[10, 50, 100],
                               step_min_samples=20, guardrails={"error_rate": 0.0, "latency_ms": 0.10},
                               primary_metric="error_rate")
    _traffic(uri, log, [f"user-{i}" for i in range(400)])
    analysis = run_analysis(reg, exp.id, logs=log)
    assert analysis.guardrails["latency_ms"]["status"] == "breached"
    assert analysis.metric("latency_ms").rel_diff > 3
    assert apply_decision(reg, exp.id, analysis, apply=True).action == "abort"
    model = reg.get_model("summarizer")
    assert model.experiments[0].status == "rolled_back" and model.experiments[0].split == 0.0
    assert model.env_version("production") == 1


def test_a_registry_experiment_with_no_traffic_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = _gateway_registry(tmp_path, treatment_latency=2)
    exp = open_registry(uri).start_experiment("summarizer", control=1, treatment=2, split=0.1)
    (tmp_path / "empty-log").mkdir()
    with pytest.raises(SystemExit) as exc:
        main(["--registry", uri, "ab", "analyze", exp.id, "--logs", str(tmp_path / "empty-log"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 3 and out["decision"] == "continue" and "no traffic yet" in out["reasons"][-1]


def test_the_flow_analyses_each_experiment_alone_and_fails_loudly(tmp_path: Path, prefect_harness: None) -> None:
    from flows.ab_analysis import AbAnalysisParams, ab_analysis

    base = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929"}
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    frames = []
    for name, passed in (("alpha", True), ("beta", False)):
        for t in (0.1, 0.2):
            v, _ = reg.register(name, {**base, "temperature": t})
            if passed or v.number == 1:
                reg.record_eval(name, v.number, suite="s", passed=True)
        reg.promote(name, 1, "production", reason="base")
        exp = reg.start_experiment(name, control=1, treatment=2, split=0.5, force=not passed,
                                   reason=None if passed else "forced")
        frames.append(generate(users=6000, split=0.5, lift=0.05, seed=13, experiment_id=exp.id))
    import pandas as pd

    logs = tmp_path / "both.parquet"
    write(pd.concat(frames, ignore_index=True), str(logs))
    with pytest.raises(Exception, match="1 of 2 experiments failed: beta-exp-1"):
        ab_analysis(AbAnalysisParams(logs=str(logs), sequential=False, apply=True, registry=uri))
    assert reg.get_model("alpha").env_version("production") == 2  # the other experiment was still applied
    assert reg.get_model("beta").experiments[0].status == "running" and not reg.get_model("beta").experiments[0].analyses

