"""One scan: fetch every source (each on its own) -> parse -> match -> diff -> plans -> events."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from registry.entities import LifecycleFacts, ModelRecord, utcnow
from registry.errors import InvalidInput
from registry.service import Registry
from registry.settings import get_settings
from tasks.deprecations.matching import (
    VersionIndex,
    VersionRef,
    in_use,
    normalize_id,
    snapshot_date,
    version_refs,
)
from tasks.deprecations.plans import build_plan, none_announced_plan
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
# The providers whose deprecations each kind of source reports (what a successful read of it covers).
SOURCE_PROVIDERS: dict[str, tuple[str, ...]] = {
    "openai": ("openai",), "openai-models": ("openai",), "anthropic": ("anthropic",),
    "anthropic-models": ("anthropic",), "bedrock": ("bedrock",), "litellm": ("openai", "anthropic", "bedrock"),
    "feed": ("local",),
}
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


def fetch_raw(sources: list[tuple[str, str]], pinned: set[str],
              plugins: dict[str, Callable[..., list[Notice]]] | None = None) -> tuple[
                  list[Notice], list[dict[str, str]], list[dict[str, str]]]:
    """Run every source; a failure or a skip of one never stops the others. Notices are not merged."""
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
    return notices, failed, skipped


def fetch(sources: list[tuple[str, str]], pinned: set[str],
          plugins: dict[str, Callable[..., list[Notice]]] | None = None) -> tuple[list[Notice], list[dict[str, str]],
                                                                                 list[dict[str, str]]]:
    """Run every source and merge their notices (one per provider model)."""
    raw, failed, skipped = fetch_raw(sources, pinned, plugins)
    return _merge(raw), failed, skipped


def lifecycle_facts(model_id: str, raw: list[Notice]) -> LifecycleFacts:
    """What the scan knows of a model's lifecycle: its snapshot date, a provider's floor, LiteLLM's date."""
    ident = normalize_id(model_id)
    mine = [n for n in raw if normalize_id(n.model_id) == ident]
    floors = [n.not_before for n in mine if n.not_before and n.active]
    litellm = [n.shutdown_date for n in mine if n.shutdown_date and source_kind(n.source) == "litellm"]
    release = snapshot_date(model_id)
    sources = (["model id (snapshot date)"] if release else []) + sorted({n.source for n in mine})
    return LifecycleFacts(release_date=release, minimum_availability=min(floors) if floors else None,
                          litellm_deprecation_date=min(litellm) if litellm else None, sources=sources)


