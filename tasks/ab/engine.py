"""The DuckDB engine of the A/B input (the default): checks, filtering, the feedback join and the per-user
sums run in SQL, and only numbers reach Python.

The input (a CSV / Parquet / JSONL table, local or ``s3://``, or a request-log location) becomes a typed
``requests`` relation (``tasks.ab.scan``), is checked in one profiling scan (``tasks.ab.checks``), and is
reduced to one row per user by ``tasks.ab.sql.user_arms_sql``: the same semantics as the documented
statement ``user_stats_sql`` (whose output ``--stats`` reads: ``tasks.ab.stats_file``). Median and
p95 latency per arm are computed in SQL too. ``tasks.ab.data.reduce_table`` (Arrow) is the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from registry.errors import InvalidInput
from tasks.ab.checks import (
    Profile,
    arm_quantiles,
    check_bounds,
    check_groups,
    footer_bounds,
    locate_text,
    profile,
    require_users,
)
from tasks.ab.data import OPTIONAL, REQUIRED, ArmData, Window, is_table
from tasks.ab.moments import SummaryArm, UserTable
from tasks.ab.scan import NUMBERS, STRINGS, run, table_scan, typed_view
from tasks.ab.sql import SUMS, Filters, row_conditions, user_arms_sql
from tasks.duck import connect, quote

if TYPE_CHECKING:
    import duckdb

SCORES = ("quality_score", "thumbs_up")
# One thread by default: the per-user hash aggregation is built per thread, so a second thread doubles its
# memory (10 M rows, 2 M users: 0.83 GB peak with one, 1.03 GB with two) for little gain on 2 shared cores.
THREADS = 1
# Beyond this DuckDB spills its hash tables to disk (out of core) instead of growing. The exact latency
# quantiles cannot spill (8 bytes per request of an arm), hence 2 GB: 10 M rows peak at 0.8 GB either way.
MEMORY_LIMIT = "2GB"


def _filters(experiment_id: str | None, window: Window, has: set[str]) -> Filters:
    timed = "timestamp" in has
    return Filters(experiment_id=experiment_id if "experiment_id" in has else None,
                   since=window.since if timed else None, pre_start=window.pre_start if timed else None,
                   pre_end=window.pre_end if timed else None, model=window.model if "model" in has else None)


def _attributed_quantiles(con: duckdb.DuckDBPyConnection, filters: Filters,
                          source: str) -> dict[str, dict[float, float | None]]:
    """Median and p95 latency per arm over the requests kept by first-exposure attribution."""
    arm, _ = row_conditions(filters)
    rows = run(con, f"""WITH firsts AS (
  SELECT r.user_id, MIN(r.timestamp) FILTER (WHERE r.variant = 'control') AS c_first,
         MIN(r.timestamp) FILTER (WHERE r.variant = 'treatment') AS t_first
  FROM requests r WHERE r.user_id IS NOT NULL AND {arm} GROUP BY r.user_id)
SELECT r.variant, quantile_cont(r.latency_ms, [0.5, 0.95])
FROM requests r JOIN firsts f ON f.user_id = r.user_id
WHERE {arm} AND (f.c_first IS NULL OR f.t_first IS NULL OR (r.variant = 'treatment') = (f.t_first < f.c_first))
GROUP BY r.variant""", source).fetchall()
    return arm_quantiles(rows)


def _totals(con: duckdb.DuckDBPyConnection, source: str) -> tuple[int, int, int]:
    """Users in both arms (not attributed), users attributed to their first arm, and their dropped requests;
    sums that overflow are bad input."""
    names = ("latency", "cost", "errors", "q_sum", "t_sum", "tok_sum")
    totals = run(con, "SELECT COUNT(*) FILTER (WHERE arm = 2), COUNT(*) FILTER (WHERE dropped > 0), "
                      "COALESCE(SUM(dropped), 0), " + ", ".join(f"isinf(SUM({name}))" for name in names)
                 + " FROM per_user", source).fetchall()[0]
    for name, overflow in zip(names, totals[3:], strict=True):
        if overflow:  # finite values can still sum to infinity
            raise InvalidInput("the sums overflow: values too large to be measurements", file=source, field=name)
    return int(totals[0]), int(totals[1]), int(totals[2])


def _arms(con: duckdb.DuckDBPyConnection, source: str, reduced: Reduced) -> dict[str, ArmData]:
    """``ArmData`` from the engine's per-user rows (table ``per_user``), fetched arm by arm as numpy arrays."""
    names = [*SUMS, *(f"pre_{name}" for name in SUMS if reduced.pre_period)]
    mixed, switched, dropped = _totals(con, source)
    out = {}
    for label, code in (("control", 0), ("treatment", 1)):
        cols = run(con, f"SELECT {', '.join(f'CAST({n} AS DOUBLE) AS {n}' for n in names)} FROM per_user "
                        f"WHERE arm = {code}", source).fetchnumpy()
        values = {name: np.asarray(cols[name], dtype=np.float64) for name in names}
        pre = {name: values.pop(f"pre_{name}") for name in SUMS} if reduced.pre_period else None
        out[label] = ArmData(users=np.arange(len(values["n"])), latencies=np.zeros(0, np.float64), mixed_users=mixed,
                             pre=pre, switched_users=switched, dropped_requests=dropped,
                             experiment_ids=list(reduced.present), latency_quantiles=reduced.quantiles.get(label),
                             **values)  # type: ignore[arg-type]
    return out


