"""The monitor's DuckDB engine (the default): the window, model, environment and version filters, the
feedback join, the latency quantiles and the per-user sums run in SQL; only per-slice numbers reach Python.

A *slice* is a set of rows one statistic is about: a version's current window, its own baseline, or the
model's pooled baseline (every version's earlier traffic). Four aggregations, each one scan:

1. per (model, version, window) and per (model, window): requests, users, latency median and p95;
2. per needed slice: the sums of each metric's numerator and denominator (their ratio ``r``), with the
   latency exceedances counted against the baseline's quantiles (known from 1.);
3. per needed slice: users with a denominator and ``sum((y - r x)^2)`` over per-user sums ``(y, x)``:
   the delta-method variance, computed in two passes (as the Arrow engine does), not from raw moments;
4. per (model, version, chart bucket [, latency bin]): the chart's sums and latency histogram.

``tasks.monitoring.data.load_columns`` with ``monitor.monitor_columns`` (``engine="arrow"``) is the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from registry.errors import InvalidInput
from tasks import stats
from tasks.ab.checks import locate_text
from tasks.ab.scan import duckdb_errors, number_sql, run, table_scan, typed_view
from tasks.duck import connect, quote
from tasks.monitoring.checks import PARTS, SliceStats, VersionCheck, decide, resolve_thresholds
from tasks.monitoring.data import COLUMNS, REQUIRED, is_table, micros

if TYPE_CHECKING:
    import duckdb

    from tasks.monitoring.monitor import MonitorReport, Series

# The per-user hash aggregation is the peak; one thread keeps one copy of it (as the A/B engine does).
THREADS = 1
MEMORY_LIMIT = "2GB"  # beyond it DuckDB spills its hash tables to disk
# per-user sums of a slice: name -> SQL over one row of ``sliced`` (``s`` the slice, ``m`` the row)
USER_SUMS = {"n": "1.0", "errors": "m.error", "cost1k": "m.cost * 1000", "tokens": "m.tokens",
             "q_sum": "COALESCE(m.quality, 0.0)", "q_n": "CAST(m.quality IS NOT NULL AS DOUBLE)",
             "t_sum": "COALESCE(m.thumbs, 0.0)", "t_n": "CAST(m.thumbs IS NOT NULL AS DOUBLE)",
             "fb": "CAST(m.quality IS NOT NULL OR m.thumbs IS NOT NULL AS DOUBLE)",
             "ex50": "CAST(COALESCE(m.latency > s.b50, false) AS DOUBLE)",
             "ex95": "CAST(COALESCE(m.latency > s.b95, false) AS DOUBLE)"}


@dataclass
class Group:
    """One (model, version) in one window, or (version None) the model's traffic in it."""

    rows: int
    users: int
    q50: float
    q95: float


@dataclass(frozen=True)
class Slice:
    """A slice to aggregate: (model, version or None for the model's pooled baseline, current window?)."""

    model: str
    version: int | None
    current: bool


def _rows_sql(con: duckdb.DuckDBPyConnection, source: str, since: datetime, until: datetime) -> tuple[str, str | None, dict[str, str]]:
    """The input typed as the monitor reads it: (its SELECT, the table's scan or None, the table's types).

    A request log is read with its latest feedback joined (``tasks.request_log``); a table through
    ``tasks.ab.scan`` with the request-log columns' types (version as a number, environment as text).
    """
    if not is_table(source):
        from tasks.request_log import register_log_views, scored_sql

        register_log_views(con, source, since.astimezone(UTC).date(), until.astimezone(UTC).date())
        return ("SELECT model, CAST(version AS DOUBLE) AS version, environment, user_id, timestamp, "
                "CAST(latency_ms AS DOUBLE) AS latency_ms, CAST(cost_usd AS DOUBLE) AS cost_usd, "
                "CAST(error AS DOUBLE) AS error, CAST(input_tokens AS DOUBLE) AS input_tokens, "
                "CAST(output_tokens AS DOUBLE) AS output_tokens, quality_score, thumbs_up "
                f"FROM ({scored_sql('requests_log')}) scored", None, {})
    scan, types = table_scan(con, source)
    missing = [c for c in REQUIRED if c not in types]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}", file=source,
                           field=missing[0])
    env = 'CAST("environment" AS VARCHAR)' if "environment" in types else "CAST(NULL AS VARCHAR)"
    return (f"SELECT *, {number_sql('version', types['version'])} AS version_number, {env} AS env_text "
            f"FROM ({typed_view(scan, types, extra=('version', 'environment'))}) typed", scan, types)


