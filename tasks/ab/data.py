"""A/B input: a request log (or any CSV / Parquet / JSONL table, local or ``s3://``) reduced to per-user sums.

Columns: ``experiment_id, variant (control|treatment), user_id, timestamp, latency_ms, cost_usd,
quality_score, thumbs_up, error`` and optionally ``model, input_tokens, output_tokens``
(``quality_score`` and ``thumbs_up`` empty where there is no feedback). Rows with an empty variant are
traffic outside any experiment: with a pre-period they give each user's pre-experiment values (CUPED).

Columns are read once into Arrow; user ids are dictionary-encoded and every per-user sum is one
``numpy.bincount``, so rows never become Python objects.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput
from tasks.ab.validate import MAX_ABS, RANGES, as_float, out_of_range

REQUIRED = ["variant", "user_id", "latency_ms", "cost_usd", "error"]
OPTIONAL = ["experiment_id", "timestamp", "model", "quality_score", "thumbs_up", "input_tokens", "output_tokens"]
ARMS = ("control", "treatment")
SUM_NAMES = ("n", "latency", "cost", "errors", "q_sum", "q_n", "t_sum", "t_n", "tok_sum", "tok_n")
# each metric's per-user sum and count (the metric is sum over count, per user and per arm)
METRIC_SUMS = {"quality_score": ("q_sum", "q_n"), "thumbs_up": ("t_sum", "t_n"), "error_rate": ("errors", "n"),
               "latency_ms": ("latency", "n"), "cost_usd": ("cost", "n"), "tokens": ("tok_sum", "tok_n")}
TABLE_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class ArmData:
    """Per-user sums of one arm (aligned arrays, one entry per user) and its request latencies."""

    users: np.ndarray
    n: np.ndarray
    latency: np.ndarray
    cost: np.ndarray
    errors: np.ndarray
    q_sum: np.ndarray
    q_n: np.ndarray
    t_sum: np.ndarray
    t_n: np.ndarray
    latencies: np.ndarray  # request level, for median / p95 (empty when the engine gives the quantiles)
    mixed_users: int = 0  # users seen in both arms (a data problem unless attributed)
    tok_sum: np.ndarray | None = None
    tok_n: np.ndarray | None = None
    pre: dict[str, np.ndarray] | None = None  # the same sums over the pre-experiment period, per user
    switched_users: int = 0  # users seen in both arms, attributed to their arm at first exposure
    dropped_requests: int = 0  # their requests from the other arm, left out
    experiment_ids: list[str] = field(default_factory=list)
    latency_quantiles: dict[float, float | None] | None = None  # {50: median, 95: p95}, computed in SQL

    @property
    def user_count(self) -> int:
        return int(len(self.users))

    def mean_latencies(self) -> np.ndarray:
        """Each user's mean latency (for the rank test)."""
        return self.latency / np.maximum(self.n, 1)


@dataclass(frozen=True)
class Window:
    """Which rows count: the experiment's rows since ``since``; the pre-period ``[pre_start, pre_end)``."""

    since: datetime | None = None
    pre_start: datetime | None = None
    pre_end: datetime | None = None
    model: str | None = None
    attribute_first_exposure: bool = False


def is_table(source: str) -> bool:
    """A single table file (rather than a request-log location)."""
    return source.lower().endswith(TABLE_SUFFIXES)


def _read_bytes(source: str) -> bytes:
    """An ``s3://`` table's bytes through the one blob layer: missing is bad input, anything else a store fault."""
    from registry.blobs import read_bytes
    from registry.errors import StoreUnavailable

    try:
        return read_bytes(source)
    except FileNotFoundError as exc:
        raise InvalidInput("table not found", file=source) from exc
    except OSError as exc:
        raise StoreUnavailable(f"cannot read {source}: {exc}") from exc


