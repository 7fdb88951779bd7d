"""Promotion gates and registry validation: pure functions over entities."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from registry.entities import ENVIRONMENTS, ModelRecord, Pricing, Version
from registry.pinning import classify

EMBED_DOCS_PER_SECOND = 150.0  # re-embedding throughput assumption (2M docs ~ 3.7 h)
DEFAULT_DOC_TOKENS = 500


@dataclass(frozen=True)
class GateDecision:
    """Whether a version may serve production traffic.

    ``blocking`` is True when a reason cannot be overridden (pinning, a deprecated version);
    evaluation-gate reasons can be overridden with --force and a recorded reason.
    """

    ok: bool
    blocking: bool
    reasons: list[str] = field(default_factory=list)


def reembed_estimate(docs: int | None, avg_tokens: int | None, pricing: Pricing | None) -> str:
    """Cost and time to re-embed a corpus (the same assumptions as the deprecation plans)."""
    if docs is None:
        return "re-embed the whole corpus (size unknown: set it with `modelctl annotate NAME@V --corpus-size N`)"
    tokens = docs * (avg_tokens or DEFAULT_DOC_TOKENS)
    dollars = f"${tokens * pricing.input_per_1m / 1e6:,.2f}" if pricing else "unknown cost (no pricing)"
    return f"re-embed {docs:,} documents ({tokens:,} tokens), ~{dollars}, ~{docs / EMBED_DOCS_PER_SECOND / 3600:.1f} h"


def is_embedding(record: ModelRecord) -> bool:
    """An embedding model: its versions define a vector space that stored vectors depend on."""
    return record.kind == "embedding"


def embedding_migration(record: ModelRecord, target: Version, environment: str = "production") -> str | None:
    """The migration plan a change of embedding model or dimension in ``environment`` requires, or None."""
    current_number = record.env_version(environment)
    current = record.version(current_number) if current_number else None
    if not is_embedding(record) or current is None or current.number == target.number:
        return None
    changes = []
    if current.config.model_id != target.config.model_id or current.config.provider != target.config.provider:
        changes.append(f"model {current.config.model_id} -> {target.config.model_id}")
    if current.dimension != target.dimension:
        changes.append(f"dimension {current.dimension or 'unknown'} -> {target.dimension or 'unknown'}")
    if not changes:
        return None
    estimate = reembed_estimate(current.corpus_size, current.corpus_avg_tokens, target.pricing or current.pricing)
    return (f"embedding change in {environment} ({', '.join(changes)}): every stored vector must be "
            f"recomputed before {record.name}@{target.number} serves; migration: {estimate}")


def production_gate(record: ModelRecord, version: Version, extra_strict: Iterable[str] = (),
                    require_flow_evaluation: bool = False) -> GateDecision:
    """Strict pinning (never overridable) and a passing evaluation record for this exact digest."""
    blocking: list[str] = []
    soft: list[str] = []
    level = classify(version.config, extra_strict)
    if level != "strict":
        blocking.append(f"pinning: {version.config.provider} model_id {version.config.model_id!r} is "
                        f"{level}-pinned; production needs an exact provider snapshot (strict). "
                        "Snapshot-less models can be added to strict_model_ids in MODELCTL_CONFIG")
    if version.deprecated:
        blocking.append(f"{record.name}@{version.number} is flagged deprecated")
    latest = record.latest_eval(version.digest)
    if latest is None:
        soft.append(f"evaluation gate: no evaluation record for digest {version.digest[:12]} "
                    f"({record.name}@{version.number})")
    elif not latest.passed:
        soft.append(f"evaluation gate: the latest evaluation of digest {version.digest[:12]} "
                    f"(suite {latest.suite!r}, {latest.time:%Y-%m-%d %H:%M} UTC) did not pass: "
                    f"{latest.decision}")
    elif require_flow_evaluation and not any(e.digest == version.digest and e.passed and e.source == "flow"
                                             for e in record.evaluations):
        soft.append(f"evaluation gate: the registry policy requires a flow-produced evaluation; "
                    f"{record.name}@{version.number} has only {latest.source} records")
    return GateDecision(ok=not blocking and not soft, blocking=bool(blocking), reasons=[*blocking, *soft])


@dataclass(frozen=True)
class ValidationReport:
    """Violations make ``modelctl validate`` exit 1; warnings are printed only."""

    violations: list[str]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        return not self.violations


def _check_model(record: ModelRecord, extra_strict: Iterable[str], today: date,
                 violations: list[str], warnings: list[str]) -> None:
    name = record.name
    prod = record.environments.get("production")
    if prod is not None and prod.version is not None:
        v = record.version(prod.version)
        if v is not None:
            gate = production_gate(record, v, extra_strict)
            for reason in gate.reasons:
                if reason.startswith("evaluation gate") and prod.forced:
                    warnings.append(f"{name}@{v.number} (production): {reason} — overridden: {prod.reason}")
                else:
                    violations.append(f"{name}@{v.number} (production): {reason}")
            passing = [e for e in record.evaluations if e.digest == v.digest and e.passed]
            if passing and all(e.source == "manual" for e in passing):
                warnings.append(f"{name}@{v.number} (production): gated by manual evaluation records only "
                                "(`eval record --passed`); run the evaluation flow (`modelctl eval run`)")
    for env in ENVIRONMENTS:
        number = record.env_version(env)
        v = record.version(number) if number else None
        if env != "production" and v is not None and v.deprecated:
            warnings.append(f"{name}@{v.number} ({env}) is flagged deprecated")
    exp = record.running_experiment()
    if exp is not None:
        treatment = record.version(exp.treatment)
        if treatment is not None and classify(treatment.config, extra_strict) != "strict":
            violations.append(f"{name}: experiment {exp.id} treatment @{exp.treatment} is not strictly pinned")
        if exp.ends_at is not None and exp.ends_at.date() < today:
            warnings.append(f"{name}: experiment {exp.id} is past its end ({exp.ends_at:%Y-%m-%d}) and still running")
    serving = {record.env_version(e) for e in ENVIRONMENTS} | (
        {exp.control, exp.treatment} if exp is not None else set())
    for plan in record.deprecation_plans:
        if plan.status in ("migrated", "none-announced"):
            continue
        hit = sorted(set(plan.affected_versions) & {n for n in serving if n})
        if not hit:
            continue
        if plan.hard_deadline is not None and plan.hard_deadline <= today:
            violations.append(f"{name}: {plan.model_id} passed its shutdown date {plan.hard_deadline} and "
                              f"versions {hit} still serve")
        elif plan.severity == "critical":
            violations.append(f"{name}: {plan.model_id} deprecation is critical (shutdown "
                              f"{plan.hard_deadline or 'unknown'}) and versions {hit} still serve")
        else:
            warnings.append(f"{name}: {plan.model_id} is deprecated ({plan.severity}, shutdown "
                            f"{plan.hard_deadline or 'unknown'}); migration target {plan.replacement or 'unset'}")
    if prod is not None and prod.version is not None and not record.owner:
        warnings.append(f"{name}: serves production with no owner")


def validate_records(records: Iterable[ModelRecord], extra_strict: Iterable[str] = (),
                     today: date | None = None) -> ValidationReport:
    """Every production version not strictly pinned, and every other policy violation."""
    today = today or date.today()
    violations: list[str] = []
    warnings: list[str] = []
    strict = tuple(extra_strict)
    for record in records:
        _check_model(record, strict, today, violations, warnings)
    return ValidationReport(violations=violations, warnings=warnings)