def _open(con: duckdb.DuckDBPyConnection, source: str, *, since: datetime, until: datetime, current_from: datetime,
          model: str | None, environment: str | None) -> tuple[str | None, dict[str, str]]:
    """Relation ``monitored``: the rows in ``[since, until)`` of the model and environment, with a version
    (no environment counts as production), their numbers as the checks take them (missing is 0, except the
    scores) and ``cur``, whether a row is in the current window. Parquet is scanned in place by each query;
    a text table or a request log is read once into a temporary table of the selected rows."""
    select, scan, types = _rows_sql(con, source, since, until)
    version, env = ("version_number", "env_text") if scan is not None else ("version", "environment")
    ts = "epoch_us(timestamp)"
    where = [f"{ts} >= {micros(since)}", f"{ts} < {micros(until)}", "model IS NOT NULL",
             f"{version} IS NOT NULL", f"isfinite({version})"]
    if model is not None:
        where.append(f"model = {quote(model)}")
    if environment is not None and (scan is None or "environment" in types):
        where.append(f"COALESCE({env}, 'production') = {quote(environment)}")
    kind = "VIEW" if source.lower().endswith(".parquet") else "TEMP TABLE"
    sql = (f"CREATE {kind} monitored AS SELECT model, CAST(trunc({version}) AS BIGINT) AS version, user_id, "
           f"{ts} AS ts, {ts} >= {micros(current_from)} AS cur, COALESCE(latency_ms, 0.0) AS latency, "
           "COALESCE(cost_usd, 0.0) AS cost, COALESCE(error, 0.0) AS error, "
           "COALESCE(input_tokens, 0.0) + COALESCE(output_tokens, 0.0) AS tokens, quality_score AS quality, "
           f"thumbs_up AS thumbs FROM ({select}) typed_rows WHERE {' AND '.join(where)}")
    with _readable(con, source, scan, types):
        con.execute(sql)
    return scan, types


@contextmanager
def _readable(con: duckdb.DuckDBPyConnection, source: str, scan: str | None, types: dict[str, str]) -> Iterator[None]:
    """DuckDB errors as the project's; text where a number or a time belongs names its row and field."""
    import duckdb

    with duckdb_errors(source):
        try:
            yield
        except duckdb.ConversionException:
            if scan is not None:
                locate_text(con, source, scan, types)
            raise


def _groups(con: duckdb.DuckDBPyConnection, source: str) -> dict[tuple[str, int | None, bool], Group]:
    """Requests, users (each anonymous request a user of its own) and latency quantiles per (model, version,
    window) and per (model, window); checks that the scores lie in [0, 1]."""
    rows = run(con, """SELECT model, version, cur, COUNT(*), COUNT(DISTINCT user_id) + COUNT(*) FILTER (WHERE
user_id IS NULL), quantile_cont(latency, [0.5, 0.95]), MIN(quality), MAX(quality), MIN(thumbs), MAX(thumbs)
FROM monitored GROUP BY GROUPING SETS ((model, version, cur), (model, cur))""", source).fetchall()
    for i, name in ((6, "quality_score"), (8, "thumbs_up")):
        if any(r[i] is not None and (r[i] < 0 or r[i + 1] > 1) for r in rows):
            raise InvalidInput(f"{name} must be in [0, 1]", file=source, field=name)
    return {(str(r[0]), None if r[1] is None else int(r[1]), bool(r[2])):
            Group(int(r[3]), int(r[4]), float(r[5][0]), float(r[5][1])) for r in rows}


def _create_slices(con: duckdb.DuckDBPyConnection, source: str, slices: list[Slice],
                   thresholds: list[tuple[float, float]]) -> None:
    """Table ``slices`` (their number, key and the baseline latency quantiles the exceedances count against)
    and view ``sliced``: each row of ``monitored`` once per slice it belongs to, as per-row metric parts."""
    import pyarrow as pa

    table = pa.table({"slice": list(range(len(slices))), "model": [s.model for s in slices],
                      "version": pa.array([s.version for s in slices], pa.int64()),
                      "cur": [s.current for s in slices],
                      "b50": pa.array([None if math.isnan(t[0]) else t[0] for t in thresholds], pa.float64()),
                      "b95": pa.array([None if math.isnan(t[1]) else t[1] for t in thresholds], pa.float64())})
    con.register("slice_keys", table)
    run(con, "CREATE TEMP TABLE slices AS SELECT * FROM slice_keys", source)
    con.unregister("slice_keys")
    parts = ", ".join(f"{sql} AS {name}" for name, sql in USER_SUMS.items())
    run(con, f"CREATE VIEW sliced AS SELECT s.slice, m.user_id, {parts} FROM monitored m JOIN slices s "
             "ON s.model = m.model AND s.cur = m.cur AND (s.version = m.version OR s.version IS NULL)", source)


