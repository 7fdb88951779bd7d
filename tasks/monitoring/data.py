"""Monitor input of the Arrow engine (``engine="arrow"``, the reference of ``tasks.monitoring.engine``): the
request log (or a CSV / Parquet / JSONL table) as numpy columns, read once.

Only the columns the monitor needs are read; model, environment and user ids are dictionary-encoded so
that 10 million rows never become Python objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput

COLUMNS = ["timestamp", "model", "version", "environment", "user_id", "latency_ms", "input_tokens",
           "output_tokens", "cost_usd", "error", "quality_score", "thumbs_up"]
REQUIRED = ["timestamp", "model", "version", "latency_ms", "error"]
TABLE_SUFFIXES = (".parquet", ".csv", ".jsonl", ".json")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class LogColumns:
    """The selected rows' columns: codes into ``models``, times in microseconds, NaN where absent."""

    models: list[str]
    model_idx: np.ndarray
    version: np.ndarray
    user: np.ndarray  # dense integer user codes in [0, users); anonymous requests get a code of their own
    ts: np.ndarray
    latency: np.ndarray
    cost: np.ndarray
    error: np.ndarray
    tokens: np.ndarray
    quality: np.ndarray
    thumbs: np.ndarray
    users: int = 0

    @property
    def rows(self) -> int:
        return int(len(self.ts))


def micros(when: datetime) -> int:
    """Microseconds since the epoch of an aware (or UTC-naive) datetime."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (aware - EPOCH) // timedelta(microseconds=1)


def parse_duration(text: str, what: str) -> timedelta:
    """``30m``, ``24h``, ``7d`` or ``2w`` as a timedelta (bad input otherwise)."""
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        amount = float(value)
    except ValueError:
        amount = -1.0
    if unit not in units or amount <= 0:
        raise InvalidInput(f"expected a duration like 24h or 7d, got {text!r}", field=what)
    return timedelta(**{units[unit]: amount})


def is_table(source: str) -> bool:
    """A CSV / Parquet / JSONL table (by its suffix), not a request-log location."""
    return source.lower().endswith(TABLE_SUFFIXES)


def _read(source: str, model: str | None, since: datetime, until: datetime) -> pa.Table:
    lower = source.lower()
    if not is_table(source):
        from tasks.request_log import load_requests

        frame = load_requests(source, model=model, since=since, until=until, columns=COLUMNS)
        return pa.Table.from_pandas(frame, preserve_index=False)
    path = source.removeprefix("file://")
    if "://" in path:
        raise InvalidInput("tables are read from a local path or file:// (request logs may be s3://)", file=source)
    if not Path(path).exists():
        raise InvalidInput("file not found", file=source)
    try:
        if lower.endswith(".parquet"):
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            wanted = [c for c in COLUMNS if c in names]
            return pq.read_table(path, columns=wanted,
                                 read_dictionary=[c for c in ("model", "environment") if c in wanted])
        if lower.endswith(".csv"):
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
                strings_can_be_null=True, column_types={"user_id": pa.string(), "model": pa.string(),
                                                        "environment": pa.string(), "thumbs_up": pa.string()}))
        import pyarrow.json as pj

        return pj.read_json(path)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
        raise InvalidInput(f"unreadable table: {str(exc).splitlines()[0]}", file=source) from exc


def _strings(col: pa.ChunkedArray) -> pa.Array:
    """A string column as one dictionary array."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(col.type):
        return col if pa.types.is_string(col.type.value_type) else col.cast(pa.dictionary(pa.int32(), pa.string()))
    return pc.dictionary_encode(col.cast(pa.string()))


def _numbers(table: pa.Table, name: str, source: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    col = table[name]
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        lowered = pc.utf8_lower(col)
        col = pc.if_else(pc.equal(lowered, "true"), "1", pc.if_else(pc.equal(lowered, "false"), "0", col))
        col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    try:
        return np.asarray(col.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(f"expected numbers: {str(exc).splitlines()[0]}", file=source, field=name) from exc


def _timestamps(table: pa.Table, source: str) -> np.ndarray:
    col = table["timestamp"]
    try:
        if not pa.types.is_timestamp(col.type):
            col = col.cast(pa.string()).cast(pa.timestamp("us", tz="UTC"))
        col = col.cast(pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput("timestamps must be ISO-8601", file=source, field="timestamp") from exc
    return np.asarray(pc.fill_null(col.cast(pa.int64()), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _codes(arr: pa.Array) -> tuple[np.ndarray, list[str]]:
    return arr.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64), arr.dictionary.to_pylist()


def _user_codes(table: pa.Table) -> tuple[np.ndarray, int]:
    """Dense user codes; each anonymous request is a user of its own."""
    if "user_id" not in table.column_names:
        return np.arange(table.num_rows, dtype=np.int64), table.num_rows
    col = table["user_id"].combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    encoded = pc.dictionary_encode(col.cast(pa.string()))
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    users = len(encoded.dictionary)
    anonymous = codes < 0
    if anonymous.any():
        codes[anonymous] = users + np.arange(int(anonymous.sum()))
        users += int(anonymous.sum())
    return codes, users


def load_columns(source: str, *, since: datetime, until: datetime, model: str | None = None,
                 environment: str | None = "production") -> LogColumns:
    """Rows of ``source`` in ``[since, until)`` (of one model and environment when given) as numpy columns.

    Rows with no environment count as ``production``; rows with no version are left out.
    """
    table = _read(source, model, since, until)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InvalidInput(f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}", file=source,
                           field=missing[0])
    ts = _timestamps(table, source)
    keep = (ts >= micros(since)) & (ts < micros(until))
    model_codes, models = _codes(_strings(table["model"]))
    if model is not None:
        keep &= model_codes == (models.index(model) if model in models else -2)
    if environment is not None and "environment" in table.column_names:
        env_codes, envs = _codes(_strings(table["environment"]))
        wanted = [i for i, e in enumerate(envs) if e == environment]
        keep &= np.isin(env_codes, wanted) | (env_codes == -1 if environment == "production" else False)
    version = _numbers(table, "version", source)
    keep &= np.isfinite(version) & (model_codes >= 0)
    everything = bool(keep.all())
    rows = slice(None) if everything else np.flatnonzero(keep)
    user, users = _user_codes(table)
    table = table.drop_columns([c for c in ("timestamp", "model", "environment", "version", "user_id")
                                if c in table.column_names])  # free the Arrow buffers as we go
    out: dict[str, np.ndarray] = {"ts": ts[rows], "model_idx": model_codes[rows],
                                  "version": version[rows].astype(np.int64), "user": user[rows]}
    del ts, model_codes, version, user
    tokens = np.zeros(len(out["ts"]))
    for name in ("latency_ms", "cost_usd", "error", "input_tokens", "output_tokens", "quality_score", "thumbs_up"):
        values = _numbers(table, name, source)[rows]
        if name in table.column_names:
            table = table.drop_columns([name])  # free the Arrow buffers as we go
        if name in ("quality_score", "thumbs_up") and ((values < 0) | (values > 1)).any():
            raise InvalidInput(f"{name} must be in [0, 1]", file=source, field=name)
        if name.endswith("_tokens"):
            tokens += np.nan_to_num(values)
        else:
            out[name] = values if name in ("quality_score", "thumbs_up") else np.nan_to_num(values)
    return LogColumns(models=[str(m) for m in models], model_idx=out["model_idx"], version=out["version"],
                      user=out["user"], ts=out["ts"], latency=out["latency_ms"], cost=out["cost_usd"],
                      error=out["error"], tokens=tokens, quality=out["quality_score"], thumbs=out["thumbs_up"],
                      users=users)
