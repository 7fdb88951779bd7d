"""A/B analysis with the user as the unit, and the ship / rollback / continue / invalid decision.

Each metric has **one estimator**, which gives both its confidence interval and its p-value (so they never
disagree) and is named in the report:

- ``mean``: the ratio of sums per arm (per request, or per request with feedback) with a delta-method
  variance over users; Welch's t for continuous metrics, a z-test for binary ones.
- ``log`` (default for the heavy-tailed latency, cost and tokens): each user's mean on the log scale,
  compared by Welch's t — a geometric-mean ratio, so one timeout cannot swamp the comparison.
- ``capped``: the ratio of sums after capping each user's mean at a pooled percentile (GrowthBook's
  percentile capping), used where a log scale cannot be (zeros).

The raw mean is shown beside. CUPED adjusts every estimator with each user's pre-experiment value when
the input has a pre-period. Guardrails are tested against their allowance in the harmful direction;
Holm's correction covers the primary metric and the guardrails. A sample-ratio mismatch makes the
result invalid; no traffic yet is "continue". In sequential mode p-values are always-valid mSPRT
p-values and the intervals are the matching confidence sequences.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from registry.errors import InvalidInput
from tasks import stats
from tasks.ab.data import METRIC_SUMS, ArmData
from tasks.ab.moments import LOG_NEEDS_POSITIVE, SummaryArm, raw_means
from tasks.ab.moments import Estimate as _Estimate
from tasks.ab.moments import clean as _clean

Arm = ArmData | SummaryArm  # per-user vectors (Arrow engine, --stats file) or the DuckDB engine's sums

SRM_ALPHA = 0.001
SRM_MIN_EXPECTED = 5  # users expected per arm before a sample-ratio test means anything
LARGE_REGRESSION = 0.25  # observed harm this far beyond the allowance, unproven either way, is not a pass
Decision = Literal["ship", "rollback", "continue", "invalid"]
ESTIMATORS = ("mean", "log", "capped")


@dataclass(frozen=True)
class Metric:
    """A metric's name, the better direction, its kind and its default estimator."""

    name: str
    direction: Literal["higher", "lower"]
    kind: Literal["binary", "continuous"]
    estimator: str = "mean"


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("quality_score", "higher", "continuous"), Metric("thumbs_up", "higher", "binary"),
    Metric("error_rate", "lower", "binary"), Metric("latency_ms", "lower", "continuous", "log"),
    Metric("cost_usd", "lower", "continuous", "log"), Metric("tokens", "lower", "continuous", "log"))}


@dataclass
class MetricResult:
    """One metric: per-arm n (users) and estimate, the effect with its CI and p-value, the estimator."""

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
    estimator: str = "mean"
    raw: dict[str, Any] | None = None
    cuped: dict[str, Any] | None = None
    bayes: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    scale: dict[str, float] | None = None  # the effect, its SE and dof on the estimator's own scale

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
    guardrails: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> MetricResult:
        return next(m for m in self.metrics if m.metric == name)

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": self.reasons, "srm": self.srm, "mode": self.mode,
                "users": self.users, "power": self.power, "guardrails": self.guardrails, "data": self.data,
                "metrics": [m.to_dict() for m in self.metrics]}


def _parts(arm: ArmData, metric: str) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Per-user sums ``y`` and counts ``x`` of a metric, and the same over the pre-period."""
    names = METRIC_SUMS[metric]

    def get(name: str) -> np.ndarray:
        value = getattr(arm, name)
        return value if value is not None else np.zeros(arm.user_count)

    y, x = get(names[0]), get(names[1])
    keep = x > 0
    pre = None
    if arm.pre is not None:
        pre = (arm.pre[names[0]][keep], arm.pre[names[1]][keep])
    return y[keep], x[keep], pre


def _levels(estimator: str, yc: np.ndarray, xc: np.ndarray, yt: np.ndarray, xt: np.ndarray,
            cap_quantile: float) -> tuple[stats.UserLevel, stats.UserLevel, Any]:
    """Per-user influence values on the estimator's scale, and the transform for the covariate."""
    if estimator == "log":
        return stats.mean_level(np.log(yc / xc)), stats.mean_level(np.log(yt / xt)), np.log
    if estimator == "capped":
        cap = float(np.quantile(np.concatenate([yc / xc, yt / xt]), cap_quantile))
        return (stats.ratio_level(np.minimum(yc / xc, cap) * xc, xc), stats.ratio_level(np.minimum(yt / xt, cap) * xt, xt),
                lambda v: np.minimum(v, cap))
    return stats.ratio_level(yc, xc), stats.ratio_level(yt, xt), lambda v: v


