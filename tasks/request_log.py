"""The request log: one record per gateway call, feedback joined later by request_id.

Layout under the log URI (a directory, or ``s3://bucket/prefix/``)::

    requests/date=YYYY-MM-DD/part-<host>-<pid>-<start>.jsonl    appended by one process (local)
    requests/date=YYYY-MM-DD/part-<time>-<pid>-<rand>.jsonl     one object per flushed batch (S3)
    requests/date=YYYY-MM-DD/compacted-<rand>.parquet          closed days, compacted
    feedback/date=YYYY-MM-DD/...                                the same for feedback rows

Logging never blocks or fails a request: records go to an in-memory buffer that a background thread
flushes by interval and size, and at exit (SIGTERM included); every write is checked. An unreachable
or full store is reported (logged) and the records are kept for the next attempt, up to a bound; past
it, and at exit, they are spilled to a local file that is named in the warning, never dropped silently.
A torn line (a writer killed mid-line) is skipped and counted by the reader. User ids are stored only as
a keyed hash; files holding captured content are created 0600.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import re
import signal
import socket
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
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
    # optional: streamed requests (time to first token, abandoned by the caller), tool calls
    ("ttft_ms", pa.float64()), ("abandoned", pa.int64()), ("tool_names", pa.string()),
]
FEEDBACK_FIELDS: list[tuple[str, pa.DataType]] = [
    ("timestamp", pa.timestamp("us", tz="UTC")), ("request_id", pa.string()), ("quality_score", pa.float64()),
    ("thumbs_up", pa.bool_()), ("label", pa.string()), ("verified_by", pa.string()),
]
REQUEST_SCHEMA = pa.schema(REQUEST_FIELDS)
FEEDBACK_SCHEMA = pa.schema(FEEDBACK_FIELDS)
FEEDBACK_COLUMNS = ["quality_score", "thumbs_up", "label", "verified_by"]
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_DEFAULT_REDACT = [r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
                   r"(?<!\d)(?:\d[\s.\-/]{0,3}){12,18}\d(?!\d)"]  # card numbers, also split or dotted
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u2060\ufeff"))
FILE_MODE = 0o600


def hash_user(user_id: str | None, key: bytes | None = None) -> str | None:
    """The stored form of a user id: HMAC-SHA256 under MODELCTL_USER_HASH_KEY (stable across processes)."""
    if user_id is None:
        return None
    return hmac.new(key or get_settings().hash_key(), user_id.encode(), hashlib.sha256).hexdigest()[:32]


class Redactor:
    """Redaction of captured content: the default email and card-number patterns plus configured ones.

    Text is normalised first (NFKC, invisible characters removed) so that full-width ``＠`` or digits
    and zero-width spaces cannot slip an address or a card number past the patterns.
    """

    def __init__(self, patterns: Iterable[str] = (), *, defaults: bool = True) -> None:
        from registry.errors import InvalidInput

        chosen = [*(_DEFAULT_REDACT if defaults else []), *patterns]
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InvalidInput(f"invalid redaction pattern {pattern!r}: {exc}",
                                   field=f"capture_redact_patterns.{i}") from exc
        self.patterns = chosen
        self.regex = re.compile("|".join(f"(?:{p})" for p in chosen)) if chosen else None

    def sub(self, replacement: str, text: str) -> str:
        """``text`` normalised, with every match replaced."""
        text = unicodedata.normalize("NFKC", text.translate(_INVISIBLE))
        return self.regex.sub(replacement, text) if self.regex is not None else text


def redactor(patterns: Iterable[str] | None = None, *, defaults: bool | None = None) -> Redactor:
    """The redactor for the configured patterns; the defaults stay unless ``capture_redact_defaults: false``."""
    config = get_settings().file_config()
    configured = list(patterns if patterns is not None else config.capture_redact_patterns)
    return Redactor(configured, defaults=config.capture_redact_defaults if defaults is None else defaults)


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
        append_whole(directory / f"part-{self.tag}.jsonl", payload)


def append_whole(path: Path, payload: bytes) -> None:
    """Append all of ``payload`` or nothing: a short or failed write (disk full) is cut back off, so that
    no torn line is left behind, and raised."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        start = os.fstat(fd).st_size
        view = memoryview(payload)
        try:
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(28, "No space left on device", str(path))
                view = view[written:]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


