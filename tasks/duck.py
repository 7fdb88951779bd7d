"""Embedded DuckDB for request-log analytics, with ``s3://`` read through fsspec (never ``httpfs``).

DuckDB's wheel does not bundle ``httpfs`` (installing it downloads an extension at run time), so an
``s3://`` path reaches DuckDB through an fsspec filesystem registered on the connection: pyarrow's
``S3FileSystem`` (honouring ``AWS_ENDPOINT_URL``) behind fsspec's ``ArrowFSWrapper``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from registry.errors import InvalidInput, StoreUnavailable

if TYPE_CHECKING:
    import duckdb


def s3_filesystem() -> Any:
    """An fsspec filesystem over pyarrow's S3 client (``protocol`` ``s3``), for ``register_filesystem``."""
    from fsspec.implementations.arrow import ArrowFSWrapper
    from pyarrow import fs as pafs

    kwargs: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        kwargs["endpoint_override"] = endpoint
        if endpoint.startswith("http://"):
            kwargs["scheme"] = "http"
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kwargs["region"] = region
    return ArrowFSWrapper(pafs.S3FileSystem(**kwargs))  # its protocol is "s3": DuckDB routes s3:// paths to it


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
