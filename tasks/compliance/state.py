"""What a compliance evaluation reads: the registry's records and side documents, never written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from registry.entities import ModelRecord
from registry.errors import ModelNotFound
from registry.service import Registry
from registry.settings import ComplianceThresholds


@dataclass(frozen=True)
class ComplianceState:
    """Everything the checks look at, as values: a pure function of this and ``now`` decides."""

    records: list[ModelRecord]
    now: datetime
    thresholds: ComplianceThresholds = field(default_factory=ComplianceThresholds)
    extra_strict: tuple[str, ...] = ()
    scan: dict[str, Any] | None = None  # the last recorded deprecation scan
    monitor: dict[str, dict[str, Any]] = field(default_factory=dict)  # model -> newest result per version
    probes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (model, digest) -> probe result


def in_use(record: ModelRecord) -> bool:
    """Serving an environment or an experiment arm."""
    return any(p.version for p in record.environments.values()) or record.running_experiment() is not None


def _json(data: bytes | None) -> dict[str, Any] | None:
    if not data:
        return None
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def load_state(registry: Registry, names: list[str] | None, now: datetime, thresholds: ComplianceThresholds,
               extra_strict: tuple[str, ...] = ()) -> ComplianceState:
    """The named models (each must exist), else every model in use, with the side documents about them.

    Raises:
        ModelNotFound: a named model is not in the registry (exit 2).
    """
    from tasks.deprecations.scan import AUX_KEY
    from tasks.monitoring.keys import monitor_result_key, probe_result_key

    records = registry.list_models()
    if names:
        by_name = {r.name: r for r in records}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ModelNotFound(f"model {missing[0]!r} not found in {registry.uri}")
        records = [by_name[n] for n in dict.fromkeys(names)]
    else:
        records = [r for r in records if in_use(r)]
    monitor = {r.name: doc for r in records if (doc := _json(registry.read_aux(monitor_result_key(r.name))))}
    probes: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        for number in {p.version for p in r.environments.values() if p.version}:
            version = r.version(number)
            if version is not None and (doc := _json(registry.read_aux(probe_result_key(r.name, version.digest)))):
                probes[(r.name, version.digest)] = doc
    return ComplianceState(records=records, now=now, thresholds=thresholds, extra_strict=extra_strict,
                           scan=_json(registry.read_aux(AUX_KEY)), monitor=monitor, probes=probes)