def _read_table(source: str) -> pa.Table:
    """The whole table (only the columns the analysis reads)."""
    lower = source.lower()
    if not is_table(source):
        from tasks.request_log import load_requests_arrow

        frame = load_requests_arrow(source, columns=[*REQUIRED, *OPTIONAL])
        return pa.Table.from_pandas(frame, preserve_index=False)
    if source.startswith("s3://"):
        data: object = io.BytesIO(_read_bytes(source))
    elif "://" in source and not source.startswith("file://"):
        raise InvalidInput("tables are read from a local path, file:// or s3://", file=source)
    else:
        path = source.removeprefix("file://")
        if not Path(path).exists():
            raise InvalidInput("file not found", file=source)
        data = path
    try:
        if lower.endswith(".parquet"):
            import pyarrow.parquet as pq

            schema = pq.read_schema(data)  # type: ignore[arg-type]
            if isinstance(data, io.BytesIO):
                data.seek(0)
            wanted = [c for c in [*REQUIRED, *OPTIONAL] if c in schema.names]
            return pq.read_table(data, columns=wanted,  # type: ignore[arg-type]
                                 read_dictionary=[c for c in ("variant", "experiment_id", "model") if c in wanted])
        if lower.endswith(".csv"):
            import pyarrow.csv as pcsv

            return pcsv.read_csv(data, read_options=pcsv.ReadOptions(block_size=64 << 20),  # type: ignore[arg-type]
                                 convert_options=pcsv.ConvertOptions(
                                     strings_can_be_null=True,
                                     column_types={"user_id": pa.string(), "variant": pa.string(),
                                                   "experiment_id": pa.string(), "quality_score": pa.float64(),
                                                   "thumbs_up": pa.string()}))
        import pyarrow.json as pj

        return pj.read_json(data)  # type: ignore[arg-type]
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidInput(f"unreadable table: {str(exc).splitlines()[0]}", file=source) from exc


def _strings(table: pa.Table, name: str) -> pa.ChunkedArray:
    col = table[name]
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    return col.cast(pa.string())


def _numbers(table: pa.Table, name: str, source: str, offset: int = 0) -> np.ndarray:
    """A numeric column as float64 (NaN where empty), checked: numbers, finite, in range (``validate``)."""
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    values = as_float(table[name], name, source, offset)
    low, high = RANGES.get(name, (0.0, MAX_ABS))
    bad = np.flatnonzero(~np.isnan(values) & ((values < low) | (values > high) | ~np.isfinite(values)))
    if len(bad):
        i = int(bad[0])
        raise InvalidInput(out_of_range(float(values[i]), low, high, offset + i + 1), file=source, field=name)
    return values


