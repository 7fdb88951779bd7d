"""The monitor's DuckDB engine (the default): the window, model, environment and version filters, the
feedback join, the latency quantiles and the per-user sums run in SQL; only per-slice numbers reach Python.

A *slice* is a set of rows one statistic is about: a version's current window, its own baseline, or the
model's pooled baseline (every version's earlier traffic). Four aggregations, each one scan:

1. per (model, version, window) and per (model, window): requests, latency median and p95, the row sums of
   each metric's numerator and denominator (so each ratio ``r`` is known first), the scores' bounds;
2. per served version and window, over per-user sums (the latency exceedances counted against the
   version's own baseline quantiles and against the model's): users, and per metric the users with a
   denominator and ``sum((y - r x)^2)``: the delta-method variance in two passes, as the Arrow engine
   computes it, not from raw moments; the exceedances are integer counts, so ``sum(y^2)``, ``sum(n y)``
   and ``sum(n^2)`` give theirs exactly;
3. only when a served version has fewer than ``min_users`` users in its own baseline: the same over the
   model's baseline, per (model, user);
4. per (model, version, chart bucket, latency bin): the chart's sums and latency histogram.

``tasks.monitoring.data.load_columns`` with ``monitor.monitor_columns`` (``engine="arrow"``) is the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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

# The per-user hash aggregation is the peak; one thread keeps one copy of it (as the A/B engine does). On the
# shared 2 cores two threads were slower (10 M rows: 14.8 s, 2.2 GB against 11.5-13.0 s, 1.4 GB).
THREADS = 1
MEMORY_LIMIT = "2GB"  # beyond it DuckDB spills its hash tables to disk
# per-row parts of the per-user sums (``PARTS``' numerators and denominators) over ``monitored`` and its
# ``thresholds`` (the exceedances: against the version's own baseline quantiles ``o``, the model's ``p``)
ROW_PARTS = {"n": "CAST(1 AS DOUBLE)", "errors": "error", "cost1k": "cost * 1000", "tokens": "tokens",
             "q_sum": "COALESCE(quality, 0.0)", "q_n": "CAST(quality IS NOT NULL AS DOUBLE)",
             "t_sum": "COALESCE(thumbs, 0.0)", "t_n": "CAST(thumbs IS NOT NULL AS DOUBLE)",
             "fb": "CAST(quality IS NOT NULL OR thumbs IS NOT NULL AS DOUBLE)"}
EXCEEDANCES = {f"ex{q}{b}": f"CAST(COALESCE(latency > {b}{q}, false) AS DOUBLE)" for q in (50, 95) for b in "op"}
RATIO_METRICS = {m: yx for m, yx in PARTS.items() if not yx[0].startswith("ex")}  # the ratio is known first
Key = tuple[str, int | None, bool]  # (model, version or None for the model's baseline, current window?)


@dataclass
class Group:
    """One (model, version) in one window, or (version None) the model's traffic in it: its requests, latency
    quantiles and the row sums of each part (so each ratio of per-user sums is known before its variance)."""

    rows: int
    q50: float
    q95: float
    sums: dict[str, float]
    anonymous: int = 0  # requests without a user id


def _rows_sql(con: duckdb.DuckDBPyConnection, source: str, since: datetime,
              until: datetime) -> tuple[str, str | None, dict[str, str]]:
    """The input typed as the monitor reads it: (its SELECT, the table's scan or None, the table's types).

    A request log is read with its latest feedback joined (``tasks.request_log``); a table through
    ``tasks.ab.scan`` with the request-log columns' types (version as a number, environment as text).
    """
    if not is_table(source):
        from tasks.request_log import register_log_views, scored_sql, skipped_in_views

        files = register_log_views(con, source, since.astimezone(UTC).date(), until.astimezone(UTC).date())
        skipped_in_views(con, source, *files)
        return ("SELECT model, CAST(version AS DOUBLE) AS version_number, environment AS env_text, user_id, "
                "COALESCE(epoch_us(timestamp), 0) AS ts_us, CAST(latency_ms AS DOUBLE) AS latency_ms, "
                "CAST(cost_usd AS DOUBLE) AS cost_usd, CAST(error AS DOUBLE) AS error, "
                "CAST(input_tokens AS DOUBLE) AS input_tokens, CAST(output_tokens AS DOUBLE) AS output_tokens, "
                f"quality_score, thumbs_up FROM ({scored_sql('requests_log')}) scored", None, {})
    scan, types = table_scan(con, source)
    missing = [c for c in REQUIRED if c not in types]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}", file=source,
                           field=missing[0])
    env = 'CAST("environment" AS VARCHAR)' if "environment" in types else "CAST(NULL AS VARCHAR)"
    return (f"SELECT *, {number_sql('version', types['version'])} AS version_number, {env} AS env_text "
            f"FROM ({typed_view(scan, types, extra=('version', 'environment'), epoch=True)}) typed", scan, types)


def _open(con: duckdb.DuckDBPyConnection, source: str, *, since: datetime, until: datetime, current_from: datetime,
          model: str | None, environment: str | None) -> tuple[str | None, dict[str, str]]:
    """Relation ``monitored``: the rows in ``[since, until)`` of the model and environment, with a version
    (no environment counts as production), their numbers as the checks take them (missing is 0, except the
    scores) and ``cur``, whether a row is in the current window. Parquet is scanned in place by each query;
    a text table or a request log is read once into a temporary table of the selected rows."""
    select, scan, types = _rows_sql(con, source, since, until)
    where = [f"ts_us >= {micros(since)}", f"ts_us < {micros(until)}", "model IS NOT NULL",
             "version_number IS NOT NULL", "isfinite(version_number)"]
    if model is not None:
        where.append(f"model = {quote(model)}")
    if environment is not None and (scan is None or "environment" in types):
        where.append(f"COALESCE(env_text, 'production') = {quote(environment)}")
    kind = "VIEW" if source.lower().endswith(".parquet") else "TEMP TABLE"
    sql = (f"CREATE {kind} monitored AS SELECT model, CAST(trunc(version_number) AS BIGINT) AS version, user_id, "
           f"ts_us AS ts, ts_us >= {micros(current_from)} AS cur, COALESCE(latency_ms, 0.0) AS latency, "
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


def _groups(con: duckdb.DuckDBPyConnection, source: str) -> dict[Key, Group]:
    """Requests, latency quantiles and row sums per (model, version, window) and per (model, window); checks
    that the scores lie in [0, 1]. One scan."""
    sums = ", ".join(f"SUM({sql})" for sql in ROW_PARTS.values())
    rows = run(con, f"""SELECT model, version, cur, COUNT(*), quantile_cont(latency, [0.5, 0.95]), {sums},
