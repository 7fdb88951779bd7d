"""One scan: fetch every source (each on its own) -> parse -> match -> diff -> plans -> events."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from registry.errors import InvalidInput
from registry.service import Registry
from registry.settings import get_settings
from tasks.deprecations.matching import VersionIndex, VersionRef, version_refs
from tasks.deprecations.plans import build_plan
from tasks.deprecations.sources import (
    DEFAULT_SOURCES,
    KINDS,
    PLUGINS,
    Notice,
    SourceSkipped,
    _merge,
    source_kind,
)

AUX_KEY = "deprecation-scan.json"
TRACKED = ("shutdown_date", "date_kind", "not_before", "replacement", "removed", "announced")


@dataclass
class ScanResult:
    """What a scan found and did (the JSON of ``modelctl deprecations scan``)."""

    notices: list[Notice]
    affected: list[dict[str, Any]]
    failed_sources: list[dict[str, str]]
    skipped_sources: list[dict[str, str]]
    changes: list[dict[str, Any]]
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"notices": [n.to_dict() for n in self.notices], "affected": self.affected,
                "failed_sources": self.failed_sources, "skipped_sources": self.skipped_sources,
                "changes": self.changes, "events": self.events}


def parse_sources(items: list[str] | None) -> list[tuple[str, str]]:
    """``KIND=URL_OR_PATH`` items; none given: the configured sources, else the production defaults."""
    if not items:
        configured = get_settings().file_config().deprecation_sources
        items = configured or [f"{k}={v}" for k, v in DEFAULT_SOURCES.items()]
        regions = get_settings().file_config().bedrock_regions
        if regions:
            items = [i if not i.startswith("bedrock=") else f"bedrock={','.join(regions)}" for i in items]
    out = []
    for item in items:
        kind, sep, where = item.partition("=")
        if not sep or kind not in KINDS or not where:
            raise InvalidInput(f"source {item!r}: expected KIND=URL_OR_PATH with KIND one of {', '.join(KINDS)}",
                               field="source")
        out.append((kind, where))
    return out


def _provider_ok(notice: Notice, ref: VersionRef) -> bool:
    return notice.provider in (ref.provider, "internal", "unknown") or (
        ref.base_model is not None and notice.provider in ("openai", "azure"))


def fetch(sources: list[tuple[str, str]], pinned: set[str],
          plugins: dict[str, Callable[..., list[Notice]]] | None = None) -> tuple[list[Notice], list[dict[str, str]],
                                                                                 list[dict[str, str]]]:
    """Run every source; a failure or a skip of one never stops the others."""
    plugins = plugins or PLUGINS
    notices, failed, skipped = [], [], []
    for kind, where in sources:
        name = f"{kind}={where}"
        try:
            notices.extend(plugins[kind](where, pinned))
        except SourceSkipped as exc:
            skipped.append({"source": name, "reason": str(exc)})
        except Exception as exc:
            failed.append({"source": name, "error": f"{type(exc).__name__}: {exc}"})
    return _merge(notices), failed, skipped


def diff(previous: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """What changed since the previous scan (new notices, changed fields, withdrawn notices).

    ``current`` already carries forward the notices of sources that failed or were not scanned.
    """
    changes: list[dict[str, Any]] = []
    for key, cur in current.items():
        prev = previous.get(key)
        if prev is None:
            changes.append({"notice": key, "change": "new", "source": cur["source"], "time": now})
            continue
        for name in TRACKED:
            if prev.get(name) != cur.get(name):
                changes.append({"notice": key, "change": "changed", "field": name, "before": prev.get(name),
                                "after": cur.get(name), "source": cur["source"], "time": now})
    for key, prev in previous.items():
        if key not in current:
            changes.append({"notice": key, "change": "withdrawn", "source": prev.get("source"), "time": now})
    return changes


def run_scan(registry: Registry, sources: list[tuple[str, str]], today: date | None = None,
             plugins: dict[str, Callable[..., list[Notice]]] | None = None,
             apply_on_failure: bool = False) -> ScanResult:
    """Scan, match, diff against the previous scan, and create or update plans (idempotently).

    When a source failed, the scan is reported but nothing is written (no plan, no previous-scan
    document, no event): a failed command leaves the registry byte-for-byte unchanged, unless
    ``apply_on_failure`` asks to record what the working sources found.
    """
    today = today or datetime.now(UTC).date()
    records = {r.name: r for r in registry.list_models()}
    refs = version_refs(records.values())
    index = VersionIndex(refs)
    notices, failed, skipped = fetch(sources, {f"{r.provider}:{r.model_id}" for r in refs}, plugins)
    write = apply_on_failure or not failed
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    previous = json.loads(registry.read_aux(AUX_KEY) or b"{}").get("notices", {})
    current = {n.key: n.to_dict() for n in notices}
    read_ok = {kind for kind, _ in sources} - {source_kind(f["source"]) for f in failed}
    current.update({k: v for k, v in previous.items()  # only a source read now can withdraw its notices
                    if k not in current and source_kind(str(v.get("source", ""))) not in read_ok})
    changes = diff(previous, current, now)
    lead = get_settings().file_config().soft_deadline_lead_days
    affected, events = [], []
    for notice in notices:
        hits = [r for r in index.lookup(notice.model_id) if _provider_ok(notice, r)]
        by_model: dict[str, list[VersionRef]] = {}
        for ref in hits:
            by_model.setdefault(ref.model, []).append(ref)
        for model, model_refs in by_model.items():
            record = records[model]
            plan = build_plan(record, notice, model_refs, today, lead)
            for ref in model_refs:
                affected.append({"model": model, "version": ref.version, "environment": ref.environment,
                                 "model_id": ref.model_id, "notice_model_id": notice.model_id,
                                 "shutdown_date": notice.to_dict()["shutdown_date"],
                                 "date_kind": notice.date_kind, "replacement": notice.replacement,
                                 "severity": plan.severity, "source": notice.source})
            old = next((p for p in record.deprecation_plans if p.model_id == plan.model_id), None)
            if write and registry.upsert_deprecation_plan(model, plan, reason=f"deprecation scan: {notice.source}"):
                events.append(_event("detected" if old is None else "changed", model, plan.affected_versions, plan))
                if plan.severity == "critical" and (old is None or old.severity != "critical"):
                    events.append(_event("critical", model, plan.affected_versions, plan))
    if write:
        registry.write_aux(AUX_KEY, json.dumps({"scanned_at": now, "notices": current}, indent=1).encode())
    return ScanResult(notices, affected, failed, skipped, changes, events)


def _event(action: str, model: str, versions: list[int], plan: Any) -> dict[str, Any]:
    return {"event": f"modelctl.deprecation.{action}", "model": model, "versions": versions,
            "payload": {"model_id": plan.model_id, "severity": plan.severity,
                        "shutdown_date": plan.hard_deadline.isoformat() if plan.hard_deadline else None,
                        "replacement": plan.replacement, "soft_deadline":
                            plan.soft_deadline.isoformat() if plan.soft_deadline else None}}