def _covariate(pre: tuple[np.ndarray, np.ndarray] | None, transform: Any) -> np.ndarray | None:
    if pre is None:
        return None
    y0, x0 = pre
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(x0 > 0, y0 / np.where(x0 > 0, x0, 1), np.nan)
        out = transform(np.where(np.isfinite(value) & (value > 0 if transform is np.log else True), value, np.nan))
    return np.asarray(out, dtype=float)


def estimate(metric: str, control: Arm, treatment: Arm, *, estimator: str | None = None,
             cap_quantile: float = 0.99, use_cuped: bool = True) -> _Estimate:
    """Both arms' estimates of a metric on its estimator's scale (CUPED-adjusted when there is a pre-period).

    The DuckDB engine's arms answer from SQL sums (``tasks.ab.moments``) what this computes from vectors.
    """
    spec = METRICS[metric]
    name = estimator or spec.estimator
    if isinstance(control, SummaryArm):
        return control.table.estimate(metric, name, cap_quantile=cap_quantile, use_cuped=use_cuped)
    assert isinstance(treatment, ArmData)
    yc, xc, pre_c = _parts(control, metric)
    yt, xt, pre_t = _parts(treatment, metric)
    notes: list[str] = []
    if name == "log" and ((yc <= 0).any() or (yt <= 0).any()):
        name = "capped"
        notes.append(LOG_NEEDS_POSITIVE)
    raw = raw_means(float(yc.sum()), float(xc.sum()), float(yt.sum()), float(xt.sum()))
    if len(yc) == 0 or len(yt) == 0:
        lc, lt = stats.ratio_level(yc, xc), stats.ratio_level(yt, xt)
        return _Estimate(name, lc.stat(), lt.stat(), raw, None, notes)
    lc, lt, transform = _levels(name, yc, xc, yt, xt, cap_quantile)
    sc, st = lc.stat(), lt.stat()
    cuped_info = None
    cov_c, cov_t = _covariate(pre_c, transform), _covariate(pre_t, transform)
    if use_cuped and cov_c is not None and cov_t is not None:
        adjusted = stats.cuped(lc, lt, cov_c, cov_t)
        if adjusted is not None:
            sc, st = adjusted.control, adjusted.treatment
            cuped_info = {"theta": adjusted.theta, "variance_reduction": adjusted.variance_reduction,
                          "users_with_pre_period": adjusted.users_with_covariate}
    return _Estimate(name, sc, st, raw, cuped_info, notes)


def _to_relative(est: _Estimate, value: float) -> float | None:
    """An effect on the estimator's scale as a relative change of the control."""
    if est.estimator == "log":
        return _clean(math.expm1(value)) if value < 700 else None
    return _clean(value / abs(est.sc.mean)) if est.sc.mean else None


