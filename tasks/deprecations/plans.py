"""Migration plans: from notices (deadlines, severity, replacement, steps, eval status, cost impact), and
``none-announced`` plans for models in use that no provider has deprecated (lifecycle facts, a review
date, a proposed target)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from registry.entities import (
    DeprecationPlan,
    LifecycleFacts,
    ModelConfig,
    ModelRecord,
    PlanMigration,
    PlanTimeline,
    Version,
)
from registry.pinning import is_strict
from tasks.deprecations.matching import VersionRef, family_of, normalize_id, snapshot_date
from tasks.deprecations.sources import Notice

CRITICAL_DAYS = 14
EMBED_DOCS_PER_SECOND = 150.0  # re-embedding throughput assumption (2M docs ~ 3.7 h)
DEFAULT_DOC_TOKENS = 500


def severity_of(notice: Notice, soft: date | None, today: date) -> str:
    """critical: removed, or shutdown within 14 days or passed; warning: past the soft deadline; else info."""
    hard = notice.shutdown_date
    if notice.removed or (hard is not None and (hard - today).days <= CRITICAL_DAYS):
        return "critical"
    if soft is not None and today >= soft:
        return "warning"
    return "info"


def _replacement_version(record: ModelRecord, replacement: str | None) -> Version | None:
    if not replacement:
        return None
    target = normalize_id(replacement)
    return next((v for v in reversed(record.versions) if normalize_id(v.config.model_id) == target), None)


def _per_request(v: Version) -> float | None:
    return (v.pricing.input_per_1m + v.pricing.output_per_1m) if v.pricing else None


def migration_steps(model: str, replacement: str | None) -> list[str]:
    """The seed's migration steps, for this model."""
    target = replacement or "a replacement model"
    return [f"Register {target} as a new version of {model} (modelctl register)",
            "Run full eval suite against new model (modelctl eval run)",
            "Deploy to staging, run smoke tests",
            "A/B test in production (10% traffic for 1 week)",
            "Full rollout (modelctl promote)"]


def reembedding_estimate(current: Version, target: Version | None = None) -> str:
    """The data-migration estimate of replacing an embedding version (documents, tokens, dollars, hours)."""
    docs = current.corpus_size
    if docs is None:
        return "data migration: re-embed the whole corpus (set corpus_size on the version to estimate it)"
    tokens = docs * (current.corpus_avg_tokens or DEFAULT_DOC_TOKENS)
    price = target.pricing if target is not None and target.pricing else current.pricing
    dollars = tokens * price.input_per_1m / 1e6 if price else None
    hours = docs / EMBED_DOCS_PER_SECOND / 3600
    return (f"data migration: re-embed {docs:,} documents ({tokens:,} tokens), ~"
            + (f"${dollars:,.2f}" if dollars is not None else "unknown cost (no pricing)") + f", ~{hours:.1f} h")


EMBEDDING_NOTE = "Embedding change: every stored vector must be recomputed; plan it as a data migration."


def _cost_impact(current: Version | None, target: Version | None, target_id: str | None) -> str | None:
    if target is not None:
        old, new = (_per_request(current) if current else None), _per_request(target)
        if old and new is not None:
            return f"{(new - old) / old:+.0%} per request (from registered pricing)"
        if new is not None:
            return f"replacement costs ${new:g} per 1M input+output tokens; the current version has no pricing"
        return None
    return f"unknown until {target_id} is registered with pricing" if target_id else None


def _eval_status(record: ModelRecord, target: Version | None) -> str:
    latest = record.latest_eval(target.digest) if target is not None else None
    return "pending" if latest is None else "passed" if latest.passed else "failed"