def _summaries(con: duckdb.DuckDBPyConnection, source: str, reduced: Reduced) -> dict[str, SummaryArm]:
    """Both arms as counts over the ``per_user`` table left in ``con`` (which the arms then own)."""
    mixed, switched, dropped = _totals(con, source)
    counts = dict(run(con, "SELECT arm, COUNT(*) FROM per_user WHERE arm IN (0, 1) GROUP BY arm", source).fetchall())
    table = UserTable(con, reduced.pre_period)
    return {label: SummaryArm(table, code, int(counts.get(code, 0)), mixed, switched, dropped, list(reduced.present),
                              reduced.quantiles.get(label)) for label, code in (("control", 0), ("treatment", 1))}


def _open_requests(con: duckdb.DuckDBPyConnection, source: str) -> tuple[str | None, dict[str, str]]:
    """The ``requests`` relation over ``source``: the table's scan (None for a request log) and its types."""
    if not is_table(source):
        from tasks.request_log import register_log_views, scored_sql

        register_log_views(con, source)  # the latest feedback row per request gives its scores
        run(con, f"CREATE VIEW scored_requests AS {scored_sql('requests')}", source)
        return None, {name: "" for name in (*STRINGS, "timestamp", *NUMBERS) if name not in SCORES}
    scan, types = table_scan(con, source)
    missing = [c for c in REQUIRED if c not in types]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected "
                           f"{', '.join(REQUIRED + OPTIONAL)}", file=source, field=missing[0])
    # Parquet is scanned in place (columns and row groups on demand); a text table is parsed once
    kind = "VIEW" if source.lower().endswith(".parquet") else "TEMP TABLE"
    _converting(con, source, scan, types, f"CREATE {kind} requests AS {typed_view(scan, types)}")
    return scan, types


def _converting(con: duckdb.DuckDBPyConnection, source: str, scan: str | None, types: dict[str, str],
                sql: str) -> None:
    """Run ``sql``; text where a number or a time belongs is bad input naming its row."""
    import duckdb

    try:
        con.execute(sql)
    except duckdb.ConversionException:
        if scan is not None:
            locate_text(con, source, scan, types)
        run(con, sql, source)  # not found: the conversion error itself, as bad input
    except duckdb.Error:
        run(con, sql, source)


@dataclass(frozen=True)
class Reduced:
    """What the reduction found besides the ``per_user`` table: experiment ids, latency quantiles, pre-period."""

    present: list[str]
    quantiles: dict[str, dict[float, float | None]]
    pre_period: bool


def _reduce(con: duckdb.DuckDBPyConnection, source: str, experiment_id: str | None, window: Window,
            require_experiment: bool, memory_limit: str | None) -> Reduced:
    """Check the input and leave its per-user rows in table ``per_user`` of ``con``."""
    con.execute(f"SET memory_limit = {quote(memory_limit or MEMORY_LIMIT)}")
    scan, types = _open_requests(con, source)
    filters = _filters(experiment_id, window, set(types))
    attribute = window.attribute_first_exposure and "timestamp" in types
    # one group per arm holds the window's rows: the quantiles ride along the profiling scan
    fold = not attribute and (filters.experiment_id is not None or "experiment_id" not in types)
    numbers = [n for n in NUMBERS if n in types]
    prof = _profiled(con, source, scan, types, numbers, filters if fold else None, filters)
    check_bounds(con, source, prof, scan, types)
    present = check_groups(prof, source, experiment_id, require_experiment, "experiment_id" in types)
    pre_period = prof.pre_rows > 0
    statement = user_arms_sql(filters, attribute=attribute, pre_period=pre_period,
                              relation="requests" if scan is not None else "scored_requests")
    _converting(con, source, scan, types, f"CREATE TEMP TABLE per_user AS {statement}")
    if prof.rows and not run(con, "SELECT COUNT(*) FROM per_user", source).fetchall()[0][0]:
        require_users(con, source)
    quantiles = prof.quantiles if prof.quantiles is not None else _attributed_quantiles(con, filters, source)
    return Reduced(present, quantiles, pre_period)


def load_arms_sql(source: str, experiment_id: str | None = None, *, window: Window | None = None,
                  require_experiment: bool = False, threads: int | None = None,
                  memory_limit: str | None = None) -> dict[str, ArmData]:
    """Per-user sufficient statistics computed in DuckDB (same contract as ``tasks.ab.data.load_arms``).

    ``threads`` and ``memory_limit`` (a DuckDB size, ``"2GB"``) default to ``THREADS`` and ``MEMORY_LIMIT``.
    """
    con = connect(threads or THREADS, s3=source.startswith("s3://"))
    try:
        return _arms(con, source, _reduce(con, source, experiment_id, window or Window(), require_experiment,
                                          memory_limit))
    finally:
        con.close()


@contextmanager
def open_arms_sql(source: str, experiment_id: str | None = None, *, window: Window | None = None,
                  require_experiment: bool = False, threads: int | None = None,
                  memory_limit: str | None = None) -> Iterator[dict[str, SummaryArm]]:
    """Both arms as sums over a per-user table that stays in DuckDB (``tasks.ab.moments``) while the block
    runs: the analysis of a 100 M-row log never holds a per-user vector but one (the rank test's)."""
    con = connect(threads or THREADS, s3=source.startswith("s3://"))
    try:
        yield _summaries(con, source, _reduce(con, source, experiment_id, window or Window(), require_experiment,
                                              memory_limit))
    finally:
        con.close()


def _profiled(con: duckdb.DuckDBPyConnection, source: str, scan: str | None, types: dict[str, str],
              numbers: list[str], quantiles_of: Filters | None, pre_of: Filters) -> Profile:
    import duckdb

    try:
        return profile(con, source, numbers, quantiles_of, pre_of, known=footer_bounds(con, scan, types, numbers))
    except InvalidInput as exc:
        if scan is not None and isinstance(exc.__cause__, duckdb.ConversionException):
            locate_text(con, source, scan, types)
        raise