def analyze_metric(metric: str, control: Arm, treatment: Arm, *, sequential: bool, min_effect: float,
                   prior: dict[str, Any] | None = None, estimator: str | None = None, cap_quantile: float = 0.99,
                   use_cuped: bool = True, alpha: float = 0.05) -> tuple[MetricResult, _Estimate]:
    """One metric's comparison (treatment minus control) with a single estimator."""
    spec = METRICS[metric]
    est = estimate(metric, control, treatment, estimator=estimator, cap_quantile=cap_quantile, use_cuped=use_cuped)
    sc, st = est.sc, est.st
    unit, mode = "user", "sequential" if sequential else "fixed"
    log = est.estimator == "log"
    show_c = math.exp(sc.mean) if log and math.isfinite(sc.mean) else sc.mean
    show_t = math.exp(st.mean) if log and math.isfinite(st.mean) else st.mean
    base = MetricResult(metric, spec.direction, unit, {"n": sc.n, "mean": _clean(show_c) or 0.0},
                        {"n": st.n, "mean": _clean(show_t) or 0.0}, None, None, None, None, None, None, False,
                        "not enough users", mode, estimator=est.estimator, raw=est.raw, cuped=est.cuped,
                        notes=list(est.notes))
    if sc.n < 2 or st.n < 2 or not math.isfinite(sc.var) or not math.isfinite(st.var):
        return base, est
    diff = st.mean - sc.mean
    se = math.sqrt(max(sc.var + st.var, 0.0))
    binary = spec.kind == "binary" and est.estimator == "mean"
    dof = None if binary else stats.welch_dof(sc, st)
    label = {"mean": "ratio of sums, delta method", "log": "per-user log mean (geometric-mean ratio)",
             "capped": f"ratio of sums, users capped at p{cap_quantile * 100:g}"}[est.estimator]
    test = f"{'z-test' if binary else 'welch-t'} ({label}{', CUPED' if est.cuped else ''})"
    if se == 0:
        p, ci = (1.0 if diff == 0 else 0.0), [diff, diff]
    elif sequential:
        tau = math.log1p(min_effect) if log else max(abs(min_effect * sc.mean), 1e-12)
        p = stats.msprt_p_value(diff, se, tau)
        half = stats.msprt_half_width(se, tau, alpha)
        ci = [diff - half, diff + half]
        if prior and prior.get("p") is not None:
            p = min(p, float(prior["p"]))
        if prior and prior.get("ci"):
            ci = [max(ci[0], float(prior["ci"][0])), min(ci[1], float(prior["ci"][1]))]
            if ci[0] > ci[1]:  # the running intersection is empty: the effect moved; keep the current look
                ci = [diff - half, diff + half]
        test = f"mSPRT always-valid ({test})"
    else:
        q = float(sps.t.ppf(1 - alpha / 2, dof)) if dof else float(sps.norm.ppf(1 - alpha / 2))
        p = float(2 * (sps.t.sf(abs(diff / se), dof) if dof else sps.norm.sf(abs(diff / se))))
        ci = [diff - q * se, diff + q * se]
    rel = _to_relative(est, diff)
    rel_ci = [_to_relative(est, ci[0]), _to_relative(est, ci[1])]
    if log:
        abs_diff, abs_ci = show_t - show_c, [show_c * math.expm1(ci[0]), show_c * math.expm1(min(ci[1], 700))]
    else:
        abs_diff, abs_ci = diff, list(ci)
    robust = None
    if metric == "latency_ms":
        c_mean, t_mean = control.mean_latencies(), treatment.mean_latencies()
        robust = {"control_median": _q(control, 50), "treatment_median": _q(treatment, 50),
                  "control_p95": _q(control, 95), "treatment_p95": _q(treatment, 95),
                  "p_value": stats.mann_whitney(t_mean, c_mean),
                  "test": "mann-whitney-u on per-user mean latency (descriptive; not used for the decision)",
                  "unit": "user"}
    sign = 1 if spec.direction == "higher" else -1
    rel_scale = 1.0 if log else (1 / abs(sc.mean) if sc.mean else float("nan"))
    bayes = stats.bayes_readout(sign * diff * rel_scale, se * rel_scale) if math.isfinite(rel_scale) else None
    mde_abs = stats.mde(se)
    result = MetricResult(
        metric, spec.direction, unit, base.control, base.treatment, _clean(abs_diff), [float(abs_ci[0]), float(abs_ci[1])],
        rel, rel_ci if rel_ci[0] is not None and rel_ci[1] is not None else None,  # type: ignore[arg-type]
        p, None, False, test, mode, robust=robust, mde_abs=mde_abs,
        mde_rel=_to_relative(est, mde_abs), estimator=est.estimator, raw=est.raw, cuped=est.cuped, bayes=bayes,
        notes=list(est.notes), scale={"effect": diff, "se": se, "dof": dof or 0.0, "ci_low": ci[0], "ci_high": ci[1]})
    return result, est


