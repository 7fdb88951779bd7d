"""Statistics checked against scipy/statsmodels on the same data; gates, margins and decisions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from tasks.evaluation.compare import mcnemar_exact, mean_ci, paired, recommend, summarize, wilson
from tasks.evaluation.runner import CaseResult
from tasks.evaluation.suite import Suite


def test_mcnemar_matches_statsmodels() -> None:
    for b, c in [(10, 3), (0, 5), (7, 7), (25, 12), (1, 0)]:
        expected = mcnemar([[50, b], [c, 40]], exact=True).pvalue
        assert mcnemar_exact(b, c) == pytest.approx(expected, abs=1e-9)


def test_wilson_and_t_interval_match_statsmodels_and_scipy() -> None:
    for k, n in [(0, 10), (9, 10), (180, 200), (50, 100)]:
        assert wilson(k, n) == pytest.approx(list(proportion_confint(k, n, alpha=0.05, method="wilson")), abs=1e-9)
    values = list(np.random.default_rng(1).normal(0.7, 0.1, 40))
    lo, hi = stats.t.interval(0.95, 39, loc=np.mean(values), scale=stats.sem(values))
    assert mean_ci(values) == pytest.approx([lo, hi], abs=1e-9)


def test_paired_comparison_is_ttest_rel_and_its_ci_agrees_with_its_p_value() -> None:
    rng = np.random.default_rng(3)
    for shift, n in ((0.05, 60), (0.0, 40), (0.01, 25), (-0.02, 80)):
        base = {f"c{i}": float(v) for i, v in enumerate(rng.uniform(0.3, 0.9, n))}
        cand = {k: min(1.0, v + shift + rng.normal(0, 0.05)) for k, v in base.items()}
        cmp = paired("rouge_l", cand, base)
        keys = sorted(base)
        ref = stats.ttest_rel([cand[k] for k in keys], [base[k] for k in keys])
        assert cmp.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        ci = ref.confidence_interval(0.95)
        assert cmp.ci == pytest.approx([ci.low, ci.high], rel=1e-9)
        assert (cmp.ci[0] > 0 or cmp.ci[1] < 0) == (cmp.p_value < 0.05)
    binary = paired("exact_match", {f"c{i}": float(i % 3 == 0) for i in range(30)},
                    {f"c{i}": float(i % 2 == 0) for i in range(30)})
    assert (binary.ci[0] > 0 or binary.ci[1] < 0) == (binary.p_value < 0.05)


def results(scores: list[float], metric: str = "exact_match", *, errors: int = 0, latency: float = 100.0) -> list[CaseResult]:
    out = [CaseResult(f"c{i}", 0, "x", None, None, latency, 10, 2, 0.001, False, {metric: v}) for i, v in enumerate(scores)]
    for i in range(errors):
        out[i] = CaseResult(f"c{i}", 0, None, "boom", "TransientProviderError", 0.0, 0, 0, 0.0, False)
    return out


SUITE = Suite(name="s", dataset="d.jsonl", scorers=[{"type": "exact_match"}],
              gates={"exact_match": ">= 0.80", "error_rate": "<= 0.05", "p95_latency_ms": "<= 2000"},
              margins={"exact_match": 0.05})


def test_promote_reject_inconclusive() -> None:
    base = summarize("m@1", "a", results([1.0] * 180 + [0.0] * 20), SUITE)
    same = summarize("m@2", "b", results([1.0] * 182 + [0.0] * 18), SUITE)
    rec = recommend(same, base, SUITE)
    assert rec.decision == "promote", rec.reasons
    worse = summarize("m@3", "c", results([0.0] * 80 + [1.0] * 120), SUITE)
    rec = recommend(worse, base, SUITE)
    assert rec.decision == "reject" and any("significantly worse" in r for r in rec.reasons)
    small_base = summarize("m@1", "a", results([1.0] * 9 + [0.0]), SUITE)
    small = summarize("m@4", "d", results([0.0] + [1.0] * 9), SUITE)  # as accurate, other cases wrong
    rec = recommend(small, small_base, SUITE)
    assert rec.decision == "inconclusive" and rec.cases_needed and rec.cases_needed > 10


def test_gate_failure_and_error_rate() -> None:
    flaky = summarize("m@5", "e", results([1.0] * 200, errors=20), SUITE)
    rec = recommend(flaky, None, SUITE)
    assert rec.decision == "reject"
    assert any(r.startswith("gate error_rate <= 0.05: failed with 0.1") for r in rec.reasons)
    slow = summarize("m@6", "f", results([1.0] * 50, latency=2500.0), SUITE)
    assert any("p95_latency_ms" in r and "failed" in r for r in recommend(slow, None, SUITE).reasons)


def test_an_all_error_baseline_is_never_a_pass() -> None:
    broken = summarize("m@1", "a", results([1.0] * 50, errors=50), SUITE)
    good = summarize("m@2", "b", results([1.0] * 50), SUITE)
    rec = recommend(good, broken, SUITE)
    assert rec.decision == "inconclusive" and "every one of its 50 calls failed" in rec.reasons[0]


def test_equal_quality_at_twice_the_cost_and_four_times_the_latency_is_rejected() -> None:
    suite = Suite(name="s", dataset="d.jsonl", scorers=[{"type": "exact_match"}], margins={"exact_match": 0.02})
    base = summarize("m@1", "a", [CaseResult(f"c{i}", 0, "x", None, None, 400.0, 10, 2, 0.001, False,
                                             {"exact_match": float(i % 10 != 0)}) for i in range(400)], suite)
    cand = summarize("m@2", "b", [CaseResult(f"c{i}", 0, "x", None, None, 1600.0, 10, 2, 0.002, False,
                                             {"exact_match": float(i % 10 != 0)}) for i in range(400)], suite)
    rec = recommend(cand, base, suite)
    assert rec.decision == "reject"
    assert rec.summary == ("equal quality (non-inferior, exact_match margin 0.02), cost +100%, p95 latency +300%: "
                           "reject — production is as good and cheaper")
    relaxed = Suite(name="s", dataset="d.jsonl", scorers=[{"type": "exact_match"}], margins={"exact_match": 0.02},
                    allowances={"cost_per_1k_requests": "150%", "p95_latency_ms": "400%"})
    assert recommend(cand, base, relaxed).decision == "promote"


def test_a_p95_blip_that_the_cases_do_not_confirm_is_noise_not_a_regression() -> None:
    suite = Suite(name="s", dataset="d.jsonl", scorers=[{"type": "exact_match"}])
    base = summarize("m@1", "a", [CaseResult(f"c{i}", 0, "x", None, None, 40.0 + (i % 7), 10, 2, 0.0, False,
                                             {"exact_match": 1.0}) for i in range(100)], suite)
    spiky = [40.0 + (i % 7) for i in range(100)]
    for i in (3, 50, 77, 91, 99, 12):  # a loaded machine: six calls stall
        spiky[i] = 400.0
    cand = summarize("m@2", "b", [CaseResult(f"c{i}", 0, "x", None, None, spiky[i], 10, 2, 0.0, False,
                                             {"exact_match": 1.0}) for i in range(100)], suite)
    rec = recommend(cand, base, suite)
    assert rec.decision == "promote", rec.reasons
    assert any("noise, not counted" in r for r in rec.reasons)


def test_latency_from_cached_answers_is_never_compared_with_fresh_latency() -> None:
    suite = Suite(name="s", dataset="d.jsonl", scorers=[{"type": "exact_match"}])
    base = summarize("m@1", "a", [CaseResult(f"c{i}", 0, "x", None, None, 40.0, 10, 2, 0.0, True,
                                             {"exact_match": 1.0}) for i in range(50)], suite)
    cand = summarize("m@2", "b", [CaseResult(f"c{i}", 0, "x", None, None, 400.0, 10, 2, 0.0, False,
                                             {"exact_match": 1.0}) for i in range(50)], suite)
    rec = recommend(cand, base, suite)
    assert rec.decision == "promote" and any("50 answers came from the cache" in r for r in rec.reasons)
