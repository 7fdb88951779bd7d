"""``modelctl resolve``'s answer read as plain JSON from a file store's derived serving documents.

A fresh process that resolves one name pays for pydantic (its import and the entities' schemas) more
than for everything else together. This reader answers the common case without it: a local store whose
every serving document is current (stamped with its model document's signature) and of this schema, a
version without templates, no deprecation plan. Anything else — and every error — returns None, and
the caller takes ``ServingSnapshot``, which decides and words it. The answer is
``Resolution.to_dict()``'s: the serving documents are the entities' own JSON (``exclude_none``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from registry.layout import ENVIRONMENTS, SCHEMA_VERSION, file_signature, written_meta
from registry.routing import BUCKETS, bucket


def _local_root(uri: str) -> str | None:
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    return None if "://" in uri else uri


def _current_documents(root: str) -> dict[str, bytes] | None:
    """Every model's serving document body when all of them are current, else None."""
    meta = written_meta(_read(os.path.join(root, "registry.yaml")) or b"")
    if meta is None or meta["schema_version"] != SCHEMA_VERSION:
        return None
    models, serving = os.path.join(root, "models"), os.path.join(root, "serving")
    bodies: dict[str, bytes] = {}
    with os.scandir(models) as entries:
        for entry in entries:
            if not entry.name.endswith(".yaml") or entry.name.startswith("."):
                continue
            name = entry.name[:-5]
            data = _read(os.path.join(serving, f"{name}.json"))
            signature, _, body = (data or b"").partition(b"\n")
            if data is None or signature.decode(errors="replace") != file_signature(entry.stat()):
                return None
            bodies[name] = body
    return bodies


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _answer(record: dict[str, Any], number: int | None, env: str, arm: str | None,
            exp_id: str | None) -> dict[str, Any] | None:
    version = next((v for v in record["versions"] if v["number"] == number), None) if number else None
    if version is None:
        return None
    config = version["config"]
    if any("{" in (config.get(field) or "") for field in ("system_prompt", "prompt_template")):
        return None  # template variables: the templates module (Jinja) answers
    return {"name": record["name"], "version": version["number"], "digest": version["digest"],
            "environment": env, "arm": arm, "experiment_id": exp_id, "config": config,
            "pricing": version.get("pricing"), "kind": record["kind"], "deprecation": None, "variables": []}


def resolve_plain(uri: str, name: str, environment: str, user_id: str | None) -> dict[str, Any] | None:
    """``Resolution.to_dict()`` of NAME in ENVIRONMENT for USER_ID, or None when ``ServingSnapshot``
    must answer (see the module's docstring)."""
    root = _local_root(uri)
    if root is None or environment not in ENVIRONMENTS:
        return None
    try:
        bodies = _current_documents(root)
        if bodies is None or name not in bodies:
            return None
        record = json.loads(bodies[name])
        if record.get("schema_version") != SCHEMA_VERSION or record.get("deprecation_plans"):
            return None
        running = [e for e in record.get("experiments", []) if e.get("status") == "running"]
        if environment == "production" and running:
            exp = running[0]
            control = _answer(record, exp["control"], "production", "control", exp["id"])
            treatment = _answer(record, exp["treatment"], "production", "treatment", exp["id"])
            if control is None or treatment is None:
                return None  # an arm without its version (or with templates): the snapshot decides
            if user_id is None:
                return control
            threshold = round(exp["split"] * BUCKETS)
            return treatment if bucket(exp["salt"], user_id) < threshold else control
        pointer = (record.get("environments") or {}).get(environment) or {}
        return _answer(record, pointer.get("version"), environment, None, None)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