def _q(arm: Arm, q: float) -> float | None:
    """A latency percentile of the arm's requests (given by the SQL engine, or from request-level values)."""
    if arm.latency_quantiles is not None:
        return arm.latency_quantiles.get(q)
    return float(np.percentile(arm.latencies, q)) if len(arm.latencies) else None


def _worse(m: MetricResult) -> bool:
    return m.abs_diff is not None and (m.abs_diff < 0 if m.direction == "higher" else m.abs_diff > 0)


def analyze(arms: dict[str, Arm], *, planned_split: float, primary: str = "quality_score",
            guardrails: dict[str, float] | None = None, min_effect: float = 0.01, min_samples: int | None = None,
            sequential: bool = False, alpha: float = 0.05, prior_sequential: dict[str, Any] | None = None,
            estimators: dict[str, str] | None = None, cap_quantile: float = 0.99, cuped: bool = True) -> Analysis:
    """Analyse control vs treatment and decide ship / rollback / continue / invalid."""
    guardrails = dict(guardrails or {})
    estimators = dict(estimators or {})
    for name in [primary, *guardrails, *estimators]:
        if name not in METRICS:
            raise InvalidInput(f"unknown metric {name!r}; one of {', '.join(METRICS)}", field="metric")
    for name, value in estimators.items():
        if value not in ESTIMATORS:
            raise InvalidInput(f"unknown estimator {value!r} for {name}; one of {', '.join(ESTIMATORS)}",
                               field="estimator")
    for name, allowance in guardrails.items():
        if not math.isfinite(allowance) or allowance < 0:
            raise InvalidInput(f"guardrail {name}: the allowance must be a finite number >= 0, got {allowance}",
                               field="guardrail")
    if not math.isfinite(min_effect) or min_effect < 0:
        raise InvalidInput(f"min effect must be a finite number >= 0, got {min_effect}", field="min_effect")
    if not 0 < planned_split < 1:
        raise InvalidInput(f"planned split must be in (0, 1), got {planned_split}", field="planned_split")
    if not 0.5 < cap_quantile <= 1:
        raise InvalidInput(f"cap quantile must be in (0.5, 1], got {cap_quantile}", field="cap_quantile")
    control, treatment = arms["control"], arms["treatment"]
    users = {"control": control.user_count, "treatment": treatment.user_count}
    srm = _srm(users, planned_split)
    results: dict[str, MetricResult] = {}
    ests: dict[str, _Estimate] = {}
    for metric in METRICS:
        res, est = analyze_metric(metric, control, treatment, sequential=sequential, min_effect=min_effect,
                                  prior=(prior_sequential or {}).get(metric), estimator=estimators.get(metric),
                                  cap_quantile=cap_quantile, use_cuped=cuped, alpha=alpha)
        results[metric], ests[metric] = res, est
    guards = {name: _guardrail_test(results[name], allowance, ests[name], sequential, min_effect)
              for name, allowance in guardrails.items()}
    family = [("primary", primary, results[primary].p_value)] + [
        ("guardrail", name, g["p_value"]) for name, g in guards.items()]
    usable = [(kind, name, p) for kind, name, p in family if p is not None]
    adjusted = stats.holm([float(p) for _, _, p in usable])
    for (kind, name, _), adj in zip(usable, adjusted, strict=True):
        if kind == "primary":
            r = results[name]
            r.p_value_adjusted, r.significant, r.in_holm_family = adj, adj < alpha, True
        else:
            guards[name]["p_value_adjusted"] = adj
    for r in results.values():
        if not r.in_holm_family:
            r.p_value_adjusted, r.significant = r.p_value, r.p_value is not None and r.p_value < alpha
    for name, g in guards.items():
        g["status"] = _guardrail_status(results[name], g, alpha)
    reasons = [f"Holm correction across the primary {primary} and the guardrails' tests against their allowances "
               f"(alpha {alpha}); unit: user; estimators: "
               + ", ".join(f"{m} {results[m].estimator}" for m in dict.fromkeys([primary, *guardrails]))]
    if sequential:
        reasons.append("sequential mode: always-valid p-values (mSPRT) and confidence sequences, safe to look daily")
    power = _power(results[primary], ests[primary], min_effect, planned_split, users)
    mixed = max(control.mixed_users, treatment.mixed_users)
    data = {"switched_users": control.switched_users, "dropped_requests": control.dropped_requests,
            "mixed_users": mixed}
    decision = _decide(results, primary, guards, min_effect, min_samples, srm, users, power, reasons, mixed)
    return Analysis(decision, reasons, srm, list(results.values()), power, "sequential" if sequential else "fixed",
                    users, guards, data)


