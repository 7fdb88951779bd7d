"""Registry stores, chosen by URI scheme: a local directory path (or ``file://``) or ``s3://``."""

from __future__ import annotations

from registry.errors import InvalidInput
from registry.stores.base import Store


def open_store(uri: str) -> Store:
    """The store backend for a URI."""
    if uri.startswith("s3://"):
        from registry.stores.s3 import S3Store

        return S3Store(uri)
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    if "://" in uri:
        raise InvalidInput(f"unsupported registry URI scheme: {uri} (use a directory path or s3://)",
                           field="registry")
    from registry.envsettings import serving_settings
    from registry.stores.file import FileStore

    return FileStore(uri, lock_timeout=serving_settings().lock_timeout_seconds)


__all__ = ["Store", "open_store"]
