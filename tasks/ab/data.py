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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput

REQUIRED = ["variant", "user_id", "latency_ms", "cost_usd", "error"]
OPTIONAL = ["experiment_id", "timestamp", "model", "quality_score", "thumbs_up", "input_tokens", "output_tokens"]
ARMS = ("control", "treatment")
SUM_NAMES = ("n", "latency", "cost", "errors", "q_sum", "q_n", "t_sum", "t_n", "tok_sum", "tok_n")
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
    latencies: np.ndarray  # request level, for median / p95
    mixed_users: int = 0  # users seen in both arms (a data problem unless attributed)
    tok_sum: np.ndarray | None = None
    tok_n: np.ndarray | None = None
    pre: dict[str, np.ndarray] | None = None  # the same sums over the pre-experiment period, per user
    switched_users: int = 0  # users seen in both arms, attributed to their arm at first exposure
    dropped_requests: int = 0  # their requests from the other arm, left out
    experiment_ids: list[str] = field(default_factory=list)

    @property
    def user_count(self) -> int:
        return int(len(self.users))


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
    import boto3

    from registry.errors import StoreUnavailable

    bucket, _, key = source[len("s3://"):].partition("/")
    try:
        return bytes(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404", "NoSuchBucket"):
            raise InvalidInput("table not found", file=source) from exc
        raise StoreUnavailable(f"cannot read {source}: {exc}") from exc


def _read_table(source: str) -> pa.Table:
    """The whole table (only the columns the analysis reads)."""
    lower = source.lower()
    if not is_table(source):
        from tasks.request_log import load_requests

        frame = load_requests(source, columns=[*REQUIRED, *OPTIONAL])
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


def _numbers(table: pa.Table, name: str, source: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = table[name]
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        lowered = pc.utf8_lower(col)
        col = pc.if_else(pc.equal(lowered, "true"), "1", pc.if_else(pc.equal(lowered, "false"), "0", col))
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    try:
        values = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(f"expected numbers: {str(exc).splitlines()[0]}", file=source, field=name) from exc
    finite = values[~np.isnan(values)]
    if not np.isfinite(finite).all():
        raise InvalidInput("infinite values are not measurements", file=source, field=name)
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


def load_arms(source: str, experiment_id: str | None = None, *, window: Window | None = None,
              require_experiment: bool = False) -> dict[str, ArmData]:
    """Per-user sufficient statistics for control and treatment.

    Args:
        source: a table (CSV / Parquet / JSONL, local or ``s3://``) or a request-log location.
        experiment_id: keep this experiment's rows (when the table has an ``experiment_id`` column).
        window: the analysis window, pre-period and first-exposure attribution (canary steps).
        require_experiment: an id absent from the table is bad input naming the ids present.
    """
    window = window or Window()
    table = _read_table(source)
    return reduce_table(table, source, experiment_id, window, require_experiment)


def reduce_table(table: pa.Table, source: str, experiment_id: str | None, window: Window,
                 require_experiment: bool = False) -> dict[str, ArmData]:
    """The per-user reduction of an Arrow table (see ``load_arms``)."""
    names = table.column_names
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected {', '.join(REQUIRED + OPTIONAL)}",
                           file=source, field=missing[0])
    rows = table.num_rows
    variant = _strings(table, "variant")
    unknown = set(pc.unique(variant).to_pylist()) - set(ARMS) - {None, ""}
    if unknown:
        raise InvalidInput(f"unknown variant(s) {sorted(map(str, unknown))}; expected control or treatment "
                           "(or empty outside an experiment)", file=source, field="variant")
    is_t = pc.fill_null(pc.equal(variant, "treatment"), False).to_numpy(zero_copy_only=False).astype(bool)
    is_c = pc.fill_null(pc.equal(variant, "control"), False).to_numpy(zero_copy_only=False).astype(bool)
    arm_rows = is_t | is_c
    present_ids: list[str] = []
    if experiment_id is not None and "experiment_id" in names:
        ids = _strings(table, "experiment_id")
        match = pc.fill_null(pc.equal(ids, experiment_id), False).to_numpy(zero_copy_only=False).astype(bool)
        present_ids = sorted(str(x) for x in pc.unique(ids).to_pylist() if x)
        if require_experiment and rows and not match.any():
            shown = ", ".join(present_ids[:20]) or "none (the column is empty)"
            raise InvalidInput(f"experiment {experiment_id!r} is not in the table; experiment ids present: {shown}",
                               file=source, field="experiment_id")
        arm_rows &= match
    ts = _micros(table, source)
    since = _us(window.since)
    if since is not None and ts is not None:
        arm_rows &= ts >= since
    pre_rows = ~(is_t | is_c)  # traffic outside any arm: the pre-period (bounded by the window when given)
    if window.model is not None and "model" in names:
        pre_rows &= pc.fill_null(pc.equal(_strings(table, "model"), window.model), False).to_numpy(
            zero_copy_only=False).astype(bool)
    lo, hi = _us(window.pre_start), _us(window.pre_end)
    if ts is not None and hi is not None:
        pre_rows &= ts < hi
    if ts is not None and lo is not None:
        pre_rows &= ts >= lo
    user_col = _strings(table, "user_id")
    if user_col.null_count:
        if user_col.null_count == rows:
            raise InvalidInput("every user_id is empty: the user is the unit of analysis", file=source,
                               field="user_id")
        known = pc.is_valid(user_col).to_numpy(zero_copy_only=False).astype(bool)
        arm_rows &= known
        pre_rows &= known
    encoded = pc.dictionary_encode(user_col.combine_chunks().fill_null(""))
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    users = len(encoded.dictionary)
    cols = {name: _numbers(table, name, source) for name in ("latency_ms", "cost_usd", "error", "quality_score",
                                                             "thumbs_up", "input_tokens", "output_tokens")}
    for name in ("quality_score", "thumbs_up"):
        v = cols[name]
        bad = (v < 0) | (v > 1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidInput(f"{name} must be in [0, 1], got {v[row]:g} (row {row + 1})", file=source, field=name)
    tokens = cols["input_tokens"] + cols["output_tokens"]
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
    sums = _sums(idx, arm_rows, users, cols, tokens)
    treated = np.bincount(idx[arm_rows], weights=is_t[arm_rows].astype(float), minlength=users)
    pre = _sums(idx, pre_rows, users, cols, tokens) if pre_rows.any() else None
    present = sums["n"] > 0
    mixed = int((present & (treated > 0) & (treated < sums["n"])).sum())
    lat = cols["latency_ms"]
    out = {}
    for arm, member, flag in (("control", present & (treated == 0), is_c), ("treatment", present & (treated == sums["n"]), is_t)):
        out[arm] = ArmData(users=np.flatnonzero(member), n=sums["n"][member], latency=sums["latency"][member],
                           cost=sums["cost"][member], errors=sums["errors"][member], q_sum=sums["q_sum"][member],
                           q_n=sums["q_n"][member], t_sum=sums["t_sum"][member], t_n=sums["t_n"][member],
                           latencies=lat[arm_rows & flag].astype(np.float32), mixed_users=mixed,
                           tok_sum=sums["tok_sum"][member], tok_n=sums["tok_n"][member],
                           pre={k: v[member] for k, v in pre.items()} if pre is not None else None,
                           switched_users=switched, dropped_requests=dropped, experiment_ids=present_ids)
    return out


def _sums(idx: np.ndarray, rows: np.ndarray, users: int, cols: dict[str, np.ndarray],
          tokens: np.ndarray) -> dict[str, np.ndarray]:
    i = idx[rows]
    out = {"n": np.bincount(i, minlength=users).astype(float)}
    for name, col in (("latency", "latency_ms"), ("cost", "cost_usd"), ("errors", "error")):
        out[name] = np.bincount(i, weights=np.nan_to_num(cols[col][rows]), minlength=users)
    for value, total, count in ((cols["quality_score"], "q_sum", "q_n"), (cols["thumbs_up"], "t_sum", "t_n"),
                                (tokens, "tok_sum", "tok_n")):
        v = value[rows]
        ok = ~np.isnan(v)
        out[total] = np.bincount(i[ok], weights=v[ok], minlength=users)
        out[count] = np.bincount(i[ok], minlength=users).astype(float)
    return out


def empty_arm() -> ArmData:
    """An arm with no users."""
    z = np.array([], dtype=np.float64)
    return ArmData(np.array([], dtype=np.int64), z, z, z, z, z, z, z, z, np.array([], np.float32), tok_sum=z, tok_n=z)
