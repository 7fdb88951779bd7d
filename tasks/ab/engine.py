"""The DuckDB engine of the A/B input: filtering, the feedback join and per-user sums run in SQL.

The statement is ``tasks.ab.sql.user_stats_sql`` (dialect-neutral, documented in the README); this
module gives it a typed ``requests`` view over the input (a CSV / Parquet / JSONL table, local or
``s3://``, or a request-log location), checks the input the way ``tasks.ab.data`` does, and turns
the per-user rows into ``ArmData``. Median and p95 latency per arm are computed in SQL too, so no
request-level array leaves DuckDB. ``tasks.ab.data.reduce_table`` (Arrow) stays the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput, RegistryError
from tasks.ab.data import ARMS, OPTIONAL, REQUIRED, ArmData, Window, is_table
from tasks.ab.sql import SUMS, Filters, user_stats_sql
from tasks.duck import connect, quote, wrap_error

if TYPE_CHECKING:
    import duckdb

STRINGS = ("experiment_id", "variant", "user_id", "model")
NUMBERS = ("latency_ms", "cost_usd", "error", "quality_score", "thumbs_up", "input_tokens", "output_tokens")
EPOCH_SQL = "TIMESTAMP '1970-01-01 00:00:00'"


def _scan(con: duckdb.DuckDBPyConnection, source: str) -> tuple[str, dict[str, str]]:
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
    types = _describe(con, scan, source)
    if lower.endswith(".csv"):  # ids stay text (a numeric-looking id keeps its leading zeros)
        forced = {c: "VARCHAR" for c in (*STRINGS, "thumbs_up") if c in types and types[c] != "VARCHAR"}
        if forced:
            spec = ", ".join(f"{quote(k)}: {quote(v)}" for k, v in forced.items())
            scan = f"read_csv({quote(path)}, header = true, types = {{{spec}}})"
            types = _describe(con, scan, source)
    return scan, types


def _describe(con: duckdb.DuckDBPyConnection, scan: str, source: str) -> dict[str, str]:
    import duckdb

    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
    except duckdb.Error as exc:
        raise wrap_error(exc, source) from exc
    return {str(r[0]): str(r[1]).upper() for r in rows}


def _number(name: str, kind: str | None) -> str:
    """A column as DOUBLE: booleans and 'true'/'false' text as 1/0, empty text and NaN as NULL."""
    if kind is None:
        return "CAST(NULL AS DOUBLE)"
    col = f'"{name}"'
    if kind.startswith("VARCHAR"):
        value = (f"CASE WHEN lower({col}) = 'true' THEN 1.0 WHEN lower({col}) = 'false' THEN 0.0 "
                 f"WHEN {col} = '' THEN NULL ELSE CAST({col} AS DOUBLE) END")
    elif kind in ("DOUBLE", "FLOAT", "REAL"):
        value = f"CAST({col} AS DOUBLE)"
    else:  # integers, decimals and booleans have no NaN
        return f"CAST({col} AS DOUBLE)"
    return f"NULLIF({value}, CAST('NaN' AS DOUBLE))"  # NaN is missing, as in the reference


def _timestamp(kind: str | None) -> str:
    if kind is None:
        return EPOCH_SQL
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        value = 'CAST("timestamp" AS TIMESTAMP)'
    else:
        value = 'CAST(CAST("timestamp" AS TIMESTAMPTZ) AS TIMESTAMP)'
    return f"COALESCE({value}, {EPOCH_SQL})"  # as the reference: a missing time is the epoch


def typed_view(scan: str, types: dict[str, str], *, extra: tuple[str, ...] = ()) -> str:
    """``SELECT`` of the request-log columns with the types the statement expects."""
    cols = []
    for name in STRINGS:  # a VARCHAR column is passed as is: a no-op cast would still cost a copy per row
        if name not in types:
            cols.append(f"CAST(NULL AS VARCHAR) AS {name}")
        else:
            cols.append(f'"{name}" AS {name}' if types[name] == "VARCHAR" else f'CAST("{name}" AS VARCHAR) AS {name}')
    cols.append(f"{_timestamp(types.get('timestamp'))} AS timestamp")
    tokens = [c for c in ("input_tokens", "output_tokens") if c in types]
    for name in NUMBERS:
        if name in ("input_tokens", "output_tokens") and name not in types and tokens:
            cols.append(f"0.0 AS {name}")  # one token column alone is the total
        else:
            cols.append(f"{_number(name, types.get(name))} AS {name}")
    cols.extend(f'"{name}"' for name in extra if name in types)
    return f"SELECT {', '.join(cols)} FROM {scan}"


def _filters(experiment_id: str | None, window: Window, has: set[str]) -> Filters:
    timed = "timestamp" in has
    return Filters(experiment_id=experiment_id if "experiment_id" in has else None,
                   since=window.since if timed else None, pre_start=window.pre_start if timed else None,
                   pre_end=window.pre_end if timed else None, model=window.model if "model" in has else None)


def _profile(con: duckdb.DuckDBPyConnection, source: str, has_scores: bool,
             quantiles_of: Filters | None = None) -> list[tuple[Any, ...]]:
    """(variant, experiment_id, rows, score bounds[, p50, p95 latency]) groups: the input checks in one scan.

    With ``quantiles_of``, the same scan computes each arm's median and p95 latency over the rows
    those filters select (for a plain A/B window, where no request is dropped by attribution).
    """
    from tasks.ab.sql import row_conditions

    scores = ("MIN(r.quality_score), MAX(r.quality_score), MIN(r.thumbs_up), MAX(r.thumbs_up)" if has_scores
              else "NULL, NULL, NULL, NULL")
    if quantiles_of is not None:
        arm = f"r.user_id IS NOT NULL AND {row_conditions(quantiles_of)[0]}"
        scores += (f", quantile_cont(r.latency_ms, 0.5) FILTER (WHERE {arm}), "
                   f"quantile_cont(r.latency_ms, 0.95) FILTER (WHERE {arm})")
    return _run(con, f"SELECT r.variant, r.experiment_id, COUNT(*), {scores} FROM requests r "
                     "GROUP BY r.variant, r.experiment_id", source).fetchall()


def _profiled_quantiles(groups: list[tuple[Any, ...]]) -> dict[str, dict[float, float | None]]:
    out: dict[str, dict[float, float | None]] = {a: {50: None, 95: None} for a in ARMS}
    for g in groups:
        if g[0] in ARMS and g[7] is not None:
            out[str(g[0])] = {50: float(g[7]), 95: float(g[8])}
    return out


def _with_arms(con: duckdb.DuckDBPyConnection, stats: pa.Table, source: str) -> pa.Table:
    """The ``arms`` column filled in by a hash aggregation over the per-user rows (users in both arms)."""
    if not stats.num_rows or stats["arms"].null_count < stats.num_rows:
        return stats
    con.register("per_user_rows", stats.select(["user_id"]))
    twice = _arrow(con, "SELECT user_id FROM per_user_rows GROUP BY user_id HAVING COUNT(*) > 1", source)
    con.unregister("per_user_rows")
    index = stats.column_names.index("arms")
    if not twice.num_rows:
        return stats.set_column(index, "arms", pa.array(np.ones(stats.num_rows, np.int64)))
    both = pc.is_in(stats["user_id"], value_set=twice["user_id"].combine_chunks())
    return stats.set_column(index, "arms", pc.if_else(both, 2, 1).cast(pa.int64()))


def _run(con: duckdb.DuckDBPyConnection, sql: str, source: str) -> duckdb.DuckDBPyConnection:
    import duckdb

    try:
        return con.execute(sql)
    except duckdb.ConversionException as exc:
        raise InvalidInput(f"expected numbers: {str(exc).splitlines()[0]}", file=source) from exc
    except duckdb.Error as exc:
        raise wrap_error(exc, source) from exc


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, source: str) -> pa.Table:
    """A query's result as Arrow (no intermediate copy)."""
    import duckdb

    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.ConversionException as exc:
        raise InvalidInput(f"expected numbers: {str(exc).splitlines()[0]}", file=source) from exc
    except duckdb.Error as exc:
        raise wrap_error(exc, source) from exc