def _slice_stats(con: duckdb.DuckDBPyConnection, source: str, slices: list[Slice],
                 groups: dict[tuple[str, int | None, bool], Group]) -> list[SliceStats]:
    """Each slice's per-metric ratio and delta-method variance: the ratios from row sums, then the per-user
    residuals against them (anonymous requests are users of their own)."""
    totals = ", ".join(f"SUM({name}) AS {name}" for name in USER_SUMS)
    run(con, f"CREATE TEMP TABLE ratios AS SELECT slice, {totals} FROM sliced GROUP BY slice", source)
    ratios = {int(r[0]): dict(zip(USER_SUMS, r[1:], strict=True))
              for r in run(con, "SELECT * FROM ratios", source).fetchall()}
    r_sql = {m: f"(t.{y} / NULLIF(t.{x}, 0))" for m, (y, x) in PARTS.items()}
    resid = ", ".join(f"COUNT(*) FILTER (WHERE u.{x} > 0), COALESCE(SUM((u.{y} - {r_sql[m]} * u.{x}) ** 2) "
                      f"FILTER (WHERE u.{x} > 0), 0)" for m, (y, x) in PARTS.items())
    users = run(con, f"""SELECT u.slice, COUNT(*), {resid} FROM (
  SELECT slice, {totals} FROM sliced
  GROUP BY slice, user_id, CASE WHEN user_id IS NULL THEN gen_random_uuid() END) u
JOIN ratios t ON t.slice = u.slice GROUP BY u.slice""", source).fetchall()
    by_slice = {int(r[0]): r[1:] for r in users}
    out = []
    for i, key in enumerate(slices):
        group = groups.get((key.model, key.version, key.current))
        row = by_slice.get(i, (0,) + (0, 0.0) * len(PARTS))
        sums = ratios.get(i, {})
        metrics = {m: _arm_stat(float(sums.get(y) or 0.0), float(sums.get(x) or 0.0), int(row[1 + 2 * k]),
                                float(row[2 + 2 * k]))
                   for k, (m, (y, x)) in enumerate(PARTS.items())}
        out.append(SliceStats(group.rows if group else 0, int(row[0]), group.q50 if group else math.nan,
                              group.q95 if group else math.nan, metrics))
    return out


def _arm_stat(sy: float, sx: float, n: int, resid2: float) -> stats.ArmStat:
    """``stats.ratio_level(y, x).stat()`` from the sums: ``r = sy / sx``, ``var = resid2 / mean(x)^2 / ((n-1) n)``."""
    if n == 0 or sx == 0:
        return stats.ArmStat(math.nan, math.nan, n)
    r = sy / sx
    if n < 2 or not math.isfinite(r):
        return stats.ArmStat(r, math.nan, n)
    return stats.ArmStat(r, resid2 / (sx / n) ** 2 / ((n - 1) * n), n)