class S3Sink:
    """One object per flushed batch (objects cannot be appended to), through the blob layer."""

    def __init__(self, uri: str) -> None:
        from registry.blobs import filesystem

        self.fs, path = filesystem(uri)
        self.path = path.rstrip("/")
        self.client = getattr(self.fs, "client", None)  # the boto3 client, for its retry settings

    def write(self, kind: str, day: str, payload: bytes) -> None:
        name = f"part-{int(time.time() * 1000)}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self.fs.pipe_file(f"{self.path}/{kind}/date={day}/{name}", payload)


def sink_for(uri: str) -> LocalSink | S3Sink:
    """The sink for a log URI."""
    return S3Sink(uri) if uri.startswith("s3://") else LocalSink(uri[7:] if uri.startswith("file://") else uri)


# -- writer ---------------------------------------------------------------------------------------
class RequestLogWriter:
    """Buffered, background-flushed writer; ``append`` never blocks on I/O and never raises."""

    def __init__(self, uri: str | None = None, *, flush_interval: float = 1.0, batch_size: int = 5000,
                 max_pending: int = 500_000, spill_dir: str | None = None) -> None:
        self.uri = uri or get_settings().log
        self.sink = sink_for(self.uri)
        self.flush_interval, self.batch_size, self.max_pending = flush_interval, batch_size, max_pending
        self.spill_dir = Path(spill_dir or Path(tempfile.gettempdir()) / "modelctl-spill")
        self.spilled: list[str] = []
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
        _exit_on_sigterm()

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
            if overflow <= 0:
                return
            batch = self._pending[:overflow]
            del self._pending[:overflow]
        self._spill(batch, "the buffer is full")

    def _spill(self, batch: list[tuple[str, str, str]], why: str) -> None:
        """Write records that cannot reach the log to a local file (same layout as a log) and say where."""
        if not batch:
            return
        tag = f"spill-{socket.gethostname()}-{os.getpid()}-{int(time.time() * 1000)}"
        groups: dict[tuple[str, str], list[str]] = {}
        for kind, day, line in batch:
            groups.setdefault((kind, day), []).append(line)
        written = 0
        paths = []
        for (kind, day), lines in groups.items():
            path = self.spill_dir / kind / f"date={day}" / f"part-{tag}.jsonl"
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                append_whole(path, ("\n".join(lines) + "\n").encode())
            except OSError as exc:
                self.dropped += len(lines)
                log.error("request log: %d record(s) LOST: %s and the spill file %s failed (%s)",
                          len(lines), why, path, exc)
                continue
            written += len(lines)
            paths.append(str(path))
        if paths:
            self.spilled.extend(paths)
            log.warning("request log %s: %s; %d record(s) spilled to %s (copy them into the log, or read them "
                        "with load_requests(%r))", self.uri, why, written, ", ".join(paths), str(self.spill_dir))

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
                log.warning("request log %s unreachable (%s: %s); %d records kept for retry", self.uri,
                            type(exc).__name__, exc, sum(len(v) for k, v in groups.items() if k not in written))
                keep = [item for item in batch if (item[0], item[1]) not in written]
                with self._lock:
                    self._pending[:0] = keep
                self._trim()
                return False
            return True

    def close(self) -> None:
        """Flush and stop the background thread (also run at interpreter exit and on SIGTERM); records that
        cannot be written are spilled to a local file, named in a warning."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)
        if not self.flush():
            with self._lock:
                batch, self._pending = self._pending, []
            self._spill(batch, "the log is unreachable at exit")


_SIGTERM_INSTALLED = False


def _raise_exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _exit_on_sigterm() -> None:
    """SIGTERM's default kills the process without running exit handlers (≈ a second of acknowledged
    records lost): turn it into a normal exit so that ``close`` flushes. An application's own handler
    is left alone (the CLI's raises KeyboardInterrupt, which runs exit handlers too)."""
    global _SIGTERM_INSTALLED
    if _SIGTERM_INSTALLED or threading.current_thread() is not threading.main_thread():
        return
    _SIGTERM_INSTALLED = True
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_exit)


