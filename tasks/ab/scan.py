"""The A/B input as a typed DuckDB relation ``requests``: any table file (CSV / Parquet / JSONL, local or
``s3://``) read with the request-log columns' types, and DuckDB errors turned into the project's errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pyarrow as pa

from registry.errors import InvalidInput
from tasks.duck import quote, wrap_error

if TYPE_CHECKING:
    import duckdb

STRINGS = ("experiment_id", "variant", "user_id", "model")
NUMBERS = ("latency_ms", "cost_usd", "error", "quality_score", "thumbs_up", "input_tokens", "output_tokens")
EPOCH_SQL = "TIMESTAMP '1970-01-01 00:00:00'"


def table_scan(con: duckdb.DuckDBPyConnection, source: str) -> tuple[str, dict[str, str]]:
    """The DuckDB table function reading a table file, and its columns' types."""
    path = source.removeprefix("file://")
    lower = path.lower()
    if "://" in path and not path.startswith("s3://"):
        raise InvalidInput("tables are read from a local path, file:// or s3://", file=source)
    if lower.endswith(".parquet"):
        scan = f"read_parquet({quote(path)})"
    elif lower.endswith(".csv"):
        scan = f"read_csv({quote(path)}, header = true)"
    else:
        scan = f"read_json({quote(path)}, format = 'newline_delimited')"
    types = describe(con, scan, source)
    if lower.endswith(".csv"):  # ids stay text (a numeric-looking id keeps its leading zeros)
        forced = {c: "VARCHAR" for c in (*STRINGS, "thumbs_up") if c in types and types[c] != "VARCHAR"}
        if forced:
            spec = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in forced.items())
            scan = f"read_csv({quote(path)}, header = true, types = {{{spec}}})"
            types = describe(con, scan, source)
    return scan, types


def describe(con: duckdb.DuckDBPyConnection, scan: str, source: str) -> dict[str, str]:
    """Column name -> DuckDB type of a relation."""
    rows = run(con, f"DESCRIBE SELECT * FROM {scan}", source).fetchall()
    return {str(r[0]): str(r[1]).upper() for r in rows}


def number_sql(name: str, kind: str | None, *, cast: str = "CAST") -> str:
    """A column as DOUBLE: booleans and 'true'/'false' text as 1/0, empty text and NaN as NULL.

    ``cast="TRY_CAST"`` gives NULL instead of an error for text that is not a number (to find it).
    """
    if kind is None:
        return "CAST(NULL AS DOUBLE)"
    col = f'"{name}"'
    if kind.startswith("VARCHAR"):
        value = (f"CASE WHEN lower(trim({col})) = 'true' THEN 1.0 WHEN lower(trim({col})) = 'false' THEN 0.0 "
                 f"WHEN trim({col}) = '' THEN NULL ELSE {cast}({col} AS DOUBLE) END")
    elif kind in ("DOUBLE", "FLOAT", "REAL"):
        value = f"CAST({col} AS DOUBLE)"
    else:  # integers, decimals and booleans have no NaN
        return f"CAST({col} AS DOUBLE)"
    return f"NULLIF({value}, CAST('NaN' AS DOUBLE))"  # NaN is missing, as in the reference


def timestamp_sql(kind: str | None, *, cast: str = "CAST") -> str:
    """The ``timestamp`` column as a UTC TIMESTAMP (a missing time is the epoch, as in the reference)."""
    if kind is None:
        return EPOCH_SQL
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        value = 'CAST("timestamp" AS TIMESTAMP)'
    else:
        value = f'CAST({cast}("timestamp" AS TIMESTAMPTZ) AS TIMESTAMP)'
    return f"COALESCE({value}, {EPOCH_SQL})"


def epoch_us_sql(kind: str | None) -> str:
    """The ``timestamp`` column as microseconds since the epoch (UTC; a missing time is 0, as in the reference).

    A stored time is read as is: casting a ``TIMESTAMPTZ`` to ``TIMESTAMP`` first goes through the time-zone
    library for every row (about 1.2 s per 10 M rows), for the same number.
    """
    if kind is None:
        return "0"
    if kind.startswith("TIMESTAMP"):
        return 'COALESCE(epoch_us("timestamp"), 0)'
    return f"COALESCE(epoch_us({timestamp_sql(kind)}), 0)"


def typed_view(scan: str, types: dict[str, str], *, extra: tuple[str, ...] = (), epoch: bool = False) -> str:
    """``SELECT`` of the request-log columns with the types the statement expects; ``epoch``: the time as
    ``ts_us``, microseconds since the epoch (``epoch_us_sql``), instead of a ``timestamp``."""
    cols = []
    for name in STRINGS:  # a VARCHAR column is passed as is: a no-op cast would still cost a copy per row
        if name not in types:
            cols.append(f"CAST(NULL AS VARCHAR) AS {name}")
        else:
            cols.append(f'"{name}" AS {name}' if types[name] == "VARCHAR" else f'CAST("{name}" AS VARCHAR) AS {name}')
    if epoch:
        cols.append(f"{epoch_us_sql(types.get('timestamp'))} AS ts_us")
    else:
        cols.append(f"{timestamp_sql(types.get('timestamp'))} AS timestamp")
    tokens = [c for c in ("input_tokens", "output_tokens") if c in types]
    for name in NUMBERS:
        if name in ("input_tokens", "output_tokens") and name not in types and tokens:
            cols.append(f"0.0 AS {name}")  # one token column alone is the total
        else:
            cols.append(f"{number_sql(name, types.get(name))} AS {name}")
    cols.extend(f'"{name}"' for name in extra if name in types)
    return f"SELECT {', '.join(cols)} FROM {scan}"


def out_of_memory(exc: Exception, source: str) -> MemoryError:
    """DuckDB's memory limit reached: not bad input (exit 70 with this line, not 2)."""
    return MemoryError(f"DuckDB ran out of memory reading {source} ({str(exc).splitlines()[0]}); the A/B engine's "
                       "memory_limit bounds it: raise it, or run the documented query in a warehouse (--stats)")


@contextmanager
def duckdb_errors(source: str) -> Iterator[None]:
    """DuckDB's errors as the project's, naming ``source``: out of memory (exit 70), a value that does not
    convert (bad input), anything else through ``wrap_error``."""
    import duckdb

    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        raise out_of_memory(exc, source) from exc
    except duckdb.ConversionException as exc:
        raise InvalidInput(f"a value does not convert: {str(exc).splitlines()[0]}", file=source) from exc
    except duckdb.Error as exc:
        raise wrap_error(exc, source) from exc


def run(con: duckdb.DuckDBPyConnection, sql: str, source: str) -> duckdb.DuckDBPyConnection:
    """Execute ``sql``; any DuckDB error is the project's error naming ``source``."""
    with duckdb_errors(source):
        return con.execute(sql)


def arrow(con: duckdb.DuckDBPyConnection, sql: str, source: str) -> pa.Table:
    """A query's result as Arrow (no intermediate copy)."""
    with duckdb_errors(source):
        return con.sql(sql).to_arrow_table()
