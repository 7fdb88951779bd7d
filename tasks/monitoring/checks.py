"""The monitor's decision per version and metric: ok / degraded (or insufficient data), at the user level.

For each version that served in the window (default the last 24 h) the window is compared with the
baseline window (default the 7 days before it): the same version's traffic when it has enough users
there, else the model's traffic in that environment (so a new version is compared with what served
before it). Every metric is a ratio of per-user sums with a delta-method variance (``tasks.stats``, the
A/B machinery); latency quantiles are tested through the share of requests slower than the baseline's
quantile, a user-level ratio that is 5% for p95 when nothing changed. A metric is **degraded** when

- both windows have at least ``min_users`` users (users with feedback, for feedback metrics),
- the change in the harmful direction is beyond the metric's practical threshold, and
- its test (Welch's t, a z-test for rates) is significant at ``alpha`` after Holm across the version's metrics.

Default thresholds: quality and thumbs-up rate -3% relative, error rate +1 point, p50 and p95 latency
+25%, cost per 1k requests +20%, tokens per request +25%; the feedback rate is shown, not decided.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from registry.errors import InvalidInput
from tasks import stats
from tasks.ab.analysis import Metric
from tasks.monitoring.data import LogColumns

Status = Literal["ok", "degraded", "insufficient"]
MONITOR_METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("quality_score", "higher", "continuous"), Metric("thumbs_up_rate", "higher", "binary"),
    Metric("error_rate", "lower", "binary"), Metric("latency_p50_ms", "lower", "binary"),
    Metric("latency_p95_ms", "lower", "binary"), Metric("cost_per_1k_usd", "lower", "continuous"),
    Metric("tokens_per_request", "lower", "continuous"), Metric("feedback_rate", "higher", "binary"))}
# (kind, default): relative thresholds are fractions of the baseline, absolute ones are in the metric's units.
DEFAULT_THRESHOLDS: dict[str, tuple[str, float | None]] = {
    "quality_score": ("relative", 0.03), "thumbs_up_rate": ("relative", 0.03), "error_rate": ("absolute", 0.01),
    "latency_p50_ms": ("relative", 0.25), "latency_p95_ms": ("relative", 0.25),
    "cost_per_1k_usd": ("relative", 0.20), "tokens_per_request": ("relative", 0.25),
    "feedback_rate": ("relative", None)}
FEEDBACK_METRICS = ("quality_score", "thumbs_up_rate")
PARTS = {"quality_score": ("q_sum", "q_n"), "thumbs_up_rate": ("t_sum", "t_n"), "error_rate": ("errors", "n"),
          "latency_p50_ms": ("ex50", "n"), "latency_p95_ms": ("ex95", "n"), "cost_per_1k_usd": ("cost1k", "n"),
          "tokens_per_request": ("tokens", "n"), "feedback_rate": ("fb", "n")}


@dataclass
class MetricCheck:
    """One metric of one version: the baseline and current values, the change, the test, the status."""

    metric: str
    status: Status
    baseline: float | None
    current: float | None
    change: float | None
    change_kind: str
    threshold: float | None
    p_value: float | None
    p_value_adjusted: float | None
    users_baseline: int
    users_current: int
    test: str
    unit: str = "user"


@dataclass
class VersionCheck:
    """One version that served in the window, against its baseline."""

    model: str
    version: int
    status: Status
    requests: int
    users: int
    baseline_source: str  # "version" (its own earlier traffic) or "model" (the model's earlier traffic)
    baseline_requests: int
    metrics: list[MetricCheck]
    evaluation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SliceStats:
    """One slice of the log (a version's window or a baseline): its requests, users, latency quantiles and,
    per metric, the ratio of per-user sums with its delta-method variance: all the decision needs."""

    rows: int
    users: int
    q50: float
    q95: float
    metrics: dict[str, stats.ArmStat]


def resolve_thresholds(overrides: dict[str, float] | None) -> dict[str, tuple[str, float | None]]:
    """Defaults with per-model overrides (``{metric: value}``; a negative or unknown entry is bad input)."""
    out = dict(DEFAULT_THRESHOLDS)
    for name, value in (overrides or {}).items():
        if name not in out:
            raise InvalidInput(f"unknown monitor metric {name!r}; one of {', '.join(out)}", field="threshold")
        if not math.isfinite(value) or value < 0:
            raise InvalidInput(f"threshold of {name} must be a finite number >= 0, got {value}", field="threshold")
        out[name] = (out[name][0], float(value))
    return out


def user_sums(cols: LogColumns, idx: np.ndarray, q50: float, q95: float) -> dict[str, np.ndarray]:
    """Per-user sums over the rows ``idx`` (exceedances against the baseline quantiles ``q50``/``q95``)."""
    users = cols.user[idx]
    n = np.bincount(users, minlength=cols.users)
    present = n > 0

    def total(weights: np.ndarray | None = None) -> np.ndarray:
        if weights is None:
            return n[present].astype(np.float64)
        return np.bincount(users, weights=weights, minlength=cols.users)[present]

    latency, quality, thumbs = cols.latency[idx], cols.quality[idx], cols.thumbs[idx]
    q_ok, t_ok = ~np.isnan(quality), ~np.isnan(thumbs)
    return {"n": total(), "errors": total(cols.error[idx]), "cost1k": total(cols.cost[idx] * 1000),
            "tokens": total(cols.tokens[idx]), "q_sum": total(np.where(q_ok, quality, 0.0)),
            "q_n": total(q_ok.astype(np.float64)), "t_sum": total(np.where(t_ok, thumbs, 0.0)),
            "t_n": total(t_ok.astype(np.float64)), "fb": total((q_ok | t_ok).astype(np.float64)),
            "ex50": total((latency > q50).astype(np.float64)), "ex95": total((latency > q95).astype(np.float64))}


def _quantiles(values: np.ndarray) -> tuple[float, float]:
    if not len(values):
        return float("nan"), float("nan")
    q50, q95 = np.percentile(values, [50, 95])
    return float(q50), float(q95)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _harmful_change(spec: Metric, kind: str, baseline: float, current: float) -> tuple[float | None, bool]:
    """(the change shown: relative or absolute, whether it is a change in the harmful direction)."""
    worse = current < baseline if spec.direction == "higher" else current > baseline
    if kind == "absolute":
        return current - baseline, worse
    if baseline == 0:
        return (0.0 if current == 0 else None), worse
    return current / baseline - 1, worse


def _metric(name: str, sb: stats.ArmStat, sc: stats.ArmStat, threshold: tuple[str, float | None],
            min_users: int, shown: tuple[float, float] | None) -> MetricCheck:
    spec = MONITOR_METRICS[name]
    kind, limit = threshold
    b_value, c_value = shown if shown is not None else (sb.mean, sc.mean)
    test = ("share of requests above the baseline quantile, z-test" if shown is not None
            else "z-test" if spec.kind == "binary" else "welch-t") + " on ratios of per-user sums (delta method)"
    check = MetricCheck(name, "insufficient", _finite(b_value), _finite(c_value), None, kind, limit, None, None,
                        sb.n, sc.n, test)
    if not (math.isfinite(b_value) and math.isfinite(c_value)):
        return check
    change, _ = _harmful_change(spec, kind, b_value, c_value)
    check.change = _finite(change) if change is not None else None
    if sb.n < min_users or sc.n < min_users or not (math.isfinite(sb.var) and math.isfinite(sc.var)):
        return check
    harm = (sc.mean - sb.mean) * (1 if spec.direction == "lower" else -1)
    se = math.sqrt(max(sb.var + sc.var, 0.0))
    dof = None if spec.kind == "binary" else stats.welch_dof(sb, sc)
    check.p_value = stats.shifted_p_value(harm, se, dof, 0.0) if harm > 0 else 1.0
    check.status = "ok"
    return check


def _beyond(spec: Metric, check: MetricCheck) -> bool:
    """The observed change is harmful and beyond the practical threshold."""
    if check.threshold is None or check.baseline is None or check.current is None:
        return False
    change, worse = _harmful_change(spec, check.change_kind, check.baseline, check.current)
    if not worse:
        return False
    return change is None or abs(change) > check.threshold


def slice_stats(sums: dict[str, np.ndarray], rows: int, q50: float, q95: float) -> SliceStats:
    """A slice's statistics from its per-user sums (the Arrow engine; the DuckDB one aggregates in SQL)."""
    metrics = {}
    for name, (y_name, x_name) in PARTS.items():
        keep = sums[x_name] > 0
        metrics[name] = stats.ratio_level(sums[y_name][keep], sums[x_name][keep]).stat()
    return SliceStats(rows, int(len(sums["n"])), q50, q95, metrics)


def check_version(model: str, version: int, cols: LogColumns, base_idx: np.ndarray, cur_idx: np.ndarray,
                  baseline_source: str, thresholds: dict[str, tuple[str, float | None]], *, min_users: int,
                  alpha: float) -> VersionCheck:
    """Every metric of one version, window ``cur_idx`` against baseline ``base_idx`` (row indices)."""
    b50, b95 = _quantiles(cols.latency[base_idx])
    c50, c95 = _quantiles(cols.latency[cur_idx])
    base = slice_stats(user_sums(cols, base_idx, b50, b95), int(len(base_idx)), b50, b95)
    cur = slice_stats(user_sums(cols, cur_idx, b50, b95), int(len(cur_idx)), c50, c95)
    return decide(model, version, base, cur, baseline_source, thresholds, min_users=min_users, alpha=alpha)


def decide(model: str, version: int, base: SliceStats, cur: SliceStats, baseline_source: str,
           thresholds: dict[str, tuple[str, float | None]], *, min_users: int, alpha: float) -> VersionCheck:
    """Every metric of one version from both windows' statistics (whichever engine computed them)."""
    shown = {"latency_p50_ms": (base.q50, cur.q50), "latency_p95_ms": (base.q95, cur.q95)}
    checks = [_metric(name, base.metrics[name], cur.metrics[name], thresholds[name], min_users, shown.get(name))
              for name in MONITOR_METRICS]
    decided = [c for c in checks if c.p_value is not None and c.threshold is not None]
    for check, adjusted in zip(decided, stats.holm([float(c.p_value or 1.0) for c in decided]), strict=True):
        check.p_value_adjusted = adjusted
        if adjusted < alpha and _beyond(MONITOR_METRICS[check.metric], check):
            check.status = "degraded"
    status: Status = "degraded" if any(c.status == "degraded" for c in checks) else (
        "ok" if any(c.status == "ok" for c in checks) else "insufficient")
    return VersionCheck(model, version, status, cur.rows, cur.users, baseline_source, base.rows, checks)
