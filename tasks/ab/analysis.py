"""A/B analysis with the user as the unit, and the ship / rollback / continue / invalid decision.

Every metric is a ratio of sums per arm (per request, or per request with feedback) with a delta-method
variance over users. Continuous metrics use Welch's t-test; binary ones a z-test on the same user-level
variances, or Fisher's exact test on request counts when events are rare. Latency is also compared
robustly (Mann–Whitney U on per-user mean latency), and that robust p-value is what a latency guardrail
decides on. Holm's correction covers the primary metric and the guardrails. A sample-ratio mismatch
(chi-square, p < 0.001) makes the result invalid. In sequential mode p-values are always-valid mSPRT
p-values, so looking every day does not inflate false positives.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from registry.errors import InvalidInput
from tasks import stats
from tasks.ab.data import ArmData

METRICS: dict[str, tuple[str, str]] = {  # name -> (direction, kind)
    "quality_score": ("higher", "continuous"), "thumbs_up": ("higher", "binary"),
    "error_rate": ("lower", "binary"), "latency_ms": ("lower", "continuous"), "cost_usd": ("lower", "continuous"),
}
SRM_ALPHA = 0.001
Decision = Literal["ship", "rollback", "continue", "invalid"]


@dataclass
class MetricResult:
    """One metric: per-arm n (users) and mean, differences with CIs, p-values, the test and unit."""

    metric: str
    direction: str
    unit: str
    control: dict[str, float]
    treatment: dict[str, float]
    abs_diff: float | None
    abs_ci: list[float] | None
    rel_diff: float | None
    rel_ci: list[float] | None
    p_value: float | None
    p_value_adjusted: float | None
    significant: bool
    test: str
    mode: str
    in_holm_family: bool = False
    robust: dict[str, Any] | None = None
    mde_abs: float | None = None
    mde_rel: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Analysis:
    """The whole analysis and its decision."""

    decision: Decision
    reasons: list[str]
    srm: dict[str, Any]
    metrics: list[MetricResult]
    power: dict[str, Any] = field(default_factory=dict)
    mode: str = "fixed"
    users: dict[str, int] = field(default_factory=dict)

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.metric == name)

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": self.reasons, "srm": self.srm, "mode": self.mode,
                "users": self.users, "power": self.power, "metrics": [m.to_dict() for m in self.metrics]}


def _parts(arm: ArmData, metric: str) -> tuple[np.ndarray, np.ndarray]:
    if metric == "quality_score":
        keep = arm.q_n > 0
        return arm.q_sum[keep], arm.q_n[keep]
    if metric == "thumbs_up":
        keep = arm.t_n > 0
        return arm.t_sum[keep], arm.t_n[keep]
    y = {"error_rate": arm.errors, "latency_ms": arm.latency, "cost_usd": arm.cost}[metric]
    return y, arm.n


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def analyze_metric(metric: str, control: ArmData, treatment: ArmData, *, sequential: bool, min_effect: float,
                   prior_sequential_p: float | None = None) -> tuple[MetricResult, stats.ArmStat, stats.ArmStat]:
    """One metric's comparison (treatment minus control)."""
    direction, kind = METRICS[metric]
    yc, xc = _parts(control, metric)
    yt, xt = _parts(treatment, metric)
    sc, st = stats.ratio_stat(yc, xc), stats.ratio_stat(yt, xt)
    unit, mode = "user", "sequential" if sequential else "fixed"
    if sc.n < 2 or st.n < 2 or not math.isfinite(sc.var) or not math.isfinite(st.var):
        empty = MetricResult(metric, direction, unit, {"n": sc.n, "mean": _clean(sc.mean) or 0.0},
                             {"n": st.n, "mean": _clean(st.mean) or 0.0}, None, None, None, None, None, None, False,
                             "not enough users", mode)
        return empty, sc, st
    if kind == "binary":
        x1, n1, x2, n2 = int(yc.sum()), int(xc.sum()), int(yt.sum()), int(xt.sum())
        if min(x1, n1 - x1, x2, n2 - x2) < 10:
            result = stats.z_test(sc, st)
            result = stats.TestResult(result.diff, result.ci, stats.fisher_exact(x1, n1, x2, n2), result.rel,
                                      result.rel_ci, "fisher-exact", result.se)
            unit = "request"
        else:
            result = stats.z_test(sc, st)
            result = stats.TestResult(result.diff, result.ci, result.p_value, result.rel, result.rel_ci,
                                      "z-test (delta method)", result.se)
    else:
        result = stats.welch(sc, st)
        result = stats.TestResult(result.diff, result.ci, result.p_value, result.rel, result.rel_ci,
                                  "welch-t (delta method)", result.se)
    p = result.p_value
    test = result.test
    if sequential:
        tau = max(abs(min_effect * sc.mean), 1e-12)
        p = stats.msprt_p_value(result.diff, result.se, tau)
        if prior_sequential_p is not None:
            p = min(p, prior_sequential_p)
        test = f"mSPRT always-valid ({result.test})"
    robust = None
    if metric == "latency_ms":
        c_mean, t_mean = control.latency / np.maximum(control.n, 1), treatment.latency / np.maximum(treatment.n, 1)
        robust = {"control_median": _q(control.latencies, 50), "treatment_median": _q(treatment.latencies, 50),
                  "control_p95": _q(control.latencies, 95), "treatment_p95": _q(treatment.latencies, 95),
                  "p_value": stats.mann_whitney(t_mean, c_mean), "test": "mann-whitney-u on per-user mean latency",
                  "unit": "user"}
    mde_abs = stats.mde(result.se)
    return (MetricResult(metric, direction, unit, {"n": sc.n, "mean": sc.mean}, {"n": st.n, "mean": st.mean},
                         result.diff, [result.ci[0], result.ci[1]], _clean(result.rel),
                         [_clean(result.rel_ci[0]), _clean(result.rel_ci[1])]  # type: ignore[list-item]
                         if math.isfinite(result.rel) else None, p, None, False, test, mode, robust=robust,
                         mde_abs=mde_abs, mde_rel=_clean(mde_abs / abs(sc.mean)) if sc.mean else None), sc, st)


