"""The one narrow store interface; backends are chosen by URI scheme (see ``open_store``)."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from registry.entities import SCHEMA_VERSION, ModelRecord
from registry.errors import DamagedDocument, InvalidInput, SchemaError
from registry.layout import META_KIND as META_KIND
from registry.layout import check_name as check_name
from registry.layout import written_meta

Mutation = Callable[[ModelRecord | None], ModelRecord | None]
_AUX_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")


def check_aux_key(key: str) -> str:
    """An aux document key safe as a file and object name."""
    if not _AUX_KEY.match(key):
        raise InvalidInput(f"invalid aux key {key!r}", field="key")
    return key


_END_MARKER = b"# sha256 "


def encode_record(record: ModelRecord) -> bytes:
    """The stored form of a model: YAML, human-readable and git-diffable, ending with a checksum line
    (``# sha256 <hex of everything above>``) so that a document truncated anywhere is detected."""
    from registry import yamlio

    body = yamlio.dumps(record.model_dump(mode="json", exclude_none=True)).encode()
    return body + _END_MARKER + hashlib.sha256(body).hexdigest().encode() + b"\n"


def split_end_marker(data: bytes) -> tuple[bytes, str | None]:
    """(body, checksum) of a stored document; checksum None when the document has no end marker."""
    trimmed = data.rstrip(b" \r\n")
    cut = trimmed.rfind(b"\n") + 1
    last = trimmed[cut:]
    if not last.startswith(_END_MARKER):
        return data, None
    return trimmed[:cut], last[len(_END_MARKER):].decode("ascii", errors="replace").strip()


def decode_record(data: bytes, where: str) -> ModelRecord:
    """Parse a stored model document, migrating older schemas and refusing newer or damaged ones."""
    from registry.migrations import FIRST_WITH_END_MARKER, migrate_model_doc

    body, checksum = split_end_marker(data)
    if checksum is not None and hashlib.sha256(body).hexdigest() != checksum:
        raise DamagedDocument(f"{where}: damaged model document (its checksum does not match its content); "
                              "restore it from a backup or `modelctl copy`")
    try:
        from registry import yamlio

        doc: Any = yamlio.loads(body)
    except Exception as exc:
        raise DamagedDocument(f"{where}: unreadable model document: {exc}") from exc
    if not isinstance(doc, dict):
        raise DamagedDocument(f"{where}: model document is not a mapping")
    stored_version = doc.get("schema_version", 0)
    if checksum is None and isinstance(stored_version, int) and \
            FIRST_WITH_END_MARKER <= stored_version <= SCHEMA_VERSION:
        raise DamagedDocument(f"{where}: truncated model document (the end marker is missing); restore it "
                              "from a backup or `modelctl copy`")
    doc = migrate_model_doc(doc, where)
    try:
        return ModelRecord.model_validate(doc)
    except ValidationError as exc:
        raise DamagedDocument(f"{where}: invalid model document: {exc.errors()[0]['msg']} "
                              f"at {'.'.join(map(str, exc.errors()[0]['loc']))}") from exc


def serving_view(record: ModelRecord) -> ModelRecord:
    """The part of a record the serving path needs: referenced versions, pointers, the running experiment
    and the deprecation plans that touch them. No history, no evaluations."""
    exp = record.running_experiment()
    keep = {p.version for p in record.environments.values() if p.version} | (
        {exp.control, exp.treatment} if exp else set())
    return record.model_copy(update={
        "versions": [v for v in record.versions if v.number in keep],
        "experiments": [exp.model_copy(update={"analyses": []})] if exp else [],
        "deprecation_plans": [p for p in record.deprecation_plans if keep & set(p.affected_versions)],
        "evaluations": [], "history": []})


def encode_serving(record: ModelRecord, source_signature: str) -> bytes:
    """A derived serving document: the source document's signature, a newline, compact JSON."""
    return source_signature.encode() + b"\n" + serving_view(record).model_dump_json(exclude_none=True).encode()


def decode_serving(data: bytes, expected_signature: str) -> ModelRecord | None:
    """The serving view when it was derived from the current source document, else None (stale)."""
    signature, _, body = data.partition(b"\n")
    if signature.decode(errors="replace") != expected_signature:
        return None
    try:
        return ModelRecord.model_validate_json(body)
    except ValidationError:
        return None


def new_meta() -> dict[str, Any]:
    """The registry's own metadata document."""
    from registry.entities import utcnow

    return {"kind": META_KIND, "schema_version": SCHEMA_VERSION,
            "created_at": utcnow().isoformat().replace("+00:00", "Z")}


def parse_meta(data: bytes) -> Any:
    """The registry document's content (YAML; the store's own plain layout is read without the parser)."""
    written = written_meta(data)
    if written is not None:
        return written
    from registry import yamlio

    return yamlio.loads(data)


def check_meta(meta: Any, where: str) -> None:
    """Refuse a document that is not a registry, or one from a newer modelctl."""
    if isinstance(meta, dict) and "models" in meta and "kind" not in meta:
        raise InvalidInput(f"{where} is a model-registry.yaml in the seed format, not a registry store; "
                           f"load it with `modelctl import {where}`")
    if not isinstance(meta, dict) or meta.get("kind") != META_KIND:
        raise InvalidInput(f"{where} is not a modelctl registry")
    if int(meta.get("schema_version", 0)) > SCHEMA_VERSION:
        raise SchemaError(f"{where} has schema_version {meta['schema_version']}; this modelctl reads up "
                          f"to {SCHEMA_VERSION}: upgrade modelctl")


class Store(ABC):
    """A registry store: one document per model, each updated atomically."""

    uri: str

    @abstractmethod
    def exists(self) -> bool:
        """True when a registry has been initialised at this URI."""

    @abstractmethod
    def initialize(self) -> bool:
        """Create the registry if missing; True when it was created."""

    @abstractmethod
    def names(self) -> list[str]:
        """Names of every model in the store."""

    @abstractmethod
    def read(self, name: str) -> ModelRecord | None:
        """One model's record, or None."""

    @abstractmethod
    def update(self, name: str, mutate: Mutation) -> ModelRecord | None:
        """Atomically read-modify-write one model.

        ``mutate`` gets the current record (None when absent) and returns the new record, or None
        to write nothing. It may be called more than once (optimistic retries), so it must be pure.
        An exception from ``mutate`` leaves the store unchanged.
        """

    @abstractmethod
    def signatures(self) -> dict[str, str]:
        """Model name -> a cheap token (ETag, or inode/mtime/size) that changes with the document."""

    @abstractmethod
    def read_aux(self, key: str) -> bytes | None:
        """A side document kept beside the registry (e.g. the previous deprecation scan)."""

    @abstractmethod
    def write_aux(self, key: str, data: bytes) -> None:
        """Write a side document atomically."""

    @abstractmethod
    def aux_keys(self) -> list[str]:
        """Keys of every side document."""

    @abstractmethod
    def read_serving(self, names: list[str], signatures: dict[str, str]) -> dict[str, ModelRecord]:
        """Serving views of ``names`` whose derived document matches the source signature.

        Names missing from the answer must be read with ``read`` (their cache is stale or absent).
        """

    def read_all(self) -> list[ModelRecord]:
        """Every model record (backends may parallelise)."""
        return [r for r in (self.read(n) for n in self.names()) if r is not None]

    def read_raw(self, name: str) -> bytes | None:
        """The stored bytes of one model document (for byte-exact checks and copies)."""
        record = self.read(name)
        return encode_record(record) if record else None
