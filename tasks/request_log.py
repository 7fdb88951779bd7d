"""The request log: one record per gateway call, feedback joined later by request_id.

Layout under the log URI (a directory, or ``s3://bucket/prefix/``)::

    requests/date=YYYY-MM-DD/part-<host>-<pid>-<start>.jsonl    appended by one process (local)
    requests/date=YYYY-MM-DD/part-<time>-<pid>-<rand>.jsonl     one object per flushed batch (S3)
    requests/date=YYYY-MM-DD/compacted-<rand>.parquet          closed days, compacted
    feedback/date=YYYY-MM-DD/...                                the same for feedback rows

Logging never blocks or fails a request: records go to an in-memory buffer that a background thread
flushes by interval and size, and at exit; an unreachable store is reported (logged) and the records
are kept for the next attempt, up to a bound. User ids are stored only as a keyed hash.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import io
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from registry.settings import get_settings

log = logging.getLogger("modelctl.request_log")

REQUEST_FIELDS: list[tuple[str, pa.DataType]] = [
    ("timestamp", pa.timestamp("us", tz="UTC")), ("request_id", pa.string()), ("model", pa.string()),
    ("model_id", pa.string()), ("version", pa.int64()), ("digest", pa.string()), ("environment", pa.string()),
    ("experiment_id", pa.string()), ("variant", pa.string()), ("user_id", pa.string()),
    ("latency_ms", pa.float64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
    ("cost_usd", pa.float64()), ("error", pa.int64()), ("error_type", pa.string()),
    ("input_text", pa.string()), ("output_text", pa.string()),
]
FEEDBACK_FIELDS: list[tuple[str, pa.DataType]] = [
    ("timestamp", pa.timestamp("us", tz="UTC")), ("request_id", pa.string()), ("quality_score", pa.float64()),
    ("thumbs_up", pa.bool_()), ("label", pa.string()), ("verified_by", pa.string()),
]
REQUEST_SCHEMA = pa.schema(REQUEST_FIELDS)
FEEDBACK_SCHEMA = pa.schema(FEEDBACK_FIELDS)
FEEDBACK_COLUMNS = ["quality_score", "thumbs_up", "label", "verified_by"]
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_DEFAULT_REDACT = [r"[\w.+-]+@[\w-]+\.[\w.-]+", r"\b(?:\d[ -]?){12,19}\b"]


def hash_user(user_id: str | None, key: bytes | None = None) -> str | None:
    """The stored form of a user id: HMAC-SHA256 under MODELCTL_USER_HASH_KEY (stable across processes)."""
    if user_id is None:
        return None
    return hmac.new(key or get_settings().hash_key(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


def redactor(patterns: Iterable[str] | None = None) -> re.Pattern[str]:
    """One regex for the configured redaction patterns (emails and card-like numbers by default)."""
    configured = list(patterns if patterns is not None else get_settings().file_config().capture_redact_patterns)
    return re.compile("|".join(f"(?:{p})" for p in (configured or _DEFAULT_REDACT)))


def now_iso() -> str:
    """UTC now as ISO-8601 with a Z (the log's time format)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- sinks ----------------------------------------------------------------------------------------
class LocalSink:
    """Appends batches to one file per (kind, day) for this process."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.tag = f"{socket.gethostname()}-{os.getpid()}-{int(time.time())}"

    def write(self, kind: str, day: str, payload: bytes) -> None:
        directory = self.root / kind / f"date={day}"
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / f"part-{self.tag}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, payload)
        finally:
            os.close(fd)


class S3Sink:
    """One object per flushed batch (objects cannot be appended to)."""

    def __init__(self, uri: str) -> None:
        import boto3

        self.bucket, _, prefix = uri[5:].partition("/")
        self.prefix = prefix.rstrip("/") + "/" if prefix else ""
        self.client = boto3.client("s3")

    def write(self, kind: str, day: str, payload: bytes) -> None:
        key = f"{self.prefix}{kind}/date={day}/part-{int(time.time() * 1000)}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=payload)


def sink_for(uri: str) -> LocalSink | S3Sink:
    """The sink for a log URI."""
    return S3Sink(uri) if uri.startswith("s3://") else LocalSink(uri[7:] if uri.startswith("file://") else uri)


# -- writer ---------------------------------------------------------------------------------------
class RequestLogWriter:
    """Buffered, background-flushed writer; ``append`` never blocks on I/O and never raises."""

    def __init__(self, uri: str | None = None, *, flush_interval: float = 1.0, batch_size: int = 5000,
                 max_pending: int = 500_000) -> None:
        self.uri = uri or get_settings().log
        self.sink = sink_for(self.uri)
        self.flush_interval, self.batch_size, self.max_pending = flush_interval, batch_size, max_pending
        self._pending: list[tuple[str, str, str]] = []  # (kind, day, json line)
        self._lock = threading.Lock()
        self._io_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.dropped = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="modelctl-request-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def append(self, kind: str, record: dict[str, Any]) -> None:
        """Queue one record (``kind`` is ``requests`` or ``feedback``)."""
        line = _encode({k: v for k, v in record.items() if v is not None})
        with self._lock:
            self._pending.append((kind, record["timestamp"][:10], line))
            size = len(self._pending)
        if size >= self.batch_size:
            self._trim()
            self._wake.set()

    def _trim(self) -> None:
        with self._lock:
            overflow = len(self._pending) - self.max_pending
            if overflow > 0:
                del self._pending[:overflow]
                self.dropped += overflow

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> bool:
        """Write everything pending; False (records kept) when the store is unreachable."""
        with self._io_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return True
            groups: dict[tuple[str, str], list[str]] = {}
            for kind, day, line in batch:
                groups.setdefault((kind, day), []).append(line)
            written: set[tuple[str, str]] = set()
            try:
                for (kind, day), lines in groups.items():
                    self.sink.write(kind, day, ("\n".join(lines) + "\n").encode())
                    written.add((kind, day))
            except Exception as exc:  # never let logging fail the application
                self.failures += 1
                log.warning("request log %s unreachable (%s); %d records kept for retry", self.uri,
                            type(exc).__name__, sum(len(v) for k, v in groups.items() if k not in written))
                keep = [item for item in batch if (item[0], item[1]) not in written]
                with self._lock:
                    self._pending[:0] = keep
                return False
            return True

    def close(self) -> None:
        """Flush and stop the background thread (also run at interpreter exit)."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()


# -- reader ---------------------------------------------------------------------------------------
def _as_date(value: str | date | datetime | None) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value  # type: ignore[return-value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    return date.fromisoformat(str(value)[:10])


def _as_ts(value: str | date | datetime | None) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class _Listing:
    """Partition files of one kind, local or on S3."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.s3 = uri.startswith("s3://")
        if self.s3:
            import boto3

            self.bucket, _, prefix = uri[5:].partition("/")
            self.prefix = prefix.rstrip("/") + "/" if prefix else ""
            self.client = boto3.client("s3")
        else:
            self.root = Path(uri[7:] if uri.startswith("file://") else uri)

    def files(self, kind: str, first: date | None, last: date | None) -> list[tuple[str, date, float]]:
        """(path or key, day, modified time) of every data file of ``kind`` in [first, last]."""
        out: list[tuple[str, date, float]] = []
        if self.s3:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}{kind}/"):
                for obj in page.get("Contents", []):
                    day = _day_of(obj["Key"])
                    if day and (first is None or day >= first) and (last is None or day <= last):
                        out.append((obj["Key"], day, obj["LastModified"].timestamp()))
            return out
        base = self.root / kind
        if not base.is_dir():
            return out
        for part in base.iterdir():
            day = _day_of(part.name + "/")
            if day is None or (first and day < first) or (last and day > last):
                continue
            for f in part.iterdir():
                if f.suffix in (".jsonl", ".parquet"):
                    out.append((str(f), day, f.stat().st_mtime))
        return out

    def read(self, name: str) -> bytes:
        if self.s3:
            return bytes(self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read())
        return Path(name).read_bytes()

    def delete(self, name: str) -> None:
        if self.s3:
            self.client.delete_object(Bucket=self.bucket, Key=name)
        else:
            Path(name).unlink(missing_ok=True)

    def write(self, kind: str, day: date, name: str, data: bytes) -> None:
        if self.s3:
            self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}{kind}/date={day}/{name}", Body=data)
        else:
            target = self.root / kind / f"date={day}" / name
            tmp = target.with_name(f".tmp-{name}")
            tmp.write_bytes(data)
            os.replace(tmp, target)


_DAY = re.compile(r"date=(\d{4}-\d{2}-\d{2})/")


def _day_of(path: str) -> date | None:
    m = _DAY.search(path)
    return date.fromisoformat(m.group(1)) if m else None


def _read_table(listing: _Listing, files: list[tuple[str, date, float]], schema: pa.Schema) -> pa.Table:
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    tables = []
    jsonl = [f for f, _, _ in files if f.endswith(".jsonl")]
    if jsonl:
        blob = b"".join(b if b.endswith(b"\n") or not b else b + b"\n" for b in (listing.read(f) for f in jsonl))
        if blob.strip():
            tables.append(pj.read_json(io.BytesIO(blob), parse_options=pj.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"),
                read_options=pj.ReadOptions(block_size=1 << 24)))
    for f, _, _ in files:
        if f.endswith(".parquet"):
            tables.append(pq.read_table(io.BytesIO(listing.read(f))).select(schema.names).cast(schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


_DUCK_TYPES = {pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ", pa.string(): "VARCHAR", pa.int64(): "BIGINT",
               pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}


def _scan_sql(listing: _Listing, files: list[tuple[str, date, float]], schema: pa.Schema) -> str:
    """One relation over a kind's JSONL and Parquet files, typed by ``schema`` (torn JSON lines skipped)."""
    from tasks.duck import quote, quote_list

    def path(name: str) -> str:
        return f"s3://{listing.bucket}/{name}" if listing.s3 else name

    cols = ", ".join(f"CAST({f.name} AS {_DUCK_TYPES[f.type]}) AS {f.name}" for f in schema)
    parts = []
    jsonl = [path(f) for f, _, _ in files if f.endswith(".jsonl")]
    if jsonl:
        spec = ", ".join(f"{quote(f.name)}: {quote(_DUCK_TYPES[f.type])}" for f in schema)
        parts.append(f"SELECT {cols} FROM read_json({quote_list(jsonl)}, format = 'newline_delimited', "
                     f"columns = {{{spec}}}, ignore_errors = true)")
    parquet = [path(f) for f, _, _ in files if f.endswith(".parquet")]
    if parquet:
        parts.append(f"SELECT {cols} FROM read_parquet({quote_list(parquet)}, union_by_name = true)")
    if not parts:
        nulls = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[f.type]}) AS {f.name}" for f in schema)
        return f"SELECT {nulls} WHERE 1 = 0"
    return " UNION ALL ".join(parts)


