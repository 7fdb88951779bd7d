"""The store's names and file layout, free of pydantic: read by the entities, the stores and the
serving path's plain reader (``registry.serving_plain``)."""

from __future__ import annotations

import os
import re

from registry.errors import InvalidInput

SCHEMA_VERSION = 3
ENVIRONMENTS: tuple[str, ...] = ("development", "staging", "production")
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,127}$"
META_KIND = "modelctl-registry"
_NAME = re.compile(NAME_PATTERN)


def check_name(name: str) -> str:
    """A model name safe as a file and object name."""
    if not _NAME.match(name):
        raise InvalidInput(f"invalid model name {name!r}: use lowercase letters, digits, '.', '_', '-'",
                           field="name")
    return name


def file_signature(st: os.stat_result) -> str:
    """A file store's signature of a model document (inode, mtime, size): changes with every write."""
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


# the registry document exactly as ``new_meta`` writes it: read without importing YAML (the serving path)
_WRITTEN_META = re.compile(rb"kind: modelctl-registry\nschema_version: ([0-9]{1,6})\ncreated_at: '([0-9T:.Z+-]{1,40})'\n")


def written_meta(data: bytes) -> dict[str, object] | None:
    """The registry document when it is in the layout the store writes (what YAML would parse), else None."""
    written = _WRITTEN_META.fullmatch(data)
    if written is None:
        return None
    return {"kind": META_KIND, "schema_version": int(written[1]), "created_at": written[2].decode()}