MIN(quality), MAX(quality), MIN(thumbs), MAX(thumbs), COUNT(*) - COUNT(user_id) FROM monitored
GROUP BY GROUPING SETS ((model, version, cur), (model, cur))""", source).fetchall()
    low = 5 + len(ROW_PARTS)
    for i, name in ((low, "quality_score"), (low + 2, "thumbs_up")):
        if any(r[i] is not None and (r[i] < 0 or r[i + 1] > 1) for r in rows):
            raise InvalidInput(f"{name} must be in [0, 1]", file=source, field=name)
    return {(str(r[0]), None if r[1] is None else int(r[1]), bool(r[2])):
            Group(int(r[3]), float(r[4][0]), float(r[4][1]),
                  {k: float(v or 0.0) for k, v in zip(ROW_PARTS, r[5:low], strict=True)}, int(r[-1])) for r in rows}


def _register(con: duckdb.DuckDBPyConnection, source: str, name: str, columns: dict[str, Any]) -> None:
    """A small Python table as DuckDB temporary table ``name``."""
    import pyarrow as pa

    con.register(f"{name}_input", pa.table(columns))
    run(con, f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_input", source)
    con.unregister(f"{name}_input")


def _create_thresholds(con: duckdb.DuckDBPyConnection, source: str, groups: dict[Key, Group],
                       served: list[tuple[str, int]]) -> None:
    """Table ``thresholds``: per served version its own baseline's latency quantiles and its model's, and
    table ``ratios``: each group's ratio per metric (``y / x`` of its row sums); views ``version_rows`` (the
    served versions' rows) and ``model_rows`` (their models' rows) with the quantiles their exceedances count
    against."""
    import pyarrow as pa

    def quantile(key: Key, which: str) -> float | None:
        group = groups.get(key)
        return None if group is None else getattr(group, which)

    _register(con, source, "thresholds", {
        "model": pa.array([m for m, _ in served], pa.string()), "version": pa.array([v for _, v in served], pa.int64()),
        **{f"{b}{q}": pa.array([quantile((m, v if b == "o" else None, False), f"q{q}") for m, v in served],
                               pa.float64()) for q in (50, 95) for b in "op"}})
    keys = list(groups)
    _register(con, source, "ratios", {
        "model": pa.array([k[0] for k in keys], pa.string()), "version": pa.array([k[1] for k in keys], pa.int64()),
        "cur": pa.array([k[2] for k in keys], pa.bool_()),
        **{f"r_{m}": pa.array([_ratio(groups[k].sums, y, x) for k in keys], pa.float64())
           for m, (y, x) in RATIO_METRICS.items()}})
    run(con, "CREATE VIEW version_rows AS SELECT m.*, t.o50, t.o95, t.p50, t.p95 FROM monitored m "
             "JOIN thresholds t ON t.model = m.model AND t.version = m.version", source)
    run(con, "CREATE VIEW model_rows AS SELECT m.*, t.p50, t.p95 FROM monitored m JOIN (SELECT DISTINCT model, "
             "p50, p95 FROM thresholds) t ON t.model = m.model", source)


def _ratio(sums: dict[str, float], y: str, x: str) -> float | None:
    return sums[y] / sums[x] if sums[x] else None


def _user_level(con: duckdb.DuckDBPyConnection, source: str, relation: str, keys: str, where: str,
                ex: list[str], *, anonymous: bool) -> dict[Key, tuple]:
    """Per group of ``keys`` (``version`` may be None: the model's baseline) over the rows of ``relation``
    matching ``where``: users; per ratio metric the users with a denominator and ``sum((y - r x)^2)`` over
    per-user sums; ``sum(n^2)`` and per exceedance in ``ex`` ``sum(y)``, ``sum(y^2)``, ``sum(n y)`` (integers:
    exact). Anonymous requests (``anonymous``: there are some) are users of their own. One scan (two with
    anonymous requests)."""
    parts = {**ROW_PARTS, **{e: EXCEEDANCES[e] for e in ex}}
    sums = ", ".join(f"SUM({sql}) AS {name}" for name, sql in parts.items())
    single = ", ".join(f"{sql} AS {name}" for name, sql in parts.items())
    resid = [_residuals(m, y, x) for m, (y, x) in RATIO_METRICS.items()]
    moments = ["SUM(u.n * u.n)", *(f"SUM(u.{e}), SUM(u.{e} * u.{e}), SUM(u.n * u.{e})" for e in ex)]
    version = "version" if "version" in keys else "CAST(NULL AS BIGINT) AS version"
    users = f"SELECT model, {version}, cur, {sums} FROM {relation} WHERE {where} GROUP BY {keys}, user_id"
    if anonymous:  # the group of no user id is replaced by one user per request
        users = (f"{users} HAVING user_id IS NOT NULL UNION ALL SELECT model, {version}, cur, {single} "
                 f"FROM {relation} WHERE {where} AND user_id IS NULL")
    rows = run(con, f"""SELECT u.model, u.version, u.cur, COUNT(*), {', '.join(resid + moments)} FROM ({users}) u
JOIN ratios r ON r.model = u.model AND r.version IS NOT DISTINCT FROM u.version AND r.cur = u.cur
GROUP BY u.model, u.version, u.cur""", source).fetchall()
    return {(str(r[0]), None if r[1] is None else int(r[1]), bool(r[2])): r for r in rows}


def _residuals(metric: str, y: str, x: str) -> str:
    """SQL of a metric's users with a denominator and their ``sum((y - r x)^2)`` (every user has requests)."""
    square = f"(u.{y} - r.r_{metric} * u.{x}) * (u.{y} - r.r_{metric} * u.{x})"
    if x == "n":
        return f"COUNT(*), COALESCE(SUM({square}), 0)"
    return f"COUNT(*) FILTER (WHERE u.{x} > 0), COALESCE(SUM({square}) FILTER (WHERE u.{x} > 0), 0)"


def _slice(row: tuple | None, group: Group | None, ex: int) -> SliceStats:
    """A slice's statistics from its ``_user_level`` row; ``ex``: which pair of exceedances (p50, p95) is its.
    No row: an empty slice (a new model's first version has no baseline)."""
    if row is None or group is None:
        return SliceStats(0, 0, math.nan, math.nan, {m: stats.ArmStat(math.nan, math.nan, 0) for m in PARTS})
    metrics = {}
    for k, (m, (y, x)) in enumerate(RATIO_METRICS.items()):
        metrics[m] = _arm_stat(group.sums[y], group.sums[x], int(row[4 + 2 * k]), float(row[5 + 2 * k]))
    sxx_at = 4 + 2 * len(RATIO_METRICS)
    sxx, first = float(row[sxx_at] or 0.0), sxx_at + 1 + 6 * ex
    for k, m in enumerate(("latency_p50_ms", "latency_p95_ms")):
        sy, syy, sxy = (float(v or 0.0) for v in row[first + 3 * k:first + 3 * k + 3])
        r = sy / group.rows if group.rows else math.nan
        metrics[m] = _arm_stat(sy, float(group.rows), int(row[3]), syy - 2 * r * sxy + r * r * sxx)
    return SliceStats(group.rows, int(row[3]), group.q50, group.q95, metrics)


def _arm_stat(sy: float, sx: float, n: int, resid2: float) -> stats.ArmStat:
    """``stats.ratio_level(y, x).stat()`` from the sums: ``r = sy / sx``, ``var = resid2 / mean(x)^2 / ((n-1) n)``."""
    if n == 0 or sx == 0:
        return stats.ArmStat(math.nan, math.nan, n)
    return stats.level_stat(sy / sx, n, resid2 / (sx / n) ** 2)


def _series(con: duckdb.DuckDBPyConnection, source: str, start_us: int, end_us: int) -> dict[str, Series]:
    """The chart per model: per (version, bucket) the sums and the latency histogram, aggregated in SQL.

    A bucket's sums are their own grouping (not their latency bins' sums): added in the rows' order, as the
    reference adds them, so that the values rounded to 6 places round alike.
    """
    from tasks.monitoring.monitor import _LOG_BINS, HIST_BINS, buckets_of, series_at, series_values

    bucket_hours, buckets, width = buckets_of(start_us, end_us)
    bucket = f"LEAST(GREATEST((ts - {start_us}) // {width}, 0), {buckets - 1})"
    latency_bin = f"CAST(floor(LEAST(GREATEST(log2(latency + 1) * {_LOG_BINS}, 0), {HIST_BINS - 1})) AS BIGINT)"
    cols = run(con, f"""SELECT model, version, b, lbin, COUNT(*) AS n, COUNT(quality) AS q_n,
COALESCE(SUM(quality), 0) AS q_sum, COALESCE(SUM(error), 0) AS errors, COALESCE(SUM(cost), 0) AS cost
FROM (SELECT model, version, {bucket} AS b, {latency_bin} AS lbin, quality, error, cost FROM monitored) binned
GROUP BY GROUPING SETS ((model, version, b), (model, version, b, lbin))""", source).fetchnumpy()
    keys = list(zip(cols["model"].tolist(), cols["version"].tolist(), strict=True))
    charted = sorted(set(keys))
    index = {key: i for i, key in enumerate(charted)}
    row = np.array([index[k] for k in keys], dtype=np.int64)
    b = np.asarray(cols["b"], dtype=np.int64)
    in_hist = ~np.ma.getmaskarray(cols["lbin"])  # rows of the (model, version, bucket, latency bin) grouping
    sums = np.zeros((5, len(charted), buckets))
    for k, name in enumerate(("n", "q_n", "q_sum", "errors", "cost")):
        sums[k, row[~in_hist], b[~in_hist]] = np.asarray(cols[name], dtype=np.float64)[~in_hist]
    hist = np.zeros((len(charted), buckets, HIST_BINS), np.int64)
    hist[row[in_hist], b[in_hist], np.ma.getdata(cols["lbin"]).astype(np.int64)[in_hist]] = \
        np.asarray(cols["n"], dtype=np.int64)[in_hist]
    out: dict[str, dict[int, dict[str, list[float | None]]]] = {}
    for i, (model, version) in enumerate(charted):
        out.setdefault(str(model), {})[int(version)] = series_values(sums[0, i], sums[1, i], sums[2, i], sums[3, i],
                                                                     sums[4, i], hist[i])
    return {model: series_at(start_us, bucket_hours, versions) for model, versions in out.items()}


def _checks(con: duckdb.DuckDBPyConnection, source: str, groups: dict[Key, Group], min_users: int,
            thresholds: dict[str, dict[str, float]] | None, alpha: float) -> dict[str, list[VersionCheck]]:
    """Each served version's decision: its windows' per-user statistics in one scan, then, for the models
    where a version has too few users in its own baseline, the model's baseline in another."""
    served = sorted((m, v) for m, v, current in groups if v is not None and current)
    if not served:
        return {}
    _create_thresholds(con, source, groups, served)
    anonymous = any(g.anonymous for g in groups.values())
    # only the served versions' rows reach the join and the per-user aggregation
    versions = ", ".join(str(v) for v in sorted({v for _, v in served}))
    own = _user_level(con, source, "version_rows", "model, version, cur", f"version IN ({versions}) AND model IN "
                      f"({', '.join(quote(m) for m in sorted({m for m, _ in served}))})",
                      ["ex50o", "ex95o", "ex50p", "ex95p"], anonymous=anonymous)
    pooled_models = sorted({m for m, v in served if _users(own.get((m, v, False))) < min_users})
    pooled: dict[Key, tuple] = {}
    if pooled_models:
        names = ", ".join(quote(m) for m in pooled_models)
        pooled = _user_level(con, source, "model_rows", "model, cur", f"NOT cur AND model IN ({names})",
                             ["ex50p", "ex95p"], anonymous=anonymous)
    out: dict[str, list[VersionCheck]] = {}
    for m, v in served:
        limits = resolve_thresholds((thresholds or {}).get(m))
        if _users(own.get((m, v, False))) >= min_users:
            base, kind = _slice(own[(m, v, False)], groups[(m, v, False)], 0), "version"
        else:
            base, kind = _slice(pooled.get((m, None, False)), groups.get((m, None, False)), 0), "model"
        cur = _slice(own[(m, v, True)], groups[(m, v, True)], 0 if kind == "version" else 1)
        out.setdefault(m, []).append(decide(m, v, base, cur, kind, limits, min_users=min_users, alpha=alpha))
    return out


def _users(row: tuple | None) -> int:
    """Users of a ``_user_level`` row (none without a row: no traffic)."""
    return int(row[3]) if row is not None else 0


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
        con.execute("SET enable_progress_bar = false")  # the command's output is the report
        scan, types = _open(con, source, since=start, until=now, current_from=current_from, model=model,
                            environment=environment)
        with _readable(con, source, scan, types):
            groups = _groups(con, source)
            checks = _checks(con, source, groups, min_users, thresholds, alpha)
            series = _series(con, source, micros(start), micros(now))
    finally:
        con.close()
    report = new_report(now, window, baseline)
    for name in sorted({m for m, _, _ in groups} | set(models or [])):
        resolve_thresholds((thresholds or {}).get(name))  # bad thresholds are bad input even without traffic
        versions = checks.get(name, [])
        add_model(report, name, versions, [c.version for c in versions], series.get(name))
    return report
