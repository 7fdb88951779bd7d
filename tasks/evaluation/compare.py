"""Summaries, paired comparisons and the recommendation — pure functions over case results.

Per metric and version: the mean over cases (repeats averaged within a case) with a 95% CI (Wilson for
binary scores, Student t otherwise). Paired on the same cases, one estimator gives both the CI and the
p-value: Student's t on the per-case differences. Gates compare point estimates; a non-inferiority margin
is compared with the 95% CI bound of the paired difference; cost and p95 latency regressions against the
baseline are judged against allowances (defaults in ``suite.DEFAULT_ALLOWANCES``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import special  # the t and binomial distributions without scipy.stats' ~1 s import

from tasks.evaluation.runner import CaseResult
from tasks.evaluation.scorers import BINARY, LOWER_IS_BETTER, class_metrics
from tasks.evaluation.suite import ALLOWANCE_FLOORS, Suite

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
    half = float(special.stdtrit(arr.size - 1, 0.975) * arr.std(ddof=1) / math.sqrt(arr.size))
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
    """Two-sided exact McNemar p-value from the discordant counts (shown beside, for binary scores)."""
    if b + c == 0:
        return 1.0
    # scipy's binomtest(k, n, 0.5) two-sided: the symmetric tails, 2 * P(X <= min(b, c)), at most 1
    return float(min(1.0, 2 * special.bdtr(min(b, c), b + c, 0.5)))


def paired(metric: str, cand: dict[str, float], base: dict[str, float], seed: int = 0) -> Comparison:
    """Paired comparison of one metric over the cases both versions have.

    One estimator gives both the 95% CI and the p-value, so they never disagree: Student's t on the
    per-case differences (scipy's ``ttest_rel``).
    """
    common = sorted(set(cand) & set(base))
    a = np.asarray([cand[c] for c in common], dtype=float)
    b = np.asarray([base[c] for c in common], dtype=float)
    out = Comparison(metric, float(a.mean()) if a.size else None, float(b.mean()) if b.size else None,
                     n_pairs=len(common), test="paired t on per-case differences")
    if not common:
        return out
    diffs = a - b
    out.diff = float(diffs.mean())
    if diffs.size < 2:
        return out
    out.sd_diff = float(diffs.std(ddof=1))
    if out.sd_diff == 0:
        out.ci, out.p_value = [out.diff, out.diff], (1.0 if out.diff == 0 else 0.0)
        return out
    se = out.sd_diff / math.sqrt(diffs.size)
    q = float(special.stdtrit(diffs.size - 1, 0.975))  # scipy.stats.t.ppf
    out.ci = [out.diff - q * se, out.diff + q * se]
    out.p_value = float(2 * special.stdtr(diffs.size - 1, -abs(out.diff / se)))  # 2 * scipy.stats.t.sf
    return out


@dataclass
class Recommendation:
    """The decision with every reason, the metrics, and how many cases would settle it."""

    decision: Decision
    reasons: list[str]
    metrics: list[Comparison]
    cases_needed: int | None = None
    notes: list[str] = field(default_factory=list)
    summary: str = ""


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


def _relative(cmp: Comparison) -> float | None:
    if cmp.candidate is None or cmp.baseline is None:
        return None
    if cmp.baseline == 0:
        return 0.0 if cmp.candidate == 0 else math.inf
    return cmp.candidate / cmp.baseline - 1


def _pct(x: float | None) -> str:
    return "n/a" if x is None else ("+inf%" if math.isinf(x) else f"{x:+.0%}")


def recommend(candidate: VersionSummary, baseline: VersionSummary | None, suite: Suite) -> Recommendation:
    """promote / reject / inconclusive, with every reason listed and a one-sentence summary."""
    if baseline is not None and baseline.calls and baseline.errors == baseline.calls:
        reason = (f"baseline {baseline.ref}: every one of its {baseline.calls} calls failed, so nothing can be "
                  "compared; fix the baseline's provider and run again")
        rec = recommend(candidate, None, suite)
        decision: Decision = "reject" if rec.decision == "reject" else "inconclusive"
        return Recommendation(decision, [reason, *rec.reasons], rec.metrics, rec.cases_needed,
                              summary=f"no usable baseline (all {baseline.calls} calls failed): {decision}")
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
    costly = []
    floors = ALLOWANCE_FLOORS
    for metric, allowance in suite.parsed_allowances().items():
        found = comparisons.get(metric)
        if baseline is None or found is None or found.candidate is None or found.baseline is None:
            continue
        rel = _relative(found)
        limit = allowance.absolute(found.baseline) if allowance.relative else allowance.value
        over = found.candidate - found.baseline
        paired_case = comparisons.get(PER_CASE.get(metric, ""))
        stale = candidate.cached + baseline.cached if metric in PER_CASE else 0
        if stale:
            reasons.append(f"{metric}: {_pct(rel)} against the baseline, not judged: {stale} answers came from the "
                           "cache, so their latency was measured at another time (run with --no-cache to compare)")
        elif over > max(limit, floors.get(metric, 0.0)) and not _confirmed(paired_case, allowance, floors.get(metric, 0.0)):
            reasons.append(f"{metric}: {_pct(rel)} against the baseline, but the per-case comparison does not show "
                           f"a regression beyond {_allowance_text(allowance)} (95% CI "
                           f"{_ci_text(paired_case)}): noise, not counted")
        elif over > max(limit, floors.get(metric, 0.0)):
            failed = True
            costly.append(metric)
            reasons.append(f"{metric}: {_pct(rel)} against the baseline ({found.candidate:.4g} vs {found.baseline:.4g}), "
                           f"beyond the allowance {_allowance_text(allowance)}")
        else:
            reasons.append(f"{metric}: {_pct(rel)} against the baseline, within the allowance "
                           f"{_allowance_text(allowance)}")
    decision = "reject" if failed else "inconclusive" if undetermined else "promote"
    cases = max(needed) if needed else None
    rec = Recommendation(decision, reasons, list(comparisons.values()), cases)
    rec.summary = _summary(rec, comparisons, baseline, costly)
    return rec


# A percentile moves with a few slow calls; a latency regression also has to show case by case.
PER_CASE = {"p95_latency_ms": "latency_ms"}


def _confirmed(cmp: Comparison | None, allowance: Any, floor: float = 0.0) -> bool:
    """Whether the paired per-case difference is significantly beyond the allowance and the absolute floor
    (no paired data: yes)."""
    if cmp is None or cmp.ci is None or not cmp.baseline:
        return True
    limit = allowance.absolute(cmp.baseline) if allowance.relative else allowance.value
    return cmp.ci[0] > max(limit, floor)


def _ci_text(cmp: Comparison | None) -> str:
    return "n/a" if cmp is None or cmp.ci is None else f"[{cmp.ci[0]:+.4g}, {cmp.ci[1]:+.4g}] ms per case"


def _allowance_text(allowance: Any) -> str:
    return f"+{allowance.value:.0%}" if allowance.relative else f"+{allowance.value:g}"


def _summary(rec: Recommendation, comparisons: dict[str, Comparison], baseline: VersionSummary | None,
             costly: list[str]) -> str:
    """A sentence a reviewer can paste: quality, cost, latency, then the decision and why."""
    parts = []
    statuses = [c for c in comparisons.values() if c.status is not None]
    if statuses:
        worst = "worse" if any(c.status == "worse" for c in statuses) else (
            "undetermined" if any(c.status == "undetermined" for c in statuses) else "ok")
        margin = ", ".join(f"{c.metric} margin {c.margin:.3g}" for c in statuses if c.margin is not None)
        parts.append({"ok": f"equal quality (non-inferior, {margin})", "worse": f"worse quality ({margin})",
                      "undetermined": f"quality undetermined ({margin})"}[worst])
    gates = [c for c in comparisons.values() if c.gate is not None]
    if gates:
        failed = [c.metric for c in gates if not c.gate_passed]
        parts.append(f"gates failed: {', '.join(failed)}" if failed else "all gates passed")
    if baseline is not None:
        for metric, label in (("cost_per_1k_requests", "cost"), ("p95_latency_ms", "p95 latency")):
            cmp = comparisons.get(metric)
            if cmp is not None and cmp.candidate is not None and cmp.baseline is not None:
                parts.append(f"{label} {_pct(_relative(cmp))}")
    why = ""
    if rec.decision == "reject" and costly and not any("gate" in r and "failed" in r for r in rec.reasons):
        why = " — production is as good and " + ("cheaper" if "cost_per_1k_requests" in costly else "faster")
    elif rec.decision == "inconclusive" and rec.cases_needed:
        why = f" — about {rec.cases_needed} paired cases would settle it"
    return f"{', '.join(parts) or 'no comparison'}: {rec.decision}{why}"