# -- reader ---------------------------------------------------------------------------------------
def _as_date(value: str | date | datetime | None, field: str = "since") -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value  # type: ignore[return-value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    return _as_ts(value, field).date()  # type: ignore[union-attr]


def _as_ts(value: str | date | datetime | None, field: str = "since") -> pd.Timestamp | None:
    from registry.errors import InvalidInput

    if value is None:
        return None
    try:
        if isinstance(value, str):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"{value!r} is not a date or time: use YYYY-MM-DD or an ISO-8601 time",
                           field=field) from exc
    if ts is pd.NaT:
        raise InvalidInput(f"{value!r} is not a date or time", field=field)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class _Listing:
    """Partition files of one kind under a log URI (a path, file:// or s3://), through the blob layer."""

    def __init__(self, uri: str) -> None:
        from registry.blobs import filesystem

        self.uri = uri
        self.fs, path = filesystem(uri)
        self.scheme = "s3://" if uri.startswith("s3://") else ""
        self.path = path.rstrip("/")

    def files(self, kind: str, first: date | None, last: date | None) -> list[tuple[str, date, float]]:
        """(path or URI, day, modified time) of every data file of ``kind`` in [first, last]."""
        out: list[tuple[str, date, float]] = []
        try:
            found = self.fs.find(f"{self.path}/{kind}", detail=True)
        except FileNotFoundError:
            return out
        for name, info in found.items():
            day = _day_of(name)
            if day is None or (first and day < first) or (last and day > last):
                continue
            if name.endswith((".jsonl", ".parquet")) and not name.rsplit("/", 1)[-1].startswith("."):
                modified = info.get("mtime") or info.get("LastModified") or 0.0
                stamp = modified.timestamp() if hasattr(modified, "timestamp") else float(modified)
                out.append((self.scheme + name, day, stamp))
        return out

    def read(self, name: str) -> bytes:
        from registry.blobs import read_bytes

        return read_bytes(name)

    def delete(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(name.removeprefix(self.scheme))

    def write(self, kind: str, day: date, name: str, data: bytes) -> None:
        from registry.blobs import write_bytes

        write_bytes(f"{self.scheme}{self.path}/{kind}/date={day}/{name}", data, mode=FILE_MODE)


_DAY = re.compile(r"date=(\d{4}-\d{2}-\d{2})/")


def _day_of(path: str) -> date | None:
    m = _DAY.search(path)
    return date.fromisoformat(m.group(1)) if m else None


def _read_table(listing: _Listing, files: list[tuple[str, date, float]], schema: pa.Schema) -> pa.Table:
    import pyarrow.parquet as pq

    tables = []
    jsonl = [f for f, _, _ in files if f.endswith(".jsonl")]
    if jsonl:
        blob = b"".join(b if b.endswith(b"\n") or not b else b + b"\n" for b in (listing.read(f) for f in jsonl))
        if blob.strip():
            tables.append(_read_jsonl(blob, schema, listing.uri))
    for f, _, _ in files:
        if f.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(listing.read(f)))
            for name in schema.names:  # files compacted before an optional column existed
                if name not in table.column_names:
                    table = table.append_column(name, pa.nulls(len(table), schema.field(name).type))
            tables.append(table.select(schema.names).cast(schema))
    skipped = sum(skipped_lines(t) for t in tables)
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in tables]) if tables else schema.empty_table()
    return table.replace_schema_metadata({b"skipped_lines": str(skipped).encode()}) if skipped else table


def _parse_jsonl(blob: bytes, schema: pa.Schema) -> pa.Table:
    import pyarrow.json as pj

    return pj.read_json(io.BytesIO(blob), parse_options=pj.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="ignore"),
        read_options=pj.ReadOptions(block_size=1 << 24))