def build_plan(record: ModelRecord, notice: Notice, refs: list[VersionRef], today: date, lead_days: int,
               facts: LifecycleFacts | None = None) -> DeprecationPlan:
    """The plan for one (registered model, provider model) pair."""
    hard = notice.shutdown_date
    soft = hard - timedelta(days=lead_days) if hard else None
    severity = severity_of(notice, soft, today)
    retired = notice.removed or (hard is not None and hard <= today)
    status = "retired" if retired else "deprecated" if severity != "info" else "announced"
    affected = sorted({r.version for r in refs})
    current = record.version(affected[-1]) if affected else None
    repl = _replacement_version(record, notice.replacement)
    effort, notes = None, None
    if record.kind == "embedding" and current is not None:
        effort, notes = reembedding_estimate(current, repl), EMBEDDING_NOTE
    timeline = PlanTimeline(announced=notice.announced, soft_deadline=soft, hard_deadline=hard,
                            not_before=notice.not_before, date_kind=notice.date_kind)  # type: ignore[arg-type]
    migration = PlanMigration(target=notice.replacement, target_version=repl.number if repl else None,
                              target_source="provider" if notice.replacement else None,
                              eval_status=_eval_status(record, repl),  # type: ignore[arg-type]
                              migration_steps=migration_steps(record.name, notice.replacement),
                              estimated_effort=effort,
                              cost_impact=_cost_impact(current, repl, notice.replacement))
    return DeprecationPlan(model_id=notice.model_id, provider=notice.provider, status=status,  # type: ignore[arg-type]
                           severity=severity, timeline=timeline, migration=migration,  # type: ignore[arg-type]
                           lifecycle=facts, affected_versions=affected, source=notice.source, notes=notes)


@dataclass(frozen=True)
class Proposal:
    """A proposed migration target: a provider model id, the registered version if any, and why."""

    target: str
    version: int | None
    source: str


def _newer(candidate: str, current: str) -> bool:
    new, old = snapshot_date(candidate), snapshot_date(current)
    return new is not None and (old is None or new > old)


def propose_target(record: ModelRecord, current: Version, known_ids: set[str],
                   extra_strict: tuple[str, ...] = ()) -> Proposal | None:
    """The newest strictly pinned model of the same family the scan knows, else the model's staging version."""
    family = family_of(current.config.model_id)
    same = sorted((i for i in known_ids if family_of(i) == family and i != current.config.model_id
                   and _newer(i, current.config.model_id) and is_strict(_config_like(current, i), extra_strict)),
                  key=lambda i: (snapshot_date(i), i))
    if same:
        target = same[-1]
        registered = next((v for v in reversed(record.versions)
                           if normalize_id(v.config.model_id) == normalize_id(target)), None)
        return Proposal(target, registered.number if registered else None, "same-family")
    staging = record.version(record.env_version("staging") or 0)
    if staging is not None and staging.number != current.number:
        return Proposal(staging.config.model_id, staging.number, "staging")
    return None


def _config_like(version: Version, model_id: str) -> ModelConfig:
    """The version's configuration with another model id (to ask whether that id is strictly pinned)."""
    return version.config.model_copy(update={"model_id": model_id})


def none_announced_plan(record: ModelRecord, model_id: str, versions: list[int], known_ids: set[str],
                        facts: LifecycleFacts, review_date: date, extra_strict: tuple[str, ...] = ()) -> DeprecationPlan:
    """The plan of a model in use that no provider has deprecated: facts, a review date, a proposed target."""
    current = record.version(max(versions))
    assert current is not None
    proposal = propose_target(record, current, known_ids, extra_strict)
    target_version = record.version(proposal.version) if proposal and proposal.version else None
    effort, notes = None, None
    if record.kind == "embedding":
        effort, notes = reembedding_estimate(current, target_version), EMBEDDING_NOTE
    migration = PlanMigration(
        target=proposal.target if proposal else None, target_version=proposal.version if proposal else None,
        target_source=proposal.source if proposal else None,  # type: ignore[arg-type]
        eval_status=_eval_status(record, target_version),  # type: ignore[arg-type]
        migration_steps=migration_steps(record.name, proposal.target if proposal else None),
        estimated_effort=effort,
        cost_impact=_cost_impact(current, target_version, proposal.target if proposal else None))
    return DeprecationPlan(model_id=model_id, provider=current.config.provider, status="none-announced",
                           severity="info", timeline=PlanTimeline(), migration=migration, lifecycle=facts,
                           review_date=review_date, affected_versions=sorted(versions), source="scan",
                           notes=notes)