def _check(groups: list[tuple[Any, ...]], source: str, experiment_id: str | None, require_experiment: bool,
           has_experiment: bool) -> list[str]:
    """The same checks as the reference; returns the experiment ids present."""
    unknown = {g[0] for g in groups if g[0] not in (None, "", *ARMS)}
    if unknown:
        raise InvalidInput(f"unknown variant(s) {sorted(unknown)}; expected control or treatment "
                           "(or empty outside an experiment)", file=source, field="variant")
    rows = sum(g[2] for g in groups)
    for name, lo, hi in (("quality_score", 3, 4), ("thumbs_up", 5, 6)):
        for g in groups:
            bad = next((v for v in (g[lo], g[hi]) if v is not None and not 0 <= v <= 1), None)
            if bad is not None:
                raise InvalidInput(f"{bad:g} is outside [0, 1] (a {name} value)", file=source, field=name)
    present = sorted({str(g[1]) for g in groups if g[1]}) if has_experiment and experiment_id is not None else []
    if require_experiment and experiment_id is not None and has_experiment and rows \
            and experiment_id not in present:
        shown = ", ".join(present[:20]) or "none (the column is empty)"
        raise InvalidInput(f"experiment {experiment_id!r} is not in the table; experiment ids present: {shown}",
                           file=source, field="experiment_id")
    return present