def _latest_feedback_sql(columns: list[str]) -> str:
    """The latest feedback row per request_id: one hash aggregation (``arg_max``), no sort."""
    cols = [c for c in dict.fromkeys(columns) if c != "request_id"]
    packed = ", ".join(f"{c} := {c}" for c in cols)
    picked = ", ".join(f"latest.{c} AS {c}" for c in cols)
    return (f"SELECT request_id, {picked} FROM (SELECT request_id, arg_max(struct_pack({packed}), timestamp) "
            "AS latest FROM feedback_log GROUP BY request_id) newest")


def register_log_views(con: Any, uri: str, since: date | None = None, until: date | None = None) -> None:
    """Views over a request log on a DuckDB connection: ``requests_log`` and ``feedback_log`` (as stored),
    and ``requests`` / ``feedback`` typed for the A/B statement (``tasks/ab/sql.py``)."""
    listing = _Listing(uri)
    con.execute(f"CREATE VIEW requests_log AS {_scan_sql(listing, listing.files('requests', since, until), REQUEST_SCHEMA)}")
    con.execute(f"CREATE VIEW feedback_log AS {_scan_sql(listing, listing.files('feedback', since, None), FEEDBACK_SCHEMA)}")
    con.execute("CREATE VIEW requests AS SELECT request_id, experiment_id, variant, user_id, model, "
                "COALESCE(CAST(timestamp AS TIMESTAMP), TIMESTAMP '1970-01-01 00:00:00') AS timestamp, "
                "CAST(latency_ms AS DOUBLE) AS latency_ms, CAST(cost_usd AS DOUBLE) AS cost_usd, "
                "CAST(error AS DOUBLE) AS error, CAST(input_tokens AS DOUBLE) AS input_tokens, "
                "CAST(output_tokens AS DOUBLE) AS output_tokens FROM requests_log")
    con.execute("CREATE VIEW feedback AS SELECT request_id, CAST(timestamp AS TIMESTAMP) AS timestamp, "
                "quality_score, thumbs_up FROM feedback_log")


