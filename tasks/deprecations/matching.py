"""Which registry versions a notice affects: an index, not a nested loop.

Every version in the registry is matched by its model_id, the base model of fine-tunes, family aliases
(``claude-sonnet-4-5`` matches its snapshots), wildcard pins (``claude-sonnet-4-5-*``) and Bedrock ids
with or without a regional prefix (``us.anthropic...``) or a ``:N`` suffix.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from registry.entities import ENVIRONMENTS, ModelRecord

_REGION = re.compile(r"^(?:us|eu|apac|global|us-gov|ca|jp|au|apne\d?)\.(?=[a-z0-9-]+\.)")
_SNAPSHOT = re.compile(r"^(?P<alias>.+?)-(?:\d{8}|\d{4}-\d{2}-\d{2}|\d{4}|latest)(?:-v\d+(?::\d+)?)?$")
_FT = re.compile(r"^ft:(?P<base>[^:]+):")


def normalize_id(model_id: str) -> str:
    """Lowercase, without a Bedrock regional prefix or a ``:N`` version suffix."""
    ident = model_id.strip().lower()
    ident = _REGION.sub("", ident)
    return re.sub(r":\d+$", "", ident)


def family_of(model_id: str) -> str:
    """The family of a model id: its alias without a snapshot suffix (``claude-sonnet-4-5``)."""
    ident = normalize_id(model_id)
    snap = _SNAPSHOT.match(ident)
    return snap.group("alias") if snap else ident


_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2})(?:-v\d+(?::\d+)?)?$")


def snapshot_date(model_id: str) -> date | None:
    """The date in a dated snapshot id (``...-20250929``, ``...-2024-07-18``): the model's release date."""
    found = _DATE_SUFFIX.search(normalize_id(model_id))
    if not found:
        return None
    digits = found.group(1).replace("-", "")
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


@dataclass(frozen=True)
class VersionRef:
    """A registry version where it serves: an environment, an experiment arm, or a candidate."""

    model: str
    version: int
    environment: str
    provider: str
    model_id: str
    base_model: str | None


def version_refs(records: Iterable[ModelRecord]) -> list[VersionRef]:
    """Every non-archived version, once per place it serves (environments, experiments, candidates)."""
    out = []
    for record in records:
        places: dict[int, list[str]] = {}
        for env in ENVIRONMENTS:
            number = record.env_version(env)
            if number:
                places.setdefault(number, []).append(env)
        exp = record.running_experiment()
        if exp is not None:
            places.setdefault(exp.treatment, []).append(f"experiment:{exp.id}")
        for v in record.versions:
            where = places.get(v.number) or ([] if v.stage == "archived" else ["candidate"])
            base = v.lineage.base_model if v.lineage and v.lineage.base_model else None
            match = _FT.match(v.config.model_id)
            base = base or (match.group("base") if match else None)
            for env in where:
                out.append(VersionRef(record.name, v.number, env, v.config.provider, v.config.model_id, base))
    return out


def in_use(refs: Iterable[VersionRef]) -> list[VersionRef]:
    """References of versions serving an environment or an experiment arm (not mere candidates)."""
    return [r for r in refs if r.environment != "candidate"]


def matches(notice_id: str, ref: VersionRef) -> bool:
    """The reference semantics (used by the nested loop, and the index must agree with it)."""
    n = normalize_id(notice_id)
    for ident in (ref.model_id, ref.base_model):
        if not ident:
            continue
        m = normalize_id(ident)
        if m == n:
            return True
        if "*" in m and fnmatch.fnmatchcase(n, m):
            return True
        snap = _SNAPSHOT.match(n)
        if "*" not in m and snap and (snap.group("alias") == m or f"{snap.group('alias')}-latest" == m):
            return True
    return False


class VersionIndex:
    """Exact ids and aliases in hash maps; the few wildcard pins scanned."""

    def __init__(self, refs: Iterable[VersionRef]) -> None:
        self.exact: dict[str, list[VersionRef]] = {}
        self.patterns: list[tuple[str, VersionRef]] = []
        for ref in refs:
            for ident in {ref.model_id, ref.base_model} - {None}:
                key = normalize_id(str(ident))
                if "*" in key:
                    self.patterns.append((key, ref))
                else:
                    self.exact.setdefault(key, []).append(ref)

    def lookup(self, notice_id: str) -> list[VersionRef]:
        n = normalize_id(notice_id)
        found = list(self.exact.get(n, []))
        snap = _SNAPSHOT.match(n)
        if snap:
            found += self.exact.get(snap.group("alias"), [])
            found += self.exact.get(f"{snap.group('alias')}-latest", [])
        found += [ref for pattern, ref in self.patterns if fnmatch.fnmatchcase(n, pattern)]
        return list(dict.fromkeys(found))


def nested_loop(notice_ids: Iterable[str], refs: list[VersionRef]) -> dict[str, list[VersionRef]]:
    """The baseline: every notice against every version."""
    return {nid: [r for r in refs if matches(nid, r)] for nid in notice_ids}
