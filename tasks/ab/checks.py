"""The A/B input checks in SQL: one profiling scan, and on failure a second one that finds the row.

The same checks as the Arrow reference (``tasks/ab/validate.py``): numeric columns are numbers, finite and
in range; the variant is control, treatment or empty; some user id is set; a required experiment is in the
table (else the ids present are named). The profiling scan also gives each arm's median and p95 latency
when the filters leave one group per arm, so no request-level array leaves DuckDB.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput
from tasks.ab.data import ARMS
from tasks.ab.scan import NUMBERS, number_sql, run
from tasks.ab.sql import Filters, row_conditions
from tasks.ab.validate import MAX_ABS, RANGES, not_a_number, out_of_range

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Profile:
    """What the profiling scan found: (variant, experiment_id, rows) groups, value bounds, quantiles."""

    groups: list[tuple[Any, ...]]
    bounds: dict[str, tuple[float | None, float | None]]
    quantiles: dict[str, dict[float, float | None]] | None
    pre_rows: int

    @property
    def rows(self) -> int:
        return sum(int(g[2]) for g in self.groups)


def bounds_of(name: str) -> tuple[float, float]:
    return RANGES.get(name, (0.0, MAX_ABS))


# column types whose Parquet footer statistics read as plain numbers
NUMERIC_TYPES = ("DOUBLE", "FLOAT", "REAL", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "BOOLEAN")


def footer_bounds(con: duckdb.DuckDBPyConnection, scan: str | None, types: dict[str, str],
                  numbers: list[str]) -> dict[str, tuple[float | None, float | None]]:
    """The bounds of the numeric columns a Parquet file's footer states for every row group (nothing read).

    A column some row group has no statistics for (or that is not stored as a number) is left out, and
    the profiling scan takes its bounds. Writers leave NaN out of the statistics; NaN is missing here anyway.
    """
    import duckdb

    if scan is None or not scan.startswith("read_parquet("):
        return {}
    stored = {n for n in numbers if types.get(n, "").startswith(NUMERIC_TYPES)}
    try:
        rows = con.execute("SELECT path_in_schema, COUNT(*) = COUNT(stats_min_value) AND "
                           "COUNT(*) = COUNT(stats_max_value), list(stats_min_value), list(stats_max_value) "
                           f"FROM parquet_metadata{scan.removeprefix('read_parquet')} GROUP BY path_in_schema"
                           ).fetchall()
    except duckdb.Error:
        return {}
    out: dict[str, tuple[float | None, float | None]] = {}
    for name, complete, lows, highs in rows:
        if name in stored and complete:
            try:
                out[name] = (min(map(_stat, lows)), max(map(_stat, highs)))
            except ValueError:
                continue
    return out


def _stat(text: str) -> float:
    """A footer statistic as a number (booleans as 0/1); NaN is not a bound (ValueError, as unparseable)."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return 1.0 if lowered == "true" else 0.0
    value = float(text)
    if math.isnan(value):
        raise ValueError(text)
    return value


def profile(con: duckdb.DuckDBPyConnection, source: str, numbers: list[str],
            quantiles_of: Filters | None = None, pre_of: Filters | None = None,
            known: dict[str, tuple[float | None, float | None]] | None = None) -> Profile:
    """One scan of ``requests``: the groups, each numeric column's bounds, optional quantiles and pre rows.

    With ``quantiles_of``, each arm's median and p95 latency over the rows those filters select (one
    group per arm: a plain A/B window, where no request is dropped by attribution). ``known``: bounds
    already known (``footer_bounds``), not scanned for.
    """
    known = known or {}
    scanned = [n for n in numbers if n not in known]
    cols = ["r.variant", "r.experiment_id", "COUNT(*)"]
    for name in scanned:
        cols += [f"MIN(r.{name})", f"MAX(r.{name})"]
    if quantiles_of is not None:
        # over the arm's rows, anonymous ones included: testing each user id costs more than the whole
        # quantile, and counting them tells when (rarely) the quantiles must be taken again without them
        arm = row_conditions(quantiles_of)[0]
        cols.append(f"quantile_cont(r.latency_ms, [0.5, 0.95]) FILTER (WHERE {arm})")
        cols.append(f"COUNT(*) FILTER (WHERE {arm}) - COUNT(r.user_id) FILTER (WHERE {arm})")
    if pre_of is not None:
        cols.append(f"COUNT(r.user_id) FILTER (WHERE {row_conditions(pre_of)[1]})")
    groups = run(con, f"SELECT {', '.join(cols)} FROM requests r GROUP BY r.variant, r.experiment_id",
                 source).fetchall()
    bounds: dict[str, tuple[float | None, float | None]] = dict(known)
    for i, name in enumerate(scanned):
        lows = [g[3 + 2 * i] for g in groups if g[3 + 2 * i] is not None]
        highs = [g[4 + 2 * i] for g in groups if g[4 + 2 * i] is not None]
        bounds[name] = (min(lows) if lows else None, max(highs) if highs else None)
    at = 3 + 2 * len(scanned)
    quantiles: dict[str, dict[float, float | None]] | None = None
    if quantiles_of is not None:
        anonymous = any(g[at + 1] for g in groups)
        quantiles = _quantiles(con, source, quantiles_of) if anonymous else arm_quantiles((g[0], g[at]) for g in groups)
        at += 2
    pre_rows = sum(int(g[at] or 0) for g in groups) if pre_of is not None else 0
    return Profile(groups, bounds, quantiles, pre_rows)