def load_requests(uri: str | None = None, model: str | None = None, since: str | date | datetime | None = None,
                  until: str | date | datetime | None = None, experiment_id: str | None = None,
                  columns: list[str] | None = None, with_feedback: bool = True,
                  feedback_only: bool = False) -> pd.DataFrame:
    """Requests in [since, until] (UTC), optionally of one model or experiment, with feedback joined.

    Feedback is joined by request_id (the latest feedback row wins); its columns are empty where
    there is none (``feedback_only``: only requests that have feedback). Filtering, the join and the
    projection run in DuckDB over the JSONL and Parquet files (``s3://`` through the fsspec layer);
    rows come back in file order.
    """
    import duckdb

    from tasks.duck import connect, quote

    wanted = columns if columns is not None else [*REQUEST_SCHEMA.names, *(FEEDBACK_COLUMNS if with_feedback else [])]
    req_cols = [c for c in wanted if c in REQUEST_SCHEMA.names]
    fb_cols = [c for c in wanted if c in FEEDBACK_COLUMNS] if with_feedback else []
    uri = uri or get_settings().log
    con = connect(s3=uri.startswith("s3://"))
    try:
        register_log_views(con, uri, _as_date(since), _as_date(until))
        where = []
        for column, value in (("model", model), ("experiment_id", experiment_id)):
            if value is not None:
                where.append(f"r.{column} = {quote(value)}")
        lo, hi = _as_ts(since), _as_ts(until)
        if lo is not None:
            where.append(f"r.timestamp >= CAST({quote(lo.isoformat())} AS TIMESTAMPTZ)")
        if hi is not None:
            where.append(f"r.timestamp <= CAST({quote(hi.isoformat())} AS TIMESTAMPTZ)")
        select = ", ".join([*(f"r.{c}" for c in req_cols), *(f"f.{c}" for c in fb_cols)]) or "1 AS _"
        sql = f"SELECT {select} FROM requests_log r"
        if fb_cols:
            sql += f" LEFT JOIN ({_latest_feedback_sql(fb_cols)}) f ON f.request_id = r.request_id"
            if feedback_only:
                where.append("f.request_id IS NOT NULL")
        if where:
            sql += " WHERE " + " AND ".join(where)
        con.execute("SET preserve_insertion_order = true")  # rows in file order, as written (no sort)
        table = con.sql(sql).to_arrow_table()
    except duckdb.IOException as exc:  # an unreadable store, as the Arrow reader reported it
        raise OSError(str(exc).splitlines()[0]) from exc
    finally:
        con.close()
    types = dict(REQUEST_FIELDS) | dict(FEEDBACK_FIELDS)
    schema = pa.schema([(c, types[c]) for c in [*req_cols, *fb_cols]])
    frame = table.select(schema.names).cast(schema).to_pandas()
    for column in fb_cols:  # a request without feedback reads NaN, as a pandas left merge gives
        if frame[column].dtype == object:
            frame[column] = frame[column].where(frame[column].notna(), np.nan)
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return frame.reset_index(drop=True)


