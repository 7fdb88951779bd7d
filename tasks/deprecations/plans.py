"""Migration plans from notices: deadlines, severity, replacement, steps, eval status, cost impact."""

from __future__ import annotations

from datetime import date, timedelta

from registry.entities import DeprecationPlan, ModelRecord, Version
from tasks.deprecations.matching import VersionRef, normalize_id
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


def build_plan(record: ModelRecord, notice: Notice, refs: list[VersionRef], today: date, lead_days: int) -> DeprecationPlan:
    """The plan for one (registered model, provider model) pair."""
    hard = notice.shutdown_date
    soft = hard - timedelta(days=lead_days) if hard else None
    severity = severity_of(notice, soft, today)
    retired = notice.removed or (hard is not None and hard <= today)
    status = "retired" if retired else "deprecated" if severity != "info" else "announced"
    affected = sorted({r.version for r in refs})
    current = record.version(affected[-1]) if affected else None
    repl = _replacement_version(record, notice.replacement)
    eval_status, cost = "pending", None
    if repl is not None:
        latest = record.latest_eval(repl.digest)
        eval_status = "pending" if latest is None else "passed" if latest.passed else "failed"
        old, new = (_per_request(current) if current else None), _per_request(repl)
        if old and new is not None:
            cost = f"{(new - old) / old:+.0%} per request (from registered pricing)"
        elif new is not None:
            cost = f"replacement costs ${new:g} per 1M input+output tokens; the current version has no pricing"
    elif notice.replacement:
        cost = f"unknown until {notice.replacement} is registered with pricing"
    effort, notes = None, None
    if record.kind == "embedding" and current is not None:
        docs = current.corpus_size
        if docs is None:
            effort = "data migration: re-embed the whole corpus (set corpus_size on the version to estimate it)"
        else:
            tokens = docs * (current.corpus_avg_tokens or DEFAULT_DOC_TOKENS)
            price = (repl.pricing if repl and repl.pricing else current.pricing)
            dollars = tokens * price.input_per_1m / 1e6 if price else None
            hours = docs / EMBED_DOCS_PER_SECOND / 3600
            effort = (f"data migration: re-embed {docs:,} documents ({tokens:,} tokens), ~"
                      + (f"${dollars:,.2f}" if dollars is not None else "unknown cost (no pricing)")
                      + f", ~{hours:.1f} h")
        notes = "Embedding change: every stored vector must be recomputed; plan it as a data migration."
    return DeprecationPlan(model_id=notice.model_id, provider=notice.provider, status=status,  # type: ignore[arg-type]
                           severity=severity, announced=notice.announced, soft_deadline=soft,  # type: ignore[arg-type]
                           hard_deadline=hard, not_before=notice.not_before,
                           date_kind=notice.date_kind, replacement=notice.replacement,  # type: ignore[arg-type]
                           eval_status=eval_status,  # type: ignore[arg-type]
                           migration_steps=migration_steps(record.name, notice.replacement),
                           estimated_effort=effort, cost_impact=cost, affected_versions=affected,
                           source=notice.source, notes=notes)