def _read_jsonl(blob: bytes, schema: pa.Schema, where: str) -> pa.Table:
    """The rows of JSONL data; unreadable lines (torn by a crash, or edited) are skipped and counted."""
    try:
        return _parse_jsonl(blob, schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    good: list[bytes] = []
    skipped = 0
    for line in blob.splitlines():
        if not line.strip():
            continue
        try:
            ok = isinstance(json.loads(line), dict)
            if ok:
                _parse_jsonl(line + b"\n", schema)
        except (ValueError, pa.ArrowInvalid, pa.ArrowTypeError):
            ok = False
        if ok:
            good.append(line)
        else:
            skipped += 1
    log.warning("request log %s: skipped %d unreadable line(s) (torn or malformed)", where, skipped)
    table = _parse_jsonl(b"\n".join(good) + b"\n", schema) if good else schema.empty_table()
    return table.replace_schema_metadata({b"skipped_lines": str(skipped).encode()})


def skipped_lines(table: pa.Table) -> int:
    """How many unreadable lines were skipped to build ``table``."""
    return int((table.schema.metadata or {}).get(b"skipped_lines", b"0"))


_DUCK_TYPES = {pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ", pa.string(): "VARCHAR", pa.int64(): "BIGINT",
               pa.float64(): "DOUBLE", pa.bool_(): "BOOLEAN"}


def _scan_sql(con: Any, listing: _Listing, files: list[tuple[str, date, float]], schema: pa.Schema, *,
              strict: bool = False) -> str:
    """One relation over a kind's JSONL and Parquet files, typed by ``schema``.

    ``strict``: JSONL is parsed straight into the schema's types (fast; a line that does not fit makes
    the query fail, and the caller reads again tolerantly); otherwise every field is read as text and
    cast, and unreadable lines (torn by a crash, or edited) are left out.
    """
    from tasks.duck import quote_list

    parts = []
    jsonl = [f for f, _, _ in files if f.endswith(".jsonl")]  # the listing gives local paths or s3:// URIs
    if jsonl and strict:
        parts.append(_jsonl_typed_sql(jsonl, schema))
    elif jsonl:
        typed = ", ".join(f"TRY_CAST({f.name} AS {_DUCK_TYPES[f.type]}) AS {f.name}" for f in schema)
        parts.append(f"SELECT {typed} FROM ({_jsonl_raw_sql(jsonl, schema)}) raw WHERE {_jsonl_valid_sql(schema)}")
    parquet = [f for f, _, _ in files if f.endswith(".parquet")]
    if parquet:
        source = f"read_parquet({quote_list(parquet)}, union_by_name = true)"
        # files compacted before an optional column existed: that column reads NULL
        have = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        # a column already of its type is passed as is: a no-op cast still copies every string
        stored = ", ".join(f.name if have.get(f.name) == _DUCK_TYPES[f.type] else
                           f"CAST({f.name if f.name in have else 'NULL'} AS {_DUCK_TYPES[f.type]}) AS {f.name}"
                           for f in schema)
        parts.append(f"SELECT {stored} FROM {source}")
    if not parts:
        nulls = ", ".join(f"CAST(NULL AS {_DUCK_TYPES[f.type]}) AS {f.name}" for f in schema)
        return f"SELECT {nulls} WHERE 1 = 0"
    return " UNION ALL ".join(parts)


def _jsonl_typed_sql(paths: list[str], schema: pa.Schema) -> str:
    """JSONL parsed into the schema's types, strictly: a torn line, a non-object or a value of the wrong type
    is an error. Times are read as text and cast (the JSON reader would read a bad time as NULL), integers
    likewise (it would take ``true`` for 1 and round 1.5), so that every line the tolerant read skips fails here.
    """
    from tasks.duck import quote, quote_list

    loose = {pa.timestamp("us", tz="UTC"), pa.int64()}
    spec = ", ".join(f"{quote(f.name)}: '{'VARCHAR' if f.type in loose else _DUCK_TYPES[f.type]}'" for f in schema)
    cols = ", ".join(f"CAST({f.name} AS {_DUCK_TYPES[f.type]}) AS {f.name}" if f.type in loose else f.name
                     for f in schema)
    present = " OR ".join(f"{f.name} IS NOT NULL" for f in schema)  # not a blank line, as the tolerant read
    return (f"SELECT {cols} FROM read_json({quote_list(paths)}, format = 'newline_delimited', "
            f"columns = {{{spec}}}) typed WHERE ({present})")


def _jsonl_raw_sql(paths: list[str], schema: pa.Schema) -> str:
    """JSONL lines with every field as text: a torn or non-object line reads as a row of NULLs."""
    from tasks.duck import quote, quote_list

    spec = ", ".join(f"{quote(f.name)}: 'VARCHAR'" for f in schema)
    return (f"SELECT * FROM read_json({quote_list(paths)}, format = 'newline_delimited', "
            f"columns = {{{spec}}}, ignore_errors = true)")


def _jsonl_valid_sql(schema: pa.Schema) -> str:
    """A line is readable when it is a JSON object with a field of the schema and every value casts to
    its column's type (what the Arrow reader accepts; the others are skipped and counted)."""
    present = f"COALESCE({', '.join(schema.names)}) IS NOT NULL"
    casts = [f"({f.name} IS NULL OR TRY_CAST({f.name} AS {_DUCK_TYPES[f.type]}) IS NOT NULL)" for f in schema]
    return " AND ".join([present, *casts])


def _skipped_jsonl(con: Any, files: list[tuple[str, date, float]], schema: pa.Schema) -> int:
    """How many JSONL lines of ``files`` are unreadable (torn by a crash, or edited)."""
    jsonl = [f for f, _, _ in files if f.endswith(".jsonl")]
    if not jsonl:
        return 0
    row = con.execute(f"SELECT count(*) FROM ({_jsonl_raw_sql(jsonl, schema)}) raw "
                      f"WHERE NOT ({_jsonl_valid_sql(schema)})").fetchone()
    return int(row[0]) if row else 0


def skipped_in_views(con: Any, uri: str, req_files: list[tuple[str, date, float]],
                     fb_files: list[tuple[str, date, float]]) -> int:
    """How many unreadable lines the tolerant views of ``register_log_views`` leave out (logged, as
    ``load_requests`` does, so that a reader on the views does not skip them silently)."""
    skipped = _skipped_jsonl(con, req_files, REQUEST_SCHEMA) + _skipped_jsonl(con, fb_files, FEEDBACK_SCHEMA)
    warn_skipped(uri, skipped)
    return skipped


def warn_skipped(uri: str, skipped: int) -> None:
    """The warning for unreadable lines skipped in a request log."""
    if skipped:
        log.warning("request log %s: skipped %d unreadable line(s) (torn or malformed)", uri, skipped)


def latest_feedback_sql(columns: list[str]) -> str:
    """The latest feedback row per request_id: one hash aggregation (``arg_max``), no sort."""
    cols = [c for c in dict.fromkeys(columns) if c != "request_id"]
    packed = ", ".join(f"{c} := {c}" for c in cols)
    picked = ", ".join(f"latest.{c} AS {c}" for c in cols)
    return (f"SELECT request_id, {picked} FROM (SELECT request_id, arg_max(struct_pack({packed}), timestamp) "
            "AS latest FROM feedback_log GROUP BY request_id) newest")


def scored_sql(relation: str) -> str:
    """``relation`` (rows with a ``request_id``) with each request's latest feedback joined: ``quality_score``,
    and ``thumbs_up`` as 1.0 / 0.0 (empty without feedback), the form the analyses take numbers in."""
    return (f"SELECT r.*, f.quality_score, CASE WHEN f.thumbs_up THEN 1.0 WHEN NOT f.thumbs_up THEN 0.0 END "
            f"AS thumbs_up FROM {relation} r LEFT JOIN ({latest_feedback_sql(['quality_score', 'thumbs_up'])}) f "
            "ON f.request_id = r.request_id")


def register_log_views(con: Any, uri: str, since: date | None = None, until: date | None = None, *,
                       strict: bool = False) -> tuple[list[tuple[str, date, float]], list[tuple[str, date, float]]]:
    """Views over a request log on a DuckDB connection: ``requests_log`` and ``feedback_log`` (as stored,
    unreadable JSONL lines left out), and ``requests`` / ``feedback`` typed for the A/B statement
    (``tasks/ab/sql.py``). Returns the request and feedback files the views read. ``strict``: see ``_scan_sql``."""
    listing = _Listing(uri)
    req_files, fb_files = listing.files("requests", since, until), listing.files("feedback", since, None)
    con.execute(f"CREATE VIEW requests_log AS {_scan_sql(con, listing, req_files, REQUEST_SCHEMA, strict=strict)}")
    con.execute(f"CREATE VIEW feedback_log AS {_scan_sql(con, listing, fb_files, FEEDBACK_SCHEMA, strict=strict)}")
    con.execute("CREATE VIEW requests AS SELECT request_id, experiment_id, variant, user_id, model, "
                "COALESCE(CAST(timestamp AS TIMESTAMP), TIMESTAMP '1970-01-01 00:00:00') AS timestamp, "
                "CAST(latency_ms AS DOUBLE) AS latency_ms, CAST(cost_usd AS DOUBLE) AS cost_usd, "
                "CAST(error AS DOUBLE) AS error, CAST(input_tokens AS DOUBLE) AS input_tokens, "
                "CAST(output_tokens AS DOUBLE) AS output_tokens FROM requests_log")
    con.execute("CREATE VIEW feedback AS SELECT request_id, CAST(timestamp AS TIMESTAMP) AS timestamp, "
                "quality_score, thumbs_up FROM feedback_log")
    return req_files, fb_files


def _quote(value: str) -> str:
    from tasks.duck import quote

    return quote(value)


@dataclass(frozen=True)
class _LogQuery:
    """The projection and join of ``load_requests`` over one log location."""

    uri: str
    first: date | None
    last: date | None
    req_cols: list[str]
    fb_cols: list[str]

    def run(self, where: list[str], *, strict: bool) -> tuple[pa.Table, int]:
        """The rows as Arrow and how many unreadable lines were skipped (none when ``strict``)."""
        import duckdb

        from tasks.duck import connect

        con = connect(s3=self.uri.startswith("s3://"))
        try:
            req_files, fb_files = register_log_views(con, self.uri, self.first, self.last, strict=strict)
            skipped = 0
            if not strict:
                skipped = _skipped_jsonl(con, req_files, REQUEST_SCHEMA)
                if self.fb_cols:
                    skipped += _skipped_jsonl(con, fb_files, FEEDBACK_SCHEMA)
            select = ", ".join([*(f"r.{c}" for c in self.req_cols), *(f"f.{c}" for c in self.fb_cols)]) or "1 AS _"
            sql = f"SELECT {select} FROM requests_log r"
            if self.fb_cols:
                sql += f" LEFT JOIN ({latest_feedback_sql(self.fb_cols)}) f ON f.request_id = r.request_id"
            if where:
                sql += " WHERE " + " AND ".join(where)
            con.execute("SET preserve_insertion_order = true")  # rows in file order, as written (no sort)
            return con.sql(sql).to_arrow_table(), skipped
        except duckdb.IOException as exc:  # an unreadable store, as the Arrow reader reported it
            raise OSError(str(exc).splitlines()[0]) from exc
        finally:
            con.close()


def load_requests(uri: str | None = None, model: str | None = None, since: str | date | datetime | None = None,
                  until: str | date | datetime | None = None, experiment_id: str | None = None,
                  columns: list[str] | None = None, with_feedback: bool = True,
                  feedback_only: bool = False) -> pd.DataFrame:
    """Requests in [since, until] (UTC), optionally of one model or experiment, with feedback joined.

    Feedback is joined by request_id (the latest feedback row wins); its columns are empty where
    there is none (``feedback_only``: only requests that have feedback). Filtering, the join and the
    projection run in DuckDB over the JSONL and Parquet files (``s3://`` through the fsspec layer);
    rows come back in file order. Unreadable lines (torn by a crash, or edited) are skipped (logged)
    and counted in ``frame.attrs["skipped_lines"]``.
    """
    import duckdb

    wanted = columns if columns is not None else [*REQUEST_SCHEMA.names, *(FEEDBACK_COLUMNS if with_feedback else [])]
    req_cols = [c for c in wanted if c in REQUEST_SCHEMA.names]
    fb_cols = [c for c in wanted if c in FEEDBACK_COLUMNS] if with_feedback else []
    uri = uri or get_settings().log
    query = _LogQuery(uri, _as_date(since, "since"), _as_date(until, "until"), req_cols, fb_cols)
    where = []
    for column, value in (("model", model), ("experiment_id", experiment_id)):
        if value is not None:
            where.append(f"r.{column} = {_quote(value)}")
    lo, hi = _as_ts(since, "since"), _as_ts(until, "until")
    if lo is not None:
        where.append(f"r.timestamp >= CAST({_quote(lo.isoformat())} AS TIMESTAMPTZ)")
    if hi is not None:
        where.append(f"r.timestamp <= CAST({_quote(hi.isoformat())} AS TIMESTAMPTZ)")
    if fb_cols and feedback_only:
        where.append("f.request_id IS NOT NULL")
    result = None
    if columns is None:  # every field is read: the fast typed parse first, the tolerant one if a line does not fit
        with contextlib.suppress(duckdb.InvalidInputException, duckdb.ConversionException):
            result = query.run(where, strict=True)
    table, skipped = result if result is not None else query.run(where, strict=False)
    warn_skipped(uri, skipped)
    types = dict(REQUEST_FIELDS) | dict(FEEDBACK_FIELDS)
    schema = pa.schema([(c, types[c]) for c in [*req_cols, *fb_cols]])
    table = table.select(schema.names)
    if [f.type for f in table.schema] != list(schema.types):  # a cast to the same types still copies each column
        table = table.cast(schema)
    frame = table.to_pandas()
    for column in fb_cols:  # a request without feedback reads NaN, as a pandas left merge gives
        if frame[column].dtype == object:
            frame[column] = frame[column].where(frame[column].notna(), np.nan)
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    frame = frame.reset_index(drop=True)
    frame.attrs["skipped_lines"] = skipped
    return frame


def load_requests_arrow(uri: str | None = None, model: str | None = None, since: str | date | datetime | None = None,
                  until: str | date | datetime | None = None, experiment_id: str | None = None,
                  columns: list[str] | None = None, with_feedback: bool = True) -> pd.DataFrame:
    """``load_requests`` on Arrow and pandas: the reference the DuckDB reader is tested against."""
    import pyarrow.compute as pc

    listing = _Listing(uri or get_settings().log)
    first, last = _as_date(since, "since"), _as_date(until, "until")
    table = _read_table(listing, listing.files("requests", first, last), REQUEST_SCHEMA)
    skipped = skipped_lines(table)
    mask = None
    for column, value in (("model", model), ("experiment_id", experiment_id)):
        if value is not None:
            cond = pc.equal(table[column], value)
            mask = cond if mask is None else pc.and_(mask, cond)
    lo, hi = _as_ts(since, "since"), _as_ts(until, "until")
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
        feedback_table = _read_table(listing, listing.files("feedback", first, None), FEEDBACK_SCHEMA)
        skipped += skipped_lines(feedback_table)
        feedback = feedback_table.to_pandas()
        feedback = feedback.sort_values("timestamp", kind="stable").drop_duplicates("request_id", keep="last")
        frame = frame.merge(feedback[["request_id", *FEEDBACK_COLUMNS]], on="request_id", how="left")
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    frame = frame.reset_index(drop=True)
    frame.attrs["skipped_lines"] = skipped
    return frame


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
