"""Per-arm sufficient statistics of every A/B metric, computed in DuckDB from the engine's per-user table.

The DuckDB engine leaves its one-row-per-user table (``per_user``: ``arm``, the sums of ``tasks.ab.sql.SUMS``,
``dropped``, ``pre_*``) in the connection, and the analysis asks it for what each estimator needs instead of
fetching per-user vectors — GrowthBook's split between its SQL layer and gbstats. For one metric
(per-user sums ``y`` and counts ``x``, users with ``x > 0``):

1. pooled over both arms, when the estimator is ``log`` or ``capped``: the smallest ``y`` (the log scale
   needs every user positive, else the capped mean is used, as in ``tasks.ab.analysis``) and the cap, the
   percentile of the per-user means;
2. per arm: users, ``sum(y)``, ``sum(x)`` (or ``sum(log(y/x))``) and the covariate's count and sum;
3. per arm, centred on the estimates of step 2: ``sum(u^2)`` of the influence values and, for CUPED,
   ``sum(d^2)`` and ``sum(u d)`` against the centred covariate (``tasks.stats.CovSums``).

Two passes over centred values, as numpy computes them, so the results equal the per-user path to 1e-9
(``same_analysis`` in ``tests/tasks/ab/test_engine.py`` checks them against both vector paths); only the
per-user mean latency (for the descriptive Mann-Whitney test) is fetched as a vector. Memory is DuckDB's table (out of core past the memory limit), not Python's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks import stats
from tasks.ab.data import METRIC_SUMS

if TYPE_CHECKING:
    import duckdb

MIN_COVARIATE_USERS = 10  # as tasks.stats.cuped
LOG_NEEDS_POSITIVE = "log scale needs positive values (some users have 0): capped mean instead"


@dataclass
class Estimate:
    """One metric's estimates (``tasks.ab.analysis.estimate``, from vectors or from these sums): the estimator
    used, both arms' estimates on its scale, the raw means, the CUPED figures and notes."""

    estimator: str
    sc: stats.ArmStat
    st: stats.ArmStat
    raw: dict[str, Any]
    cuped: dict[str, Any] | None
    notes: list[str]


class UserTable:
    """The engine's connection holding ``per_user`` (``open_arms_sql`` closes it when its block ends)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, pre_period: bool) -> None:
        self.con, self.pre_period = con, pre_period

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def mean_latencies(self, code: int) -> np.ndarray:
        """Each user's mean latency in arm ``code`` (for the rank test)."""
        col = self.con.execute(f"SELECT latency / GREATEST(n, 1) AS v FROM per_user WHERE arm = {code}").fetchnumpy()
        return np.asarray(col["v"], dtype=np.float64)

    def estimate(self, metric: str, estimator: str, *, cap_quantile: float, use_cuped: bool) -> Estimate:
        """Both arms' estimates of ``metric`` with ``estimator`` (see the module docstring)."""
        y, x = METRIC_SUMS[metric]
        kept = f"FROM per_user WHERE arm IN (0, 1) AND {x} > 0"
        estimator, cap, notes = self._pooled(estimator, y, x, kept, cap_quantile)
        cov = _covariate_sql(estimator, f"pre_{y}", f"pre_{x}", cap) if use_cuped and self.pre_period else None
        value, weight = _value_sql(estimator, y, x, cap)
        first = {int(r[0]): r[1:] for r in self._rows(
            f"SELECT arm, COUNT(*), SUM({value}), SUM({weight}), SUM({y}), SUM({x}), COUNT(c), SUM(c) "
            f"FROM (SELECT arm, {y}, {x}, {cov or 'NULL'} AS c {kept}) GROUP BY arm")}
        n = {a: int(first[a][0]) if a in first else 0 for a in (0, 1)}
        scale = estimator
        if not n[0] or not n[1]:  # an arm without users: plain ratios, as the per-user path gives
            scale, cov = "mean", None
            value, weight = _value_sql("mean", y, x, cap)
            first = {a: (row[0], row[3], row[4], *row[3:]) for a, row in first.items()}
        observed = sum(int(row[5]) for row in first.values())
        adjust = cov is not None and n[0] >= 2 and n[1] >= 2 and observed >= MIN_COVARIATE_USERS
        sums = self._centred(scale, value, weight, cov if adjust else None, first, n, observed, kept)
        sc, st = (stats.level_stat(s.center, s.n, s.uu) for s in (sums[0], sums[1]))
        info = None
        adjusted = stats.cuped_from_sums(sums[0], sums[1], observed) if adjust else None
        if adjusted is not None:
            sc, st = adjusted.control, adjusted.treatment
            info = {"theta": adjusted.theta, "variance_reduction": adjusted.variance_reduction,
                    "users_with_pre_period": adjusted.users_with_covariate}
        return Estimate(estimator, sc, st, _raw(first), info, notes)

    def _pooled(self, estimator: str, y: str, x: str, kept: str,
                cap_quantile: float) -> tuple[str, float, list[str]]:
        """The estimator actually used (log needs every user positive, else capped) and the cap: the
        ``cap_quantile`` of per-user means over both arms (NaN when the estimator needs none)."""
        if estimator not in ("log", "capped"):
            return estimator, math.nan, []
        smallest, cap = self._rows(f"SELECT MIN({y}), quantile_cont({y} / {x}, {num(cap_quantile)}) {kept}")[0]
        if estimator == "log" and smallest is not None and smallest <= 0:
            return "capped", cap, [LOG_NEEDS_POSITIVE]
        return estimator, cap, []

    def _centred(self, scale: str, value: str, weight: str, cov: str | None, first: dict[int, tuple[Any, ...]],
                 n: dict[int, int], observed: int, kept: str) -> dict[int, stats.CovSums]:
        """Each arm's second pass, centred on the first pass' estimate: ``sum(u^2)`` of the influence values
        and, with a covariate ``cov``, ``sum(d^2)`` and ``sum(u d)`` (users without one get the pooled mean)."""
        center = {a: _center(scale, first.get(a), n[a]) for a in (0, 1)}
        fill = sum(float(row[6] or 0) for row in first.values()) / observed if cov is not None else 0.0
        cc_mean = {a: (float(first[a][6] or 0) + (n[a] - int(first[a][5])) * fill) / n[a] if cov is not None else 0.0
                   for a in (0, 1)}
        if scale == "log":
            u = f"({value}) - {_per_arm(center)}"
        else:
            mean_x = {a: float(first[a][2]) / n[a] if n[a] else 1.0 for a in (0, 1)}
            u = f"(({value}) - {_per_arm(center)} * ({weight})) / {_per_arm(mean_x)}"
        d = f"COALESCE({cov}, {num(fill)}) - {_per_arm(cc_mean)}" if cov is not None else "0.0"
        second = {int(r[0]): r[1:] for r in self._rows(
            f"SELECT arm, SUM(u * u), SUM(d * d), SUM(u * d) FROM (SELECT arm, {u} AS u, {d} AS d {kept}) "
            "GROUP BY arm")}
        part = {a: tuple(float(v or 0) for v in second.get(a, (0.0, 0.0, 0.0))) for a in (0, 1)}
        return {a: stats.CovSums(n[a], center[a], part[a][0], cc_mean[a], part[a][1], part[a][2]) for a in (0, 1)}