def _srm(users: dict[str, int], split: float) -> dict[str, Any]:
    total = users["control"] + users["treatment"]
    planned = {"control": 1 - split, "treatment": split}
    if min(total * split, total * (1 - split)) < SRM_MIN_EXPECTED:
        return {"p_value": 1.0, "ok": True, "assessed": False, "observed": users, "planned": planned}
    p = stats.srm_p_value((users["control"], users["treatment"]), split)
    return {"p_value": p, "ok": p >= SRM_ALPHA, "assessed": True, "observed": users, "planned": planned}


def _guardrail_test(m: MetricResult, allowance: float, est: _Estimate, sequential: bool,
                    min_effect: float) -> dict[str, Any]:
    """The test that the metric is worse than its allowance (on the estimator's scale, harmful direction)."""
    out: dict[str, Any] = {"allowance": allowance, "p_value": None, "p_value_adjusted": None,
                           "observed_harm": None, "harm_ci": None, "estimator": m.estimator}
    if m.scale is None:
        return out
    sign = -1 if m.direction == "higher" else 1
    effect, se, dof = m.scale["effect"], m.scale["se"], m.scale["dof"] or None
    if m.rel_diff is None:  # a control at zero (no errors at all): only "no change" is within any allowance
        observed = 0.0 if effect == 0 else math.copysign(math.inf, sign * effect)
        p = stats.shifted_p_value(sign * effect, se, dof, 0.0)
        out.update(p_value=p, observed_harm=observed, harm_ci=None)
        return out
    threshold = math.log1p(allowance) if est.estimator == "log" else allowance * abs(est.sc.mean)
    harm = sign * effect
    if sequential:
        tau = math.log1p(min_effect) if est.estimator == "log" else max(abs(min_effect * est.sc.mean), 1e-12)
        p = stats.msprt_p_value(harm - threshold, se, tau) if harm > threshold else 1.0
    else:
        p = stats.shifted_p_value(harm, se, dof, threshold)
    lo, hi = sorted(sign * r for r in (m.rel_ci or [m.rel_diff, m.rel_diff]))  # type: ignore[operator]
    out.update(p_value=p, observed_harm=sign * m.rel_diff, harm_ci=[lo, hi])
    return out


def _guardrail_status(m: MetricResult, g: dict[str, Any], alpha: float) -> str:
    """breached (significantly worse than the allowance), holds, or insufficient evidence."""
    if g["p_value_adjusted"] is None:
        return "insufficient"
    if g["p_value_adjusted"] < alpha and g["observed_harm"] > g["allowance"]:
        return "breached"
    if g["observed_harm"] > g["allowance"] + LARGE_REGRESSION:
        return "insufficient"  # a large observed regression on a wide interval is not a pass
    return "holds"