def _series(con: duckdb.DuckDBPyConnection, source: str, start_us: int, end_us: int) -> dict[str, Series]:
    """The chart per model: per (version, bucket) the sums and the latency histogram, aggregated in SQL."""
    from tasks.monitoring.monitor import _LOG_BINS, HIST_BINS, buckets_of, series_at, series_values

    bucket_hours, buckets, width = buckets_of(start_us, end_us)
    bucket = f"LEAST(GREATEST((ts - {start_us}) // {width}, 0), {buckets - 1})"
    lbin = f"CAST(floor(LEAST(GREATEST(log2(latency + 1) * {_LOG_BINS}, 0), {HIST_BINS - 1})) AS BIGINT)"
    rows = run(con, f"""SELECT model, version, b, lbin, COUNT(*), COUNT(quality), SUM(quality), SUM(error), SUM(cost)
FROM (SELECT model, version, {bucket} AS b, {lbin} AS lbin, quality, error, cost FROM monitored) binned
GROUP BY GROUPING SETS ((model, version, b), (model, version, b, lbin))""", source).fetchall()
    sums: dict[tuple[str, int], np.ndarray] = {}
    hists: dict[tuple[str, int], np.ndarray] = {}
    for model, version, b, lbin, n, q_n, q_sum, errors, cost in rows:
        key = (str(model), int(version))
        if lbin is None:
            sums.setdefault(key, np.zeros((5, buckets)))[:, b] = (n, q_n, q_sum or 0.0, errors or 0.0, cost or 0.0)
        else:
            hists.setdefault(key, np.zeros((buckets, HIST_BINS), np.int64))[b, lbin] = n
    out: dict[str, dict[int, dict[str, list[float | None]]]] = {}
    for (model, version), s in sorted(sums.items()):
        out.setdefault(model, {})[version] = series_values(s[0], s[1], s[2], s[3], s[4], hists[(model, version)])
    return {model: series_at(start_us, bucket_hours, versions) for model, versions in out.items()}


def _plan(groups: dict[tuple[str, int | None, bool], Group],
          min_users: int) -> dict[str, list[tuple[int, Slice, Slice]]]:
    """Per model, each version that served in the window: (version, its baseline slice, its current slice);
    the baseline is the version's own earlier traffic when it has ``min_users`` users, else the model's."""
    plan: dict[str, list[tuple[int, Slice, Slice]]] = {}
    for (model, version, current), _ in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if version is None or not current:
            continue
        own = groups.get((model, version, False))
        base = Slice(model, version, False) if own and own.users >= min_users else Slice(model, None, False)
        plan.setdefault(model, []).append((version, base, Slice(model, version, True)))
    return plan


def monitor_sql(source: str, *, now: datetime, window: timedelta, baseline: timedelta, model: str | None = None,
                environment: str | None = "production", thresholds: dict[str, dict[str, float]] | None = None,
                min_users: int = 30, alpha: float = 0.05, models: list[str] | None = None,
                threads: int | None = None, memory_limit: str | None = None) -> MonitorReport:
    """The same report as ``monitor_columns(load_columns(...))``, computed in DuckDB (evaluation records are
    attached by the caller)."""
    from tasks.monitoring.monitor import add_model, new_report

    current_from, start = now - window, now - window - baseline
    con = connect(threads or THREADS, s3=source.startswith("s3://"))
    try:
        con.execute(f"SET memory_limit = {quote(memory_limit or MEMORY_LIMIT)}")
        scan, types = _open(con, source, since=start, until=now, current_from=current_from, model=model,
                            environment=environment)
        with _readable(con, source, scan, types):
            groups = _groups(con, source)
            plan = _plan(groups, min_users)
            slices = sorted({s for versions in plan.values() for _, base, cur in versions for s in (base, cur)},
                            key=lambda s: (s.model, s.version or 0, s.current))
            index = {s: i for i, s in enumerate(slices)}
            quantiles = [_baseline_quantiles(groups, s, plan) for s in slices]
            computed = []
            if slices:
                _create_slices(con, source, slices, quantiles)
                computed = _slice_stats(con, source, slices, groups)
            series = _series(con, source, micros(start), micros(now))
    finally:
        con.close()
    report = new_report(now, window, baseline)
    for name in sorted({m for m, _, _ in groups} | set(models or [])):
        limits = resolve_thresholds((thresholds or {}).get(name))
        checks: list[VersionCheck] = []
        for version, base, cur in plan.get(name, []):
            checks.append(decide(name, version, computed[index[base]], computed[index[cur]],
                                 "model" if base.version is None else "version", limits, min_users=min_users,
                                 alpha=alpha))
        add_model(report, name, checks, [c.version for c in checks], series.get(name))
    return report


def _baseline_quantiles(groups: dict[tuple[str, int | None, bool], Group], key: Slice,
                        plan: dict[str, list[tuple[int, Slice, Slice]]]) -> tuple[float, float]:
    """The latency quantiles a slice's exceedances count against: its baseline's (a current slice's baseline
    is the one its version is compared with)."""
    base = key if not key.current else next(b for v, b, _ in plan[key.model] if v == key.version)
    group = groups.get((base.model, base.version, base.current))
    return (group.q50, group.q95) if group else (math.nan, math.nan)
