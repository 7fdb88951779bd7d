"""Schema migrations of stored model documents, oldest first.

Each entry upgrades a document from ``schema_version`` N to N+1. Documents are migrated on read and
written back in the current schema by the next change; a newer schema than this code knows is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from registry.entities import SCHEMA_VERSION, nest_plan_fields
from registry.errors import SchemaError

Doc = dict[str, Any]


def _v0_to_v1(doc: Doc) -> Doc:
    """Pre-release documents kept environments as plain version numbers (``production: 3``)."""
    envs = doc.get("environments") or {}
    doc["environments"] = {k: ({"version": v} if isinstance(v, int) else v) for k, v in envs.items()}
    return doc


def _v1_to_v2(doc: Doc) -> Doc:
    """Version 2 documents end with a checksum line (``# sha256 <hex>``); the content is unchanged."""
    return doc


def _v2_to_v3(doc: Doc) -> Doc:
    """Version 3 plans follow the seed's shape: ``timeline`` and ``migration`` groups (``replacement`` is
    ``migration.target``); plans for models no provider has deprecated have status ``none-announced``."""
    doc["deprecation_plans"] = [nest_plan_fields(dict(p)) if isinstance(p, dict) else p
                                for p in doc.get("deprecation_plans") or []]
    return doc


MIGRATIONS: dict[int, Callable[[Doc], Doc]] = {0: _v0_to_v1, 1: _v1_to_v2, 2: _v2_to_v3}
FIRST_WITH_END_MARKER = 2


def migrate_model_doc(doc: Doc, where: str) -> Doc:
    """Upgrade a stored model document to the current schema_version."""
    version = int(doc.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise SchemaError(f"{where}: schema_version {version} is newer than this modelctl "
                          f"({SCHEMA_VERSION}): upgrade modelctl")
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](dict(doc))
        version += 1
        doc["schema_version"] = version
    return doc
