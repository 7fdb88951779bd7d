"""Summaries, paired comparisons and the recommendation — pure functions over case results.

Per metric and version: the mean over cases (repeats averaged within a case) with a 95% CI (Wilson for
binary scores, Student t otherwise). Paired on the same cases: McNemar's exact test for binary scores;
a paired bootstrap CI of the mean difference and the Wilcoxon signed-rank test for continuous ones.
Gates compare point estimates; a non-inferiority margin is compared with the 95% CI bound of the paired
difference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from tasks.evaluation.runner import CaseResult
from tasks.evaluation.scorers import BINARY, LOWER_IS_BETTER, class_metrics
from tasks.evaluation.suite import Suite

Decision = Literal["promote", "reject", "inconclusive"]
ALIASES = {"f1": "macro_f1", "p95_latency": "p95_latency_ms", "latency_p95_ms": "p95_latency_ms"}
Z95, Z80 = 1.959963984540054, 0.8416212335729143


@dataclass
class MetricSummary:
    """One metric of one version."""

    metric: str
    value: float | None
    ci: list[float] | None
    n: int


@dataclass
class VersionSummary:
    """Everything measured for one version."""

    ref: str
    digest: str
    metrics: dict[str, MetricSummary]
    per_case: dict[str, dict[str, float]]  # metric -> case id -> value (repeats averaged)
    cases: int
    calls: int
    errors: int
    cached: int


def wilson(successes: float, n: int) -> list[float]:
    """Wilson score 95% interval for a proportion."""
    if n == 0:
        return [0.0, 1.0]
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def mean_ci(values: list[float]) -> list[float]:
    """Student-t 95% interval of a mean."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2 or float(arr.std(ddof=1)) == 0.0:
        m = float(arr.mean()) if arr.size else 0.0
        return [m, m]
    half = float(stats.t.ppf(0.975, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return [float(arr.mean()) - half, float(arr.mean()) + half]


def _is_binary(values: list[float]) -> bool:
    return all(v in (0.0, 1.0) for v in values)


def summarize(ref: str, digest: str, results: list[CaseResult], suite: Suite,
              expected: dict[str, Any] | None = None) -> VersionSummary:
    """Aggregate one version's case results into metrics."""
    per_case: dict[str, dict[str, list[float]]] = {}
    errors_by_case: dict[str, list[float]] = {}
    latencies = [r.latency_ms for r in results if r.error is None]
    costs = [r.cost_usd for r in results if r.error is None]
    for r in results:
        errors_by_case.setdefault(r.case_id, []).append(1.0 if r.error else 0.0)
        for metric, value in r.scores.items():
            per_case.setdefault(metric, {}).setdefault(r.case_id, []).append(value)
    averaged = {m: {cid: float(np.mean(v)) for cid, v in cases.items()} for m, cases in per_case.items()}
    averaged["error_rate"] = {cid: float(np.mean(v)) for cid, v in errors_by_case.items()}
    if latencies:
        by_case: dict[str, list[float]] = {}
        cost_case: dict[str, list[float]] = {}
        for r in results:
            if r.error is None:
                by_case.setdefault(r.case_id, []).append(r.latency_ms)
                cost_case.setdefault(r.case_id, []).append(r.cost_usd)
        averaged["latency_ms"] = {c: float(np.mean(v)) for c, v in by_case.items()}
        averaged["cost_usd"] = {c: float(np.mean(v)) for c, v in cost_case.items()}
    metrics: dict[str, MetricSummary] = {}
    for metric, cases in averaged.items():
        values = list(cases.values())
        ci = wilson(sum(values), len(values)) if _is_binary(values) and metric in BINARY | {"error_rate"} \
            else mean_ci(values)
        metrics[metric] = MetricSummary(metric, float(np.mean(values)) if values else None, ci, len(values))
    if latencies:
        for q in (50, 95, 99):
            metrics[f"p{q}_latency_ms"] = MetricSummary(f"p{q}_latency_ms", float(np.percentile(latencies, q)),
                                                        None, len(latencies))
        per_1k = float(np.mean(costs)) * 1000
        metrics["cost_per_1k_requests"] = MetricSummary("cost_per_1k_requests", per_1k, None, len(costs))
    if expected is not None and any(s.type == "classification" for s in suite.scorers):
        pairs = [(str(r.output).strip().lower(), str(expected[r.case_id]).strip().lower())
                 for r in results if r.error is None and r.output is not None and expected.get(r.case_id) is not None]
        for name, value in class_metrics(pairs).items():
            metrics[name] = MetricSummary(name, value, None, len(pairs))
    return VersionSummary(ref, digest, metrics, averaged, cases=len(errors_by_case), calls=len(results),
                          errors=sum(1 for r in results if r.error), cached=sum(1 for r in results if r.cached))


@dataclass
class Comparison:
    """One metric, candidate against baseline, paired on the same cases."""

    metric: str
    candidate: float | None
    baseline: float | None
    diff: float | None = None
    ci: list[float] | None = None
    p_value: float | None = None
    test: str | None = None
    n_pairs: int = 0
    sd_diff: float | None = None
    gate: str | None = None
    gate_passed: bool | None = None
    margin: float | None = None
    status: str | None = None  # non-inferiority: ok / worse / undetermined

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    if b + c == 0:
        return 1.0
    return float(stats.binomtest(min(b, c), b + c, 0.5).pvalue)


def paired_bootstrap_ci(diffs: np.ndarray, seed: int, resamples: int = 2000) -> list[float]:
    """Percentile 95% CI of the mean paired difference."""
    if diffs.size == 0:
        return [0.0, 0.0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diffs.size, size=(resamples, diffs.size))
    means = diffs[idx].mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def paired(metric: str, cand: dict[str, float], base: dict[str, float], seed: int) -> Comparison:
    """Paired comparison of one metric over the cases both versions have."""
    common = sorted(set(cand) & set(base))
    a = np.asarray([cand[c] for c in common], dtype=float)
    b = np.asarray([base[c] for c in common], dtype=float)
    out = Comparison(metric, float(a.mean()) if a.size else None, float(b.mean()) if b.size else None,
                     n_pairs=len(common))
    if not common:
        return out
    diffs = a - b
    out.diff = float(diffs.mean())
    out.sd_diff = float(diffs.std(ddof=1)) if diffs.size > 1 else 0.0
    out.ci = paired_bootstrap_ci(diffs, seed)
    if _is_binary(list(a)) and _is_binary(list(b)):
        n10 = int(((a == 1) & (b == 0)).sum())
        n01 = int(((a == 0) & (b == 1)).sum())
        out.p_value, out.test = mcnemar_exact(n10, n01), "mcnemar-exact"
    else:
        nonzero = diffs[diffs != 0]
        out.p_value = float(stats.wilcoxon(nonzero).pvalue) if nonzero.size else 1.0
        out.test = "wilcoxon+paired-bootstrap"
    return out


@dataclass
class Recommendation:
    """The decision with every reason, the metrics, and how many cases would settle it."""

    decision: Decision
    reasons: list[str]
    metrics: list[Comparison]
    cases_needed: int | None = None
    notes: list[str] = field(default_factory=list)


def _direction(metric: str) -> int:
    return -1 if metric in LOWER_IS_BETTER or metric.endswith("_latency_ms") else 1


def _needed(cmp: Comparison, margin: float) -> int | None:
    """Paired cases at which the 95% CI would fall on one side of the margin (80% power), if the
    observed mean difference and its spread held: non-inferior above it, worse beyond it below."""
    if cmp.diff is None or cmp.sd_diff is None:
        return None
    distance = abs(_direction(cmp.metric) * cmp.diff + margin)
    if distance == 0:
        return None
    return int(math.ceil(((Z95 + Z80) * cmp.sd_diff / distance) ** 2))


def recommend(candidate: VersionSummary, baseline: VersionSummary | None, suite: Suite) -> Recommendation:
    """promote / reject / inconclusive, with every reason listed."""
    gates = {ALIASES.get(g.metric, g.metric): g for g in suite.parsed_gates()}
    margins = {ALIASES.get(m, m): v for m, v in suite.parsed_margins().items()}
    names = list(dict.fromkeys([*candidate.metrics, *gates, *margins]))
    comparisons: dict[str, Comparison] = {}
    for metric in names:
        c = candidate.metrics.get(metric)
        b = baseline.metrics.get(metric) if baseline else None
        if baseline and metric in candidate.per_case and metric in baseline.per_case:
            cmp = paired(metric, candidate.per_case[metric], baseline.per_case[metric], suite.seed)
            cmp.candidate, cmp.baseline = (c.value if c else None), (b.value if b else None)
        else:
            cmp = Comparison(metric, c.value if c else None, b.value if b else None)
            if cmp.candidate is not None and cmp.baseline is not None:
                cmp.diff = cmp.candidate - cmp.baseline
        comparisons[metric] = cmp
    reasons: list[str] = []
    failed = undetermined = False
    needed: list[int] = []
    for metric, gate in gates.items():
        cmp = comparisons[metric]
        cmp.gate, cmp.gate_passed = str(gate), gate.passes(cmp.candidate)
        if cmp.candidate is None:
            failed = True
            reasons.append(f"gate {metric} {gate}: no value (metric not produced by the suite)")
        elif not cmp.gate_passed:
            failed = True
            reasons.append(f"gate {metric} {gate}: failed with {cmp.candidate:.4g}")
        else:
            reasons.append(f"gate {metric} {gate}: passed with {cmp.candidate:.4g}")
    for metric, margin_spec in margins.items():
        cmp = comparisons[metric]
        if baseline is None or cmp.ci is None or cmp.diff is None:
            reasons.append(f"{metric}: no baseline to compare against; margin not checked")
            continue
        margin = margin_spec.absolute(cmp.baseline or 0.0)
        cmp.margin = margin
        sign = _direction(metric)
        worst, best = (cmp.ci[0], cmp.ci[1]) if sign > 0 else (-cmp.ci[1], -cmp.ci[0])
        diff_text = f"difference {cmp.diff:+.4g}, 95% CI [{cmp.ci[0]:.4g}, {cmp.ci[1]:.4g}], margin {margin:.4g}"
        if best < -margin:
            cmp.status, failed = "worse", True
            reasons.append(f"{metric}: significantly worse than the baseline beyond the margin ({diff_text})")
        elif worst >= -margin:
            cmp.status = "ok"
            reasons.append(f"{metric}: non-inferior to the baseline ({diff_text})")
        else:
            cmp.status, undetermined = "undetermined", True
            n = _needed(cmp, margin)
            if n is not None:
                needed.append(n)
            leaning = "worse than the margin" if sign * cmp.diff + margin < 0 else "within the margin"
            reasons.append(f"{metric}: too few cases to tell ({diff_text}, n={cmp.n_pairs}; the estimate is "
                           f"{leaning}); " + (f"about {n} paired cases would settle it" if n else
                                             "the estimate sits exactly on the margin"))
    decision: Decision = "reject" if failed else "inconclusive" if undetermined else "promote"
    return Recommendation(decision, reasons, list(comparisons.values()), max(needed) if needed else None)
