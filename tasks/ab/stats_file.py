"""Per-user statistics files (``modelctl ab analyze --stats FILE``): the documented statement's output,
computed in a warehouse and saved as CSV or Parquet (local or ``s3://``), turned into ``ArmData``."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput
from tasks.ab.data import ARMS, ArmData
from tasks.ab.scan import arrow, table_scan
from tasks.ab.sql import SUMS
from tasks.duck import connect


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


def read_stats(path: str) -> pa.Table:
    """A per-user statistics file (CSV or Parquet, local or ``s3://``), as written by the documented query."""
    if not path.lower().endswith((".csv", ".parquet")):
        raise InvalidInput("statistics are read from a .csv or .parquet file", file=path, field="stats")
    con = connect(s3=path.startswith("s3://"))
    try:
        scan, _ = table_scan(con, path)
        return arrow(con, f"SELECT * FROM {scan}", path)
    finally:
        con.close()