def num(value: float) -> str:
    """A float as an exact SQL DOUBLE (the shortest repr round-trips; ``nan`` and ``inf`` included)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _per_arm(values: dict[int, float]) -> str:
    return f"(CASE WHEN arm = 0 THEN {num(values[0])} ELSE {num(values[1])} END)"


def _value_sql(estimator: str, y: str, x: str, cap: float) -> tuple[str, str]:
    """The per-user value the estimator sums, and its weight."""
    if estimator == "log":
        return f"ln({y} / {x})", "1"
    if estimator == "capped":
        return f"LEAST({y} / {x}, {num(cap)}) * {x}", x
    return y, x


def _covariate_sql(estimator: str, y0: str, x0: str, cap: float) -> str:
    """The user's pre-period value on the estimator's scale, NULL where there is none."""
    ok = f"{x0} > 0 AND isfinite({y0} / {x0})"
    if estimator == "log":
        return f"CASE WHEN {ok} AND {y0} / {x0} > 0 THEN ln({y0} / {x0}) END"
    if estimator == "capped":
        return f"CASE WHEN {ok} THEN LEAST({y0} / {x0}, {num(cap)}) END"
    return f"CASE WHEN {ok} THEN {y0} / {x0} END"


def _center(estimator: str, row: tuple[Any, ...] | None, n: int) -> float:
    """The arm's estimate from its first-pass sums: a ratio of sums, or the mean of per-user logs."""
    if row is None or not n:
        return math.nan
    if estimator == "log":
        return float(row[1]) / n
    return float(row[1]) / float(row[2]) if float(row[2]) else math.nan


def clean(value: float | None) -> float | None:
    """A finite float, or None."""
    return None if value is None or not math.isfinite(value) else float(value)


def _raw(first: dict[int, tuple[Any, ...]]) -> dict[str, Any]:
    """The raw means of the first pass' rows (``sum(y)``, ``sum(x)`` at 3 and 4)."""
    def sums(a: int) -> tuple[float, float]:
        row = first.get(a)
        return (float(row[3] or 0), float(row[4] or 0)) if row is not None else (0.0, 0.0)

    return raw_means(*sums(0), *sums(1))


def raw_means(sy_c: float, sx_c: float, sy_t: float, sx_t: float) -> dict[str, Any]:
    """Each arm's plain mean (sum of y over sum of x; None without any x) and their relative difference."""
    raw: dict[str, Any] = {"control_mean": clean(sy_c / sx_c) if sx_c else None,
                           "treatment_mean": clean(sy_t / sx_t) if sx_t else None}
    if raw["control_mean"] and raw["treatment_mean"] is not None:
        raw["rel_diff"] = raw["treatment_mean"] / raw["control_mean"] - 1
    return raw


@dataclass
class SummaryArm:
    """One arm of a DuckDB-engine analysis: counts and quantiles here, everything per user in ``table``."""

    table: UserTable
    code: int
    user_count: int
    mixed_users: int = 0
    switched_users: int = 0
    dropped_requests: int = 0
    experiment_ids: list[str] = field(default_factory=list)
    latency_quantiles: dict[float, float | None] | None = None
    latencies: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def mean_latencies(self) -> np.ndarray:
        return self.table.mean_latencies(self.code)