def _require_users(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """No per-user rows from a non-empty input: bad input when no row has a user id at all."""
    if not _run(con, "SELECT COUNT(user_id) FROM requests", source).fetchall()[0][0]:
        raise InvalidInput("every user_id is empty: the user is the unit of analysis", file=source, field="user_id")


def _column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(pc.fill_null(table[name].cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False),
                      dtype=np.float64)


def _in_both(table: pa.Table, is_t: np.ndarray) -> np.ndarray:
    """Rows of users seen in both arms (the statement's ``arms`` column, else by matching user ids)."""
    if "arms" in table.column_names and table["arms"].null_count < table.num_rows:
        return np.asarray(pc.fill_null(table["arms"], 1).to_numpy(zero_copy_only=False)) > 1
    users = table["user_id"].cast(pa.string())
    t_users, c_users = pc.filter(users, pa.array(is_t)), pc.filter(users, pa.array(~is_t))
    in_both = np.zeros(table.num_rows, bool)
    in_both[is_t] = np.asarray(pc.is_in(t_users, value_set=c_users.combine_chunks()).to_numpy(zero_copy_only=False),
                               dtype=bool)
    in_both[~is_t] = np.asarray(pc.is_in(c_users, value_set=t_users.combine_chunks())
                                .to_numpy(zero_copy_only=False), dtype=bool)
    return in_both


def arms_from_user_stats(table: pa.Table, source: str, *, attribute_first_exposure: bool = False,
                         experiment_ids: list[str] | None = None,
                         quantiles: dict[str, dict[float, float | None]] | None = None) -> dict[str, ArmData]:
    """``ArmData`` from per-(variant, user) rows with the statement's output columns.

    A user with rows in both arms is attributed to the arm of first exposure (canary steps), or
    counted as mixed and left out of both arms.
    """
    missing = [c for c in ("variant", "user_id", *SUMS) if c not in table.column_names]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)} in the statistics; expected the columns of "
                           "the documented query (variant, user_id, n, latency, cost, errors, q_sum, q_n, ...)",
                           file=source, field=missing[0])
    variant = table["variant"].cast(pa.string())
    unknown = set(pc.unique(variant).to_pylist()) - set(ARMS)
    if unknown:
        raise InvalidInput(f"unknown variant(s) {sorted(str(u) for u in unknown)}; expected control or treatment",
                           file=source, field="variant")
    is_t = np.asarray(pc.equal(variant, "treatment").to_numpy(zero_copy_only=False), dtype=bool)
    in_both = _in_both(table, is_t)
    both = int(in_both[is_t].sum())
    keep = ~in_both
    switched = dropped = mixed = 0
    n_all = _column(table, "n")
    if both and attribute_first_exposure and "first_exposure" in table.column_names:
        first = np.asarray(table["first_exposure"].cast(pa.timestamp("us")).cast(pa.int64())
                           .fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
        rows = np.flatnonzero(in_both)
        keys = table["user_id"].cast(pa.string()).take(pa.array(rows)).to_pylist()
        firsts: dict[str, list[int]] = {}
        for row, key in zip(rows, keys, strict=True):
            firsts.setdefault(key, [0, 0])[int(is_t[row])] = int(first[row])
        for row, key in zip(rows, keys, strict=True):
            control_first, treatment_first = firsts[key]
            treated_first = treatment_first < control_first  # a tie goes to control, as in the reference
            if bool(is_t[row]) == treated_first:
                keep[row] = True
            else:
                dropped += int(n_all[row])
        switched = both
    else:
        mixed = both
    pre_users = 0
    if "pre_users" in table.column_names and table.num_rows:
        pre_users = int(pc.max(table["pre_users"]).as_py() or 0)
    elif "pre_n" in table.column_names:
        pre_users = int(pc.sum(pc.fill_null(table["pre_n"], 0)).as_py() or 0)
    sums = {name: _column(table, name) for name in SUMS}
    pre = {name: _column(table, f"pre_{name}") for name in SUMS} if pre_users else None
    out = {}
    for arm, member in (("control", keep & ~is_t), ("treatment", keep & is_t)):
        rows = np.flatnonzero(member)
        out[arm] = ArmData(users=rows, n=sums["n"][member], latency=sums["latency"][member],
                           cost=sums["cost"][member], errors=sums["errors"][member], q_sum=sums["q_sum"][member],
                           q_n=sums["q_n"][member], t_sum=sums["t_sum"][member], t_n=sums["t_n"][member],
                           latencies=np.zeros(0, np.float64), mixed_users=mixed, tok_sum=sums["tok_sum"][member],
                           tok_n=sums["tok_n"][member], pre={k: v[member] for k, v in pre.items()} if pre else None,
                           switched_users=switched, dropped_requests=dropped,
                           experiment_ids=list(experiment_ids or []),
                           latency_quantiles=(quantiles or {}).get(arm))
    for name in ("latency", "cost", "errors", "q_sum", "t_sum", "tok_sum"):
        if not np.isfinite(sums[name]).all():
            raise InvalidInput("infinite values are not measurements", file=source, field=name)
    return out


def _quantiles(con: duckdb.DuckDBPyConnection, filters: Filters, dropped: pa.Table | None,
               source: str) -> dict[str, dict[float, float | None]]:
    """Median and p95 latency per arm over the experiment's requests (after first-exposure attribution)."""
    from tasks.ab.sql import row_conditions

    arm, _ = row_conditions(filters)
    anti = ""
    if dropped is not None and dropped.num_rows:
        con.register("dropped_rows", dropped)
        anti = (" AND NOT EXISTS (SELECT 1 FROM dropped_rows d WHERE d.user_id = r.user_id "
                "AND d.variant = r.variant)")
    rows = _run(con, "SELECT r.variant, quantile_cont(r.latency_ms, 0.5), quantile_cont(r.latency_ms, 0.95) "
                     f"FROM requests r WHERE r.user_id IS NOT NULL AND {arm}{anti} GROUP BY r.variant",
                source).fetchall()
    out: dict[str, dict[float, float | None]] = {a: {50: None, 95: None} for a in ARMS}
    for variant, p50, p95 in rows:
        out[str(variant)] = {50: None if p50 is None else float(p50), 95: None if p95 is None else float(p95)}
    return out


def _dropped(stats: pa.Table, attribute: bool) -> pa.Table | None:
    """(user_id, variant) of the arm each switched user's later requests came from."""
    if not attribute or not stats.num_rows:
        return None
    arms = arms_from_user_stats(stats.select(["variant", "user_id", *SUMS, "first_exposure", "arms"]), "",
                                attribute_first_exposure=True)
    if not arms["control"].switched_users:
        return None
    users, variant = stats["user_id"].cast(pa.string()), stats["variant"].cast(pa.string())
    kept = np.zeros(stats.num_rows, bool)
    kept[arms["control"].users] = True
    kept[arms["treatment"].users] = True
    return pa.table({"user_id": users, "variant": variant}).filter(pa.array(~kept))


def load_arms_sql(source: str, experiment_id: str | None = None, *, window: Window | None = None,
                  require_experiment: bool = False, threads: int | None = None) -> dict[str, ArmData]:
    """Per-user sufficient statistics computed in DuckDB (same contract as ``tasks.ab.data.load_arms``)."""
    window = window or Window()
    con = connect(threads, s3=source.startswith("s3://"))
    try:
        feedback_table = not is_table(source)
        if feedback_table:
            from tasks.request_log import register_log_views

            register_log_views(con, source)
            types = {name: "" for name in (*STRINGS, "timestamp", *NUMBERS)}
        else:
            scan, types = _scan(con, source)
            missing = [c for c in REQUIRED if c not in types]
            if missing:
                raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected "
                                   f"{', '.join(REQUIRED + OPTIONAL)}", file=source, field=missing[0])
            # Parquet is scanned in place (columns and row groups on demand); a text table is parsed once
            kind = "VIEW" if source.lower().endswith(".parquet") else "TEMP TABLE"
            _run(con, f"CREATE {kind} requests AS {typed_view(scan, types)}", source)
        filters = _filters(experiment_id, window, set(types))
        attribute = window.attribute_first_exposure and "timestamp" in types
        # one group per arm holds the window's rows: the quantiles ride along the profiling scan
        fold = not attribute and (filters.experiment_id is not None or "experiment_id" not in types)
        groups = _profile(con, source, has_scores=not feedback_table, quantiles_of=filters if fold else None)
        present = _check(groups, source, experiment_id, require_experiment, "experiment_id" in types)
        has_pre = any(g[0] in (None, "") and g[2] for g in groups)  # else the statement needs no pre-period join
        wanted = ["variant", "user_id", *SUMS, "arms", *(["first_exposure"] if attribute else []),
                  *([f"pre_{name}" for name in SUMS] + ["pre_users"] if has_pre else [])]
        statement = user_stats_sql(filters, feedback_table=feedback_table, first_exposure=attribute,
                                   pre_period=has_pre)
        stats = _arrow(con, f"SELECT {', '.join(wanted)} FROM ({statement}) per_user_stats", source)
        if not stats.num_rows and sum(g[2] for g in groups):
            _require_users(con, source)
        stats = _with_arms(con, stats, source)
        if fold:
            quantiles = _profiled_quantiles(groups)
        else:
            quantiles = _quantiles(con, filters, _dropped(stats, attribute), source)
        return arms_from_user_stats(stats, source, experiment_ids=present, quantiles=quantiles,
                                    attribute_first_exposure=attribute)
    except RegistryError:
        raise
    finally:
        con.close()


def read_stats(path: str) -> pa.Table:
    """A per-user statistics file (CSV or Parquet, local or ``s3://``), as written by the documented query."""
    if not path.lower().endswith((".csv", ".parquet")):
        raise InvalidInput("statistics are read from a .csv or .parquet file", file=path, field="stats")
    con = connect(s3=path.startswith("s3://"))
    try:
        scan, _ = _scan(con, path)
        return _arrow(con, f"SELECT * FROM {scan}", path)
    finally:
        con.close()