def _q(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def _worse(m: MetricResult) -> bool:
    return m.abs_diff is not None and (m.abs_diff < 0 if m.direction == "higher" else m.abs_diff > 0)


def _worst_rel_bound(m: MetricResult) -> float | None:
    """The relative worsening the CI is sure of (the bound closest to zero on the worse side)."""
    if not m.rel_ci or m.rel_ci[0] is None or m.rel_ci[1] is None:
        return None
    return m.rel_ci[0] if m.direction == "lower" else -m.rel_ci[1]


def analyze(arms: dict[str, ArmData], *, planned_split: float, primary: str = "quality_score",
            guardrails: dict[str, float] | None = None, min_effect: float = 0.01, min_samples: int | None = None,
            sequential: bool = False, alpha: float = 0.05,
            prior_sequential: dict[str, float] | None = None) -> Analysis:
    """Analyse control vs treatment and decide ship / rollback / continue / invalid."""
    guardrails = dict(guardrails or {})
    for name in [primary, *guardrails]:
        if name not in METRICS:
            raise InvalidInput(f"unknown metric {name!r}; one of {', '.join(METRICS)}", field="metric")
    if not 0 < planned_split < 1:
        raise InvalidInput(f"planned split must be in (0, 1), got {planned_split}", field="planned_split")
    control, treatment = arms["control"], arms["treatment"]
    users = {"control": control.user_count, "treatment": treatment.user_count}
    srm_p = stats.srm_p_value((users["control"], users["treatment"]), planned_split)
    srm = {"p_value": srm_p, "ok": srm_p >= SRM_ALPHA, "observed": users,
           "planned": {"control": 1 - planned_split, "treatment": planned_split}}
    results: dict[str, MetricResult] = {}
    arm_stats: dict[str, tuple[stats.ArmStat, stats.ArmStat]] = {}
    for metric in METRICS:
        res, sc, st = analyze_metric(metric, control, treatment, sequential=sequential, min_effect=min_effect,
                                     prior_sequential_p=(prior_sequential or {}).get(metric))
        results[metric], arm_stats[metric] = res, (sc, st)
    family = [primary, *[g for g in guardrails if g != primary]]
    decisive = {m: _decisive_p(results[m], robust=m == "latency_ms" and m != primary and not sequential)
                for m in family}
    usable = [m for m in family if decisive[m] is not None]
    adjusted = stats.holm([float(decisive[m]) for m in usable])  # type: ignore[arg-type]
    for m, adj in zip(usable, adjusted, strict=True):
        results[m].p_value_adjusted, results[m].significant, results[m].in_holm_family = adj, adj < alpha, True
    for r in results.values():
        if not r.in_holm_family:
            r.p_value_adjusted, r.significant = r.p_value, r.p_value is not None and r.p_value < alpha
    reasons = [f"Holm correction across {', '.join(family)} (alpha {alpha}); unit: user "
               "(ratio of sums per arm, delta-method variance) unless a test says request"]
    if sequential:
        reasons.append("sequential mode: p-values are always-valid (mSPRT), safe to look daily")
    if "latency_ms" in guardrails and not sequential:
        reasons.append("latency guardrail decided on the robust Mann–Whitney U p-value (heavy tails)")
    power = _power(results[primary], arm_stats[primary], min_effect, planned_split, users)
    mixed = max(control.mixed_users, treatment.mixed_users)
    decision = _decide(results, primary, guardrails, min_effect, min_samples, srm, users, power, reasons, mixed)
    return Analysis(decision, reasons, srm, list(results.values()), power, "sequential" if sequential else "fixed",
                    users)


def _decisive_p(result: MetricResult, *, robust: bool) -> float | None:
    """The p-value a decision uses: the robust one for a latency guardrail (heavy tails)."""
    if robust and result.robust is not None:
        return float(result.robust["p_value"])
    return result.p_value


def _power(res: MetricResult, arms: tuple[stats.ArmStat, stats.ArmStat], min_effect: float, split: float,
           users: dict[str, int]) -> dict[str, Any]:
    sc, st = arms
    out: dict[str, Any] = {"metric": res.metric, "mde_abs": res.mde_abs, "mde_rel": res.mde_rel,
                           "min_effect": min_effect}
    if sc.n >= 2 and st.n >= 2 and math.isfinite(sc.var) and math.isfinite(st.var) and sc.mean:
        per_arm = stats.users_needed(sc.var * sc.n, st.var * st.n, min_effect * abs(sc.mean))
        if per_arm is not None:
            total = int(math.ceil(per_arm / min(split, 1 - split)))
            out.update(users_per_arm_needed=per_arm, users_total_needed=total,
                       more_users_needed=max(0, total - users["control"] - users["treatment"]))
    return out


def _pct(ci: Any) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "[n/a]"
    return f"[{ci[0]:+.2%}, {ci[1]:+.2%}]"


def _decide(results: dict[str, MetricResult], primary: str, guardrails: dict[str, float], min_effect: float,
            min_samples: int | None, srm: dict[str, Any], users: dict[str, int], power: dict[str, Any],
            reasons: list[str], mixed: int = 0) -> Decision:
    if not srm["ok"]:
        reasons.append(f"sample-ratio mismatch: users {users} against planned treatment share "
                       f"{srm['planned']['treatment']:.3f} (chi-square p={srm['p_value']:.2e} < {SRM_ALPHA}); "
                       "no ship or rollback decision on this data")
        return "invalid"
    if mixed:
        reasons.append(f"data problem: {mixed} users appear in both arms (routing must be by user); excluded, "
                       "no decision on this data")
        return "invalid"
    if min(users.values()) < 2:
        reasons.append(f"data problem: an arm has fewer than 2 users ({users})")
        return "invalid"
    p = results[primary]
    breached = []
    for name, allowance in guardrails.items():
        g = results[name]
        bound = _worst_rel_bound(g)
        if g.significant and _worse(g) and (allowance == 0 or (bound is not None and bound > allowance)):
            breached.append(name)
            reasons.append(f"guardrail {name} significantly worse beyond its allowance {allowance:.1%}: "
                           f"{g.rel_diff:+.2%} (95% CI {_pct(g.rel_ci)}), adjusted p={g.p_value_adjusted:.3g}")
        else:
            reasons.append(f"guardrail {name} holds (allowance {allowance:.1%}, change "
                           f"{(g.rel_diff or 0):+.2%}, adjusted p={(g.p_value_adjusted or 1):.3g})")
    if p.significant and _worse(p):
        reasons.append(f"primary {primary} significantly worse: {p.rel_diff:+.2%}, adjusted p={p.p_value_adjusted:.3g}")
        return "rollback"
    if breached:
        return "rollback"
    more = power.get("more_users_needed")
    if min_samples and min(users.values()) < min_samples:
        reasons.append(f"fewer than {min_samples} users per arm so far ({users}); continue")
        return "continue"
    if p.significant and not _worse(p):
        lift = abs(p.rel_diff or 0.0)
        if lift >= min_effect:
            reasons.append(f"primary {primary} improved {p.rel_diff:+.2%} (95% CI {_pct(p.rel_ci)}), adjusted "
                           f"p={p.p_value_adjusted:.3g}, at least the minimum effect {min_effect:.1%}")
            return "ship"
        reasons.append(f"primary {primary} improved {p.rel_diff:+.2%}: significant but below the minimum practical "
                       f"effect {min_effect:.1%}; not a ship")
        return "continue"
    reasons.append(f"primary {primary}: no significant difference yet ({(p.rel_diff or 0):+.2%}, adjusted "
                   f"p={(p.p_value_adjusted or 1):.3g}); "
                   + (f"about {more} more users are needed to detect a {min_effect:.1%} effect" if more
                      else "the planned sample is reached"))
    return "continue"