def _micros(table: pa.Table, source: str) -> np.ndarray | None:
    if "timestamp" not in table.column_names:
        return None
    col = table["timestamp"]
    try:
        if not pa.types.is_timestamp(col.type):
            col = col.cast(pa.string()).cast(pa.timestamp("us", tz="UTC"))
        col = col.cast(pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        import pandas as pd

        try:
            parsed = pd.to_datetime(col.to_pandas(), utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise InvalidInput("timestamps must be ISO-8601", file=source, field="timestamp") from exc
        return parsed.astype("int64").to_numpy() // 1000
    return np.asarray(pc.fill_null(col.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _us(when: datetime | None) -> int | None:
    if when is None:
        return None
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (aware - EPOCH) // timedelta(microseconds=1)


@contextmanager
def open_arms(source: str, experiment_id: str | None = None, *, window: Window | None = None,
              require_experiment: bool = False, engine: str = "duckdb") -> Iterator[dict[str, Any]]:
    """Both arms for ``tasks.ab.analysis.analyze``, valid inside the block (arguments as ``load_arms``).

    The DuckDB engine keeps the per-user table in DuckDB and answers each estimator with per-arm sums
    (``tasks.ab.moments``), so no per-user vector is built; ``arrow`` yields ``load_arms``' vectors.
    """
    if engine == "duckdb":
        from tasks.ab.engine import open_arms_sql

        with open_arms_sql(source, experiment_id, window=window, require_experiment=require_experiment) as arms:
            yield arms
        return
    yield load_arms(source, experiment_id, window=window, require_experiment=require_experiment, engine=engine)


def load_arms(source: str, experiment_id: str | None = None, *, window: Window | None = None,
              require_experiment: bool = False, engine: str = "duckdb") -> dict[str, ArmData]:
    """Per-user sufficient statistics for control and treatment.

    Args:
        source: a table (CSV / Parquet / JSONL, local or ``s3://``) or a request-log location.
        experiment_id: keep this experiment's rows (when the table has an ``experiment_id`` column).
        window: the analysis window, pre-period and first-exposure attribution (canary steps).
        require_experiment: an id absent from the table is bad input naming the ids present.
        engine: ``duckdb`` (the default: checks, filters and per-user sums in SQL, out of core; only numbers
            reach Python) or ``arrow`` (the reference the DuckDB engine is tested against: columns read in
            chunks, every value checked, per-user sums by ``numpy.bincount``).
    """
    if engine == "duckdb":
        from tasks.ab.engine import load_arms_sql

        return load_arms_sql(source, experiment_id, window=window, require_experiment=require_experiment)
    if engine != "arrow":
        raise InvalidInput(f"unknown engine {engine!r}; duckdb or arrow", field="engine")
    window = window or Window()
    table = _read_table(source)
    return reduce_table(table, source, experiment_id, window, require_experiment)


def _equals(table: pa.Table, name: str, value: str) -> np.ndarray:
    """``column == value`` as a numpy bool array (nulls false), on dictionary indices when encoded."""
    col = table[name]
    parts = []
    for chunk in col.chunks:
        if pa.types.is_dictionary(chunk.type):
            hits = [i for i, v in enumerate(chunk.dictionary.to_pylist()) if v == value]
            codes = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False)
            parts.append(np.isin(codes, hits) if hits else np.zeros(len(chunk), bool))
        else:
            parts.append(pc.fill_null(pc.equal(chunk.cast(pa.string()), value), False)
                         .to_numpy(zero_copy_only=False).astype(bool))
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def _distinct(table: pa.Table, name: str) -> set[str]:
    """The column's non-empty values."""
    out: set[str] = set()
    for chunk in table[name].chunks:
        if pa.types.is_dictionary(chunk.type):
            values = chunk.dictionary.to_pylist()
            out.update(str(values[i]) for i in pc.unique(chunk.indices.drop_null()).to_pylist() if values[i])
        else:
            out.update(str(v) for v in pc.unique(chunk.cast(pa.string())).to_pylist() if v)
    return out


CHUNK_ROWS = 1 << 20


def reduce_table(table: pa.Table, source: str, experiment_id: str | None, window: Window,
                 require_experiment: bool = False) -> dict[str, ArmData]:
    """The per-user reduction of an Arrow table (see ``load_arms``)."""
    names = table.column_names
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED + OPTIONAL)}",
                           file=source, field=missing[0])
    rows = table.num_rows
    unknown = _distinct(table, "variant") - set(ARMS)
    if unknown:
        raise InvalidInput(f"unknown variant(s) {sorted(unknown)}; expected control or treatment "
                           "(or empty outside an experiment)", file=source, field="variant")
    is_t, is_c = _equals(table, "variant", "treatment"), _equals(table, "variant", "control")
    arm_rows = is_t | is_c
    present_ids: list[str] = []
    if experiment_id is not None and "experiment_id" in names:
        match = _equals(table, "experiment_id", experiment_id)
        present_ids = sorted(_distinct(table, "experiment_id"))
        if require_experiment and rows and not match.any():
            shown = ", ".join(present_ids[:20]) or "none (the column is empty)"
            raise InvalidInput(f"experiment {experiment_id!r} is not in the table; experiment ids present: {shown}",
                               file=source, field="experiment_id")
        arm_rows &= match
    since, lo, hi = _us(window.since), _us(window.pre_start), _us(window.pre_end)
    needs_time = since is not None or lo is not None or hi is not None or window.attribute_first_exposure
    ts = _micros(table, source) if needs_time else None
    if since is not None and ts is not None:
        arm_rows &= ts >= since
    pre_rows = ~(is_t | is_c)  # traffic outside any arm: the pre-period (bounded by the window when given)
    if window.model is not None and "model" in names:
        pre_rows &= _equals(table, "model", window.model)
    if ts is not None and hi is not None:
        pre_rows &= ts < hi
    if ts is not None and lo is not None:
        pre_rows &= ts >= lo
    user_col = table["user_id"]
    if pa.types.is_dictionary(user_col.type) or not pa.types.is_string(user_col.type):
        user_col = user_col.cast(pa.string())
    if user_col.null_count:
        if user_col.null_count == rows:
            raise InvalidInput("every user_id is empty: the user is the unit of analysis", file=source,
                               field="user_id")
        known = pc.is_valid(user_col).to_numpy(zero_copy_only=False).astype(bool)
        arm_rows &= known
        pre_rows &= known
        user_col = user_col.fill_null("")
    encoded = pc.dictionary_encode(user_col.combine_chunks())
    del user_col
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    users = len(encoded.dictionary)
    del encoded
    switched = dropped = 0
    if window.attribute_first_exposure and ts is not None:
        big = np.iinfo(np.int64).max
        first_t, first_c = np.full(users, big), np.full(users, big)
        np.minimum.at(first_t, idx[arm_rows & is_t], ts[arm_rows & is_t])
        np.minimum.at(first_c, idx[arm_rows & is_c], ts[arm_rows & is_c])
        both = (first_t < big) & (first_c < big)
        switched = int(both.sum())
        if switched:
            treated_first = first_t < first_c
            keep = arm_rows & (is_t == treated_first[idx])
            dropped = int(arm_rows.sum() - keep.sum())
            arm_rows = keep
    del ts
    has_pre = bool(pre_rows.any())
    sums = {name: np.zeros(users) for name in SUM_NAMES}
    pre = {name: np.zeros(users) for name in SUM_NAMES} if has_pre else None
    treated = np.zeros(users)
    latencies: dict[str, list[np.ndarray]] = {arm: [] for arm in ARMS}
    tokens = [c for c in ("input_tokens", "output_tokens") if c in names]
    for start in range(0, rows, CHUNK_ROWS):
        part = table.slice(start, CHUNK_ROWS)
        cols = {name: _numbers(part, name, source, start) for name in ("latency_ms", "cost_usd", "error",
                                                                       "quality_score", "thumbs_up", *tokens)}
        cols["tokens"] = sum((cols[c] for c in tokens), np.zeros(len(cols["latency_ms"]))) if tokens \
            else np.full(len(cols["latency_ms"]), np.nan)
        i, rows_here = idx[start:start + CHUNK_ROWS], arm_rows[start:start + CHUNK_ROWS]
        _accumulate(sums, i, rows_here, cols, users)
        flag = is_t[start:start + CHUNK_ROWS]
        treated += np.bincount(i[rows_here], weights=flag[rows_here].astype(float), minlength=users)
        for arm, member in (("treatment", flag), ("control", is_c[start:start + CHUNK_ROWS])):
            latencies[arm].append(cols["latency_ms"][rows_here & member])
        if pre is not None:
            _accumulate(pre, i, pre_rows[start:start + CHUNK_ROWS], cols, users)
    present = sums["n"] > 0
    mixed = int((present & (treated > 0) & (treated < sums["n"])).sum())
    out = {}
    for arm, member in (("control", present & (treated == 0)), ("treatment", present & (treated == sums["n"]))):
        out[arm] = ArmData(users=np.flatnonzero(member), n=sums["n"][member], latency=sums["latency"][member],
                           cost=sums["cost"][member], errors=sums["errors"][member], q_sum=sums["q_sum"][member],
                           q_n=sums["q_n"][member], t_sum=sums["t_sum"][member], t_n=sums["t_n"][member],
                           latencies=np.concatenate(latencies[arm]) if latencies[arm] else np.zeros(0),
                           mixed_users=mixed, tok_sum=sums["tok_sum"][member], tok_n=sums["tok_n"][member],
                           pre={k: v[member] for k, v in pre.items()} if pre is not None else None,
                           switched_users=switched, dropped_requests=dropped, experiment_ids=present_ids)
    return out


def _accumulate(sums: dict[str, np.ndarray], idx: np.ndarray, rows: np.ndarray, cols: dict[str, np.ndarray],
                users: int) -> None:
    """Add one chunk's selected rows to the per-user sums."""
    i = idx[rows]
    sums["n"] += np.bincount(i, minlength=users)
    for name, col in (("latency", "latency_ms"), ("cost", "cost_usd"), ("errors", "error")):
        sums[name] += np.bincount(i, weights=np.nan_to_num(cols[col][rows]), minlength=users)
    for col, total, count in (("quality_score", "q_sum", "q_n"), ("thumbs_up", "t_sum", "t_n"),
                              ("tokens", "tok_sum", "tok_n")):
        v = cols[col][rows]
        ok = ~np.isnan(v)
        if ok.any():
            sums[total] += np.bincount(i[ok], weights=v[ok], minlength=users)
            sums[count] += np.bincount(i[ok], minlength=users)


def empty_arm() -> ArmData:
    """An arm with no users."""
    z = np.array([], dtype=np.float64)
    return ArmData(np.array([], dtype=np.int64), z, z, z, z, z, z, z, z, np.array([], np.float32), tok_sum=z, tok_n=z)