def _power(res: MetricResult, est: _Estimate, min_effect: float, split: float,
           users: dict[str, int]) -> dict[str, Any]:
    sc, st = est.sc, est.st
    out: dict[str, Any] = {"metric": res.metric, "mde_abs": res.mde_abs, "mde_rel": res.mde_rel,
                           "min_effect": min_effect}
    var_c = sc.var * sc.n if sc.n >= 2 and math.isfinite(sc.var) else None
    var_t = st.var * st.n if st.n >= 2 and math.isfinite(st.var) else var_c
    if var_c is None and var_t is not None:
        var_c = var_t
    if var_c is None or var_t is None or not math.isfinite(sc.mean if sc.n else float("nan")):
        return out
    effect = math.log1p(min_effect) if est.estimator == "log" else min_effect * abs(sc.mean)
    per_arm = stats.users_needed(var_c, var_t, effect) if effect else None
    if per_arm is not None:
        total = int(math.ceil(per_arm / min(split, 1 - split)))
        out.update(users_per_arm_needed=per_arm, users_total_needed=total,
                   more_users_needed=max(0, total - users["control"] - users["treatment"]))
    return out


def _pct(ci: Any) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "[n/a]"
    return f"[{ci[0]:+.2%}, {ci[1]:+.2%}]"


def _needed_text(power: dict[str, Any], min_samples: int | None, min_effect: float) -> str:
    more = power.get("more_users_needed")
    if more:
        return f"about {more} more users are needed to detect a {min_effect:.1%} effect"
    if power.get("users_per_arm_needed"):
        return "the planned sample is reached"
    floor = max(min_samples or 0, 2)
    return f"at least {floor} users per arm are needed before anything can be estimated"


def _decide(results: dict[str, MetricResult], primary: str, guards: dict[str, dict[str, Any]], min_effect: float,
            min_samples: int | None, srm: dict[str, Any], users: dict[str, int], power: dict[str, Any],
            reasons: list[str], mixed: int = 0) -> Decision:
    if min(users.values()) < 2:
        reasons.append(f"not enough evidence: no traffic yet in every arm ({users}); "
                       + _needed_text(power, min_samples, min_effect))
        return "continue"
    if not srm["ok"]:
        reasons.append(f"sample-ratio mismatch: users {users} against planned treatment share "
                       f"{srm['planned']['treatment']:.3f} (chi-square p={srm['p_value']:.2e} < {SRM_ALPHA}); "
                       "no ship or rollback decision on this data")
        return "invalid"
    if mixed:
        reasons.append(f"data problem: {mixed} users appear in both arms (routing must be by user); excluded, "
                       "no decision on this data")
        return "invalid"
    p = results[primary]
    breached, insufficient = [], []
    for name, g in guards.items():
        m = results[name]
        if m.rel_diff is not None:
            change = f"{m.rel_diff:+.2%} (95% CI {_pct(m.rel_ci)}, {m.estimator} estimator)"
        elif g["observed_harm"] == 0:
            change = "none (zero in both arms)"
        elif g["observed_harm"] is not None:
            change = f"from zero in control to {m.treatment['mean']:.4g}"
        else:
            change = "not estimable yet"
        adj = f"adjusted p={g['p_value_adjusted']:.3g}" if g["p_value_adjusted"] is not None else "no test"
        if g["status"] == "breached":
            breached.append(name)
            reasons.append(f"guardrail {name} significantly worse beyond its allowance {g['allowance']:.1%}: "
                           f"{change}, {adj}")
        elif g["status"] == "insufficient":
            insufficient.append(name)
            reasons.append(f"guardrail {name}: not enough evidence that it holds (allowance {g['allowance']:.1%}, "
                           f"change {change}, {adj})")
        else:
            reasons.append(f"guardrail {name} holds (allowance {g['allowance']:.1%}, change {change}, {adj})")
    if p.significant and _worse(p):
        reasons.append(f"primary {primary} significantly worse: {p.rel_diff:+.2%} (95% CI {_pct(p.rel_ci)}), "
                       f"adjusted p={p.p_value_adjusted:.3g}")
        return "rollback"
    if breached:
        return "rollback"
    if min_samples and min(users.values()) < min_samples:
        reasons.append(f"fewer than {min_samples} users per arm so far ({users}); continue")
        return "continue"
    if insufficient:
        reasons.append(f"not enough evidence on {', '.join(insufficient)}: no ship or advance until it holds; "
                       + _needed_text(power, min_samples, min_effect))
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
                   f"p={(p.p_value_adjusted or 1):.3g}); " + _needed_text(power, min_samples, min_effect))
    return "continue"