def covered_providers(sources: list[tuple[str, str]], failed: list[dict[str, str]],
                      skipped: list[dict[str, str]]) -> list[str]:
    """Providers covered by at least one source that was read successfully."""
    bad = {f["source"] for f in failed} | {s["source"] for s in skipped}
    return sorted({p for kind, where in sources if f"{kind}={where}" not in bad for p in SOURCE_PROVIDERS[kind]})


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
             apply_on_failure: bool = False, now: datetime | None = None) -> ScanResult:
    """Scan, match, diff against the previous scan, and create or update plans (idempotently).

    When a source failed, the scan is reported but nothing is written (no plan, no previous-scan
    document, no event): a failed command leaves the registry byte-for-byte unchanged, unless
    ``apply_on_failure`` asks to record what the working sources found.
    """
    clock = (now or utcnow()).astimezone(UTC)
    today = today or clock.date()
    records = {r.name: r for r in registry.list_models()}
    refs = version_refs(records.values())
    index = VersionIndex(refs)
    raw, failed, skipped = fetch_raw(sources, {f"{r.provider}:{r.model_id}" for r in refs}, plugins)
    notices = [n for n in _merge(raw) if not n.active]  # an active model's floor is a lifecycle fact
    write = apply_on_failure or not failed
    now_text = clock.strftime("%Y-%m-%dT%H:%M:%SZ")
    previous = json.loads(registry.read_aux(AUX_KEY) or b"{}").get("notices", {})
    current = {n.key: n.to_dict() for n in notices}
    read_ok = {kind for kind, _ in sources} - {source_kind(f["source"]) for f in failed}
    current.update({k: v for k, v in previous.items()  # only a source read now can withdraw its notices
                    if k not in current and source_kind(str(v.get("source", ""))) not in read_ok})
    changes = diff(previous, current, now_text)
    lead = get_settings().file_config().soft_deadline_lead_days
    affected, events = [], []
    touched: set[str] = set()
    for notice in notices:
        hits = [r for r in index.lookup(notice.model_id) if _provider_ok(notice, r)]
        by_model: dict[str, list[VersionRef]] = {}
        for ref in hits:
            by_model.setdefault(ref.model, []).append(ref)
        for model, model_refs in by_model.items():
            record = records[model]
            plan = build_plan(record, notice, model_refs, today, lead, lifecycle_facts(notice.model_id, raw))
            for ref in model_refs:
                affected.append({"model": model, "version": ref.version, "environment": ref.environment,
                                 "model_id": ref.model_id, "notice_model_id": notice.model_id,
                                 "shutdown_date": notice.to_dict()["shutdown_date"],
                                 "date_kind": notice.date_kind, "replacement": notice.replacement,
                                 "severity": plan.severity, "source": notice.source})
            old = next((p for p in record.deprecation_plans if p.model_id == plan.model_id), None)
            if write and registry.upsert_deprecation_plan(model, plan, reason=f"deprecation scan: {notice.source}"):
                touched.add(model)
                events.append(_event("detected" if old is None else "changed", model, plan.affected_versions, plan))
                if plan.severity == "critical" and (old is None or old.severity != "critical"):
                    events.append(_event("critical", model, plan.affected_versions, plan))
    if write:
        known = {n.model_id for n in raw} | {n.replacement for n in raw if n.replacement} | {r.model_id for r in refs}
        fresh = {n: registry.get_model(n) for n in touched}  # the others are as read at the start
        refresh_unannounced(registry, [fresh.get(n, r) for n, r in records.items()], known, raw, today)
        registry.write_aux(AUX_KEY, json.dumps({
            "scanned_at": now_text, "notices": current,
            "sources": [f"{k}={w}" for k, w in sources], "failed_sources": failed, "skipped_sources": skipped,
            "providers": covered_providers(sources, failed, skipped)}, indent=1).encode())
    return ScanResult(notices, affected, failed, skipped, changes, events)


def _uncovered(record: ModelRecord) -> dict[str, list[int]]:
    """Model id -> versions in use that no announced plan covers."""
    covered = {n for p in record.deprecation_plans if p.status != "none-announced" for n in p.affected_versions}
    out: dict[str, list[int]] = {}
    for ref in in_use(version_refs([record])):
        if ref.version not in covered:
            out.setdefault(ref.model_id, [])
            if ref.version not in out[ref.model_id]:
                out[ref.model_id].append(ref.version)
    return out


def refresh_unannounced(registry: Registry, records: list[ModelRecord], known_ids: set[str], raw: list[Notice],
                        today: date) -> int:
    """A ``none-announced`` plan for every model id in use that no announcement covers; stale ones dropped.

    The review date is kept while it is in the future, so an unchanged model writes nothing. No event: nothing
    was announced. Returns how many plans were written or dropped.
    """
    review_days = get_settings().file_config().plan_review_days
    strict = tuple(get_settings().file_config().strict_model_ids)
    written = 0
    for record in records:
        name = record.name
        wanted = _uncovered(record)
        for plan in record.deprecation_plans:
            if plan.status == "none-announced" and plan.model_id not in wanted:
                written += registry.drop_deprecation_plan(name, plan.model_id, reason="deprecation scan: no longer in use "
                                               "or now covered by an announcement")
        for model_id, versions in sorted(wanted.items()):
            old = next((p for p in record.deprecation_plans if p.model_id == model_id), None)
            if old is not None and old.status != "none-announced":
                continue  # an announcement keyed by this id: the notice's plan decides
            keep = old.review_date if old and old.review_date and old.review_date > today else None
            plan = none_announced_plan(record, model_id, versions, known_ids, lifecycle_facts(model_id, raw),
                                       keep or today + timedelta(days=review_days), strict)
            written += registry.upsert_deprecation_plan(name, plan, reason="deprecation scan: none announced")
    return written


def _event(action: str, model: str, versions: list[int], plan: Any) -> dict[str, Any]:
    return {"event": f"modelctl.deprecation.{action}", "model": model, "versions": versions,
            "payload": {"model_id": plan.model_id, "severity": plan.severity,
                        "shutdown_date": plan.hard_deadline.isoformat() if plan.hard_deadline else None,
                        "replacement": plan.replacement, "soft_deadline":
                            plan.soft_deadline.isoformat() if plan.soft_deadline else None}}