def arm_quantiles(rows: Iterable[tuple[Any, Any]]) -> dict[str, dict[float, float | None]]:
    """Each arm's ``{50: median, 95: p95}`` from ``(variant, [median, p95])`` rows (None where it has none)."""
    out: dict[str, dict[float, float | None]] = {a: {50: None, 95: None} for a in ARMS}
    for variant, qs in rows:
        if variant in ARMS and qs is not None:
            out[str(variant)] = {50: float(qs[0]), 95: float(qs[1])}
    return out


def _quantiles(con: duckdb.DuckDBPyConnection, source: str, filters: Filters) -> dict[str, dict[float, float | None]]:
    """Each arm's median and p95 latency over the rows with a user id."""
    return arm_quantiles(run(con, "SELECT r.variant, quantile_cont(r.latency_ms, [0.5, 0.95]) FROM requests r "
                                  f"WHERE r.user_id IS NOT NULL AND {row_conditions(filters)[0]} GROUP BY r.variant",
                             source).fetchall())


def check_bounds(con: duckdb.DuckDBPyConnection, source: str, prof: Profile, scan: str | None,
                 types: dict[str, str]) -> None:
    """A value outside its column's range is bad input naming the first such row (when there is a file)."""
    for name, (low, high) in prof.bounds.items():
        lo, hi = bounds_of(name)
        if (low is not None and low < lo) or (high is not None and high > hi):
            if scan is not None:
                locate(con, source, scan, name, types.get(name))
            bad = low if low is not None and low < lo else high
            raise InvalidInput(out_of_range(float(bad), lo, hi, None) + " (in the request log)",  # type: ignore[arg-type]
                               file=source, field=name)


def locate(con: duckdb.DuckDBPyConnection, source: str, scan: str, name: str, kind: str | None) -> None:
    """Raise the error of the first row of ``scan`` whose ``name`` is text or out of range (if there is one)."""
    if kind is None:
        return
    lo, hi = bounds_of(name)
    value = number_sql(name, kind, cast="TRY_CAST")
    col = f'"{name}"'
    text = (f"({col} IS NOT NULL AND trim({col}) <> '' AND lower(trim({col})) NOT IN ('true', 'false') "
            f"AND TRY_CAST({col} AS DOUBLE) IS NULL)") if kind.startswith("VARCHAR") else "false"
    con.execute("SET threads = 1")  # row_number() OVER () in file order
    con.execute("SET preserve_insertion_order = true")
    found = run(con, f"SELECT row, raw, value FROM (SELECT row_number() OVER () AS row, {col} AS raw, "
                     f"{value} AS value FROM {scan}) numbered WHERE {text.replace(col, 'raw')} "
                     f"OR value < {lo!r} OR value > {hi!r} ORDER BY row LIMIT 1", source).fetchall()
    if found:
        row, raw, number = found[0]
        message = not_a_number(raw, row) if number is None else out_of_range(float(number), lo, hi, row)
        raise InvalidInput(message, file=source, field=name)


def locate_text(con: duckdb.DuckDBPyConnection, source: str, scan: str, types: dict[str, str]) -> None:
    """After a conversion error: the first text that is not a number, or not a time, named by row."""
    for name in NUMBERS:
        if types.get(name, "").startswith("VARCHAR"):
            locate(con, source, scan, name, types[name])
    if types.get("timestamp", "").startswith("VARCHAR"):
        found = run(con, "SELECT row, raw FROM (SELECT row_number() OVER () AS row, \"timestamp\" AS raw "
                         f"FROM {scan}) numbered WHERE raw IS NOT NULL AND trim(raw) <> '' "
                         "AND TRY_CAST(raw AS TIMESTAMPTZ) IS NULL ORDER BY row LIMIT 1", source).fetchall()
        if found:
            raise InvalidInput(f"timestamps must be ISO-8601: {found[0][1]!r} (data row {found[0][0]})",
                               file=source, field="timestamp")


def require_users(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """No per-user rows from a non-empty input: bad input when no row has a user id at all."""
    if not run(con, "SELECT COUNT(user_id) FROM requests", source).fetchall()[0][0]:
        raise InvalidInput("every user_id is empty: the user is the unit of analysis", file=source, field="user_id")


def check_groups(prof: Profile, source: str, experiment_id: str | None, require_experiment: bool,
                 has_experiment: bool) -> list[str]:
    """Variants and the experiment, as the reference checks them; returns the experiment ids present."""
    groups = prof.groups
    unknown = {g[0] for g in groups if g[0] not in (None, "", *ARMS)}
    if unknown:
        raise InvalidInput(f"unknown variant(s) {sorted(unknown)}; expected control or treatment "
                           "(or empty outside an experiment)", file=source, field="variant")
    present = sorted({str(g[1]) for g in groups if g[1]}) if has_experiment and experiment_id is not None else []
    if require_experiment and experiment_id is not None and has_experiment and prof.rows \
            and experiment_id not in present:
        shown = ", ".join(present[:20]) or "none (the column is empty)"
        raise InvalidInput(f"experiment {experiment_id!r} is not in the table; experiment ids present: {shown}",
                           file=source, field="experiment_id")
    return present
