"""Embedded DuckDB for request-log analytics, with ``s3://`` read through fsspec (never ``httpfs``).

DuckDB's wheel does not bundle ``httpfs`` (installing it downloads an extension at run time), so an
``s3://`` path reaches DuckDB through an fsspec filesystem registered on the connection: pyarrow's
``S3FileSystem`` (honouring ``AWS_ENDPOINT_URL``) behind fsspec's ``ArrowFSWrapper``.

DuckDB reads such a file by ``seek`` then ``read`` on one shared Python file object from several threads
(its external file cache fetches 2 MiB blocks as parallel tasks, even at ``threads = 1``), and pyarrow's
``read`` releases the GIL before it takes the file position: another thread's ``seek`` in between made
a read return the wrong bytes. Files opened here read positionally (``read_at``) from the position the
calling thread's own last ``seek`` set (:class:`PositionalFile`).
"""

from __future__ import annotations

import io
import os
import threading
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, StoreUnavailable

if TYPE_CHECKING:
    import duckdb


class PositionalFile(io.RawIOBase):
    """A read-only view of a pyarrow random-access file whose ``read`` is a positional ``read_at``.

    A thread's ``read`` starts where that thread's own last ``seek`` put it, if it has not read since;
    otherwise at the shared position (sequential reads handed from thread to thread, as DuckDB's CSV
    reader does under its lock). ``read_at`` takes its offset as an argument, so no other thread's
    ``seek`` can move a read that is under way.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self._stream = stream
        self._size: int = stream.size()
        self._position = 0
        self._lock = threading.Lock()
        self._pending = threading.local()  # this thread's seek, not yet read from

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        with self._lock:
            base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
            self._position = max(0, base + offset)
            self._pending.offset = self._position
            return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            start = getattr(self._pending, "offset", None)
            self._pending.offset = None
            start = self._position if start is None else start
            size = self._size - start if size is None or size < 0 else min(size, self._size - start)
            self._position = start + max(size, 0)
        if size <= 0:
            return b""
        data: bytes = self._stream.read_at(size, start)
        if len(data) != size:
            raise OSError(f"short read: {len(data)} of {size} bytes at offset {start}")
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def s3_filesystem() -> Any:
    """An fsspec filesystem over pyarrow's S3 client (``protocol`` ``s3``), for ``register_filesystem``;
    its files opened for reading are :class:`PositionalFile`."""
    from fsspec.implementations.arrow import ArrowFSWrapper, wrap_exceptions
    from pyarrow import fs as pafs

    class S3Wrapper(ArrowFSWrapper):
        @wrap_exceptions
        def _open(self, path: str, mode: str = "rb", block_size: Any = None, seekable: bool = True,
                  **kwargs: Any) -> Any:
            if mode == "rb" and seekable:
                return PositionalFile(self.fs.open_input_file(path))
            return super()._open(path, mode, block_size, seekable, **kwargs)

    kwargs: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        kwargs["endpoint_override"] = endpoint
        if endpoint.startswith("http://"):
            kwargs["scheme"] = "http"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    return S3Wrapper(pafs.S3FileSystem(**kwargs))  # its protocol is "s3": DuckDB routes s3:// paths to it


def connect(threads: int | None = None, *, s3: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory connection in UTC; with ``s3``, ``s3://`` paths are served by the fsspec layer."""
    import duckdb

    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")  # results are aggregates or explicitly ordered
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if s3:
        con.register_filesystem(s3_filesystem())
    return con


def quote(value: str) -> str:
    """A SQL string literal (standard quoting: a single quote is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def quote_list(paths: list[str]) -> str:
    """A DuckDB list of string literals."""
    return "[" + ", ".join(quote(p) for p in paths) + "]"


def wrap_error(exc: Exception, source: str) -> Exception:
    """A DuckDB error as the project's error: a missing file is bad input, an S3 failure unavailable."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = text.lower()
    if "no files found" in lowered or "no such file" in lowered or "not found" in lowered \
            or "does not exist" in lowered:
        return InvalidInput(f"file not found: {text}", file=source)
    if source.startswith("s3://") and ("s3" in lowered or "aws" in lowered or "connection" in lowered):
        return StoreUnavailable(f"cannot read {source}: {text}")
    return InvalidInput(f"unreadable table: {text}", file=source)
