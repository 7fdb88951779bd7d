"""One layer for every "path or URI" read and write: a local path, ``file://`` or ``s3://``, on fsspec.

Local paths use fsspec's local file system. ``s3://`` uses s3fs when it is installed; otherwise
``BotoS3FileSystem``, a small fsspec file system over boto3 (the same client settings and
``AWS_ENDPOINT_URL`` as the registry store), so that s3fs — whose aiobotocore pins botocore tightly — is
optional. Errors are normalised: a missing object is ``FileNotFoundError``; anything else that fails is
``BlobError`` naming the URI. (The registry's S3 store keeps its own boto3 calls: it needs conditional
``IfMatch``/``IfNoneMatch`` PUTs and ETags, which fsspec does not expose.)
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem


class BlobError(OSError):
    """A read, write or listing failed for a reason other than a missing object."""


def _split_s3(path: str) -> tuple[str, str]:
    bucket, _, key = path.removeprefix("s3://").partition("/")
    return bucket, key


class BotoS3FileSystem(fsspec.AbstractFileSystem):  # type: ignore[misc]
    """The part of an fsspec file system modelctl uses, over boto3."""

    protocol = "s3"

    def __init__(self, endpoint: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # fsspec caches instances by these arguments: one client per endpoint
        self.endpoint = endpoint
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=self.endpoint) if self.endpoint else boto3.client("s3")
        return self._client

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        from botocore.exceptions import ClientError

        bucket, key = _split_s3(path)
        try:
            data = bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(path) from exc
            raise
        return data[start:end]

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        bucket, key = _split_s3(path)
        self.client.put_object(Bucket=bucket, Key=key, Body=value)

    def rm_file(self, path: str) -> None:
        bucket, key = _split_s3(path)
        self.client.delete_object(Bucket=bucket, Key=key)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        bucket, prefix = _split_s3(path)
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out.append({"name": f"{bucket}/{obj['Key']}", "size": obj["Size"], "type": "file",
                            "mtime": obj["LastModified"].timestamp()})
        return out if detail else [o["name"] for o in out]

    def find(self, path: str, maxdepth: int | None = None, withdirs: bool = False, detail: bool = False,
             **kwargs: Any) -> Any:
        entries = self.ls(path, detail=True)
        return {e["name"]: e for e in entries} if detail else [e["name"] for e in entries]


def filesystem(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The file system for a URI and the path within it."""
    if uri.startswith("s3://"):
        try:
            import s3fs  # noqa: F401

            endpoint = os.environ.get("AWS_ENDPOINT_URL")
            fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": endpoint} if endpoint else {})
        except ImportError:
            fs = BotoS3FileSystem(endpoint=os.environ.get("AWS_ENDPOINT_URL"))
        return fs, uri.removeprefix("s3://")
    if "://" in uri and not uri.startswith("file://"):
        raise BlobError(f"unsupported URI scheme: {uri} (use a path, file:// or s3://)")
    return LocalFileSystem(), uri.removeprefix("file://")


def read_bytes(uri: str) -> bytes:
    """The bytes at a path or URI; FileNotFoundError when absent, BlobError for any other failure."""
    fs, path = filesystem(uri)
    try:
        return bytes(fs.cat_file(path))
    except FileNotFoundError:
        raise
    except IsADirectoryError as exc:
        raise BlobError(f"{uri} is a directory") from exc
    except Exception as exc:
        raise BlobError(f"cannot read {uri}: {exc}") from exc


def write_bytes(uri: str, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` at a path or URI, atomically for local files (temp file and rename)."""
    fs, path = filesystem(uri)
    try:
        if isinstance(fs, LocalFileSystem):
            directory = os.path.dirname(path) or "."
            os.makedirs(directory, exist_ok=True)
            tmp = os.path.join(directory, f".tmp-{os.path.basename(path)}.{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        else:
            fs.pipe_file(path, data)
    except Exception as exc:
        raise BlobError(f"cannot write {uri}: {exc}") from exc