def load_requests_arrow(uri: str | None = None, model: str | None = None, since: str | date | datetime | None = None,
                  until: str | date | datetime | None = None, experiment_id: str | None = None,
                  columns: list[str] | None = None, with_feedback: bool = True) -> pd.DataFrame:
    """``load_requests`` on Arrow and pandas: the reference the DuckDB reader is tested against."""
    import pyarrow.compute as pc

    listing = _Listing(uri or get_settings().log)
    first, last = _as_date(since), _as_date(until)
    table = _read_table(listing, listing.files("requests", first, last), REQUEST_SCHEMA)
    mask = None
    for column, value in (("model", model), ("experiment_id", experiment_id)):
        if value is not None:
            cond = pc.equal(table[column], value)
            mask = cond if mask is None else pc.and_(mask, cond)
    lo, hi = _as_ts(since), _as_ts(until)
    if lo is not None:
        cond = pc.greater_equal(table["timestamp"], pa.scalar(lo.to_pydatetime(), pa.timestamp("us", tz="UTC")))
        mask = cond if mask is None else pc.and_(mask, cond)
    if hi is not None:
        cond = pc.less_equal(table["timestamp"], pa.scalar(hi.to_pydatetime(), pa.timestamp("us", tz="UTC")))
        mask = cond if mask is None else pc.and_(mask, cond)
    if mask is not None:
        table = table.filter(mask)
    frame = table.to_pandas()
    if with_feedback:
        feedback = _read_table(listing, listing.files("feedback", first, None), FEEDBACK_SCHEMA).to_pandas()
        feedback = feedback.sort_values("timestamp", kind="stable").drop_duplicates("request_id", keep="last")
        frame = frame.merge(feedback[["request_id", *FEEDBACK_COLUMNS]], on="request_id", how="left")
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return frame.reset_index(drop=True)


def compact(uri: str | None = None, *, today: date | None = None, quiet_seconds: float = 600) -> list[str]:
    """Rewrite closed days' JSONL files as one Parquet file each (so analyses read columns, not JSON).

    A day is closed when it is before ``today`` and none of its JSONL files changed for ``quiet_seconds``.
    """
    import pyarrow.parquet as pq

    listing = _Listing(uri or get_settings().log)
    today = today or datetime.now(UTC).date()
    done = []
    for kind, schema in (("requests", REQUEST_SCHEMA), ("feedback", FEEDBACK_SCHEMA)):
        by_day: dict[date, list[tuple[str, date, float]]] = {}
        for item in listing.files(kind, None, today - timedelta(days=1)):
            if item[0].endswith(".jsonl"):
                by_day.setdefault(item[1], []).append(item)
        for day, files in sorted(by_day.items()):
            if max(m for _, _, m in files) > time.time() - quiet_seconds:
                continue
            table = _read_table(listing, files, schema)
            buffer = io.BytesIO()
            pq.write_table(table, buffer, compression="zstd")
            listing.write(kind, day, f"compacted-{uuid.uuid4().hex[:12]}.parquet", buffer.getvalue())
            for name, _, _ in files:
                listing.delete(name)
            done.append(f"{kind}/date={day}: {len(files)} file(s), {table.num_rows} rows -> parquet")
    return done
