"""Import and export of the seed's ``model-registry.yaml`` format (``models:`` keyed by name).

Each entry becomes a model with one version: ``active`` reaches production as a recorded import
(reason "imported"), ``evaluating`` reaches staging; ``eval_scores`` become an imported evaluation
record. Fine-tunes get provider and model_id from ``fine_tune_id`` and ``base_model``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from registry import yamlio
from registry.entities import (
    CONFIG_FIELDS,
    DeprecationPlan,
    EnvPointer,
    EvalRecord,
    Frozen,
    Lineage,
    ModelRecord,
    Pricing,
    Version,
    utcnow,
)
from registry.errors import InvalidInput
from registry.service import Registry, restage
from registry.spec import VersionSpec

STATUS_TO_ENV = {"active": "production", "production": "production", "evaluating": "staging",
                 "candidate": "staging", "staging": "staging", "development": None, "deprecated": None,
                 "archived": None, "retired": None}


class SeedEntry(Frozen):
    """One entry of the seed format (plus the configuration fields a version may carry)."""

    provider: Literal["openai", "anthropic", "bedrock", "local"] | None = None
    model_id: str | None = None
    api_version: str | None = None
    purpose: str | None = None
    status: str = "development"
    deployed_date: date | None = None
    eval_scores: dict[str, float] | None = None
    owner: str | None = None
    type: Literal["fine-tuned", "api", "self-hosted"] | None = None
    base_model: str | None = None
    fine_tune_id: str | None = None
    training_data: str | None = None
    training_date: date | None = None
    retrain_schedule: str | None = None
    dimension: int | None = Field(default=None, gt=0)
    corpus_size: int | None = None
    notes: str | None = None
    kind: str | None = None
    description: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: list[Any] | None = None
    response_format: Any = None
    params: dict[str, Any] | None = None
    pricing: Pricing | None = None
    deprecation_plans: list[DeprecationPlan] | None = None
    deprecation: Literal["critical"] | None = None  # written by export; informational on import


def _infer_provider(entry: SeedEntry) -> str | None:
    if entry.provider:
        return entry.provider
    ident = entry.fine_tune_id or entry.base_model or entry.model_id or ""
    if ident.startswith("ft:") or ident.startswith(("gpt-", "o1", "o3", "o4", "text-embedding", "davinci", "babbage")):
        return "openai"
    if ident.startswith("claude"):
        return "anthropic"
    if "." in ident and ident.split(".")[0] in {"anthropic", "amazon", "meta", "mistral", "cohere", "ai21", "us", "eu"}:
        return "bedrock"
    return None


def _to_spec(name: str, entry: SeedEntry, located: yamlio.LocatedYaml) -> VersionSpec:
    provider = _infer_provider(entry)
    model_id = entry.model_id or entry.fine_tune_id
    where = ["models", name]
    if provider is None:
        raise InvalidInput("cannot tell the provider: set `provider`", file=located.source,
                           line=located.line_of(where), field=f"models.{name}.provider")
    if not model_id:
        raise InvalidInput("missing model_id (or fine_tune_id)", file=located.source,
                           line=located.line_of(where), field=f"models.{name}.model_id")
    if entry.status not in STATUS_TO_ENV:
        raise InvalidInput(f"unknown status {entry.status!r}; one of {', '.join(STATUS_TO_ENV)}",
                           file=located.source, line=located.line_of([*where, "status"]),
                           field=f"models.{name}.status")
    lineage = None
    if entry.base_model or entry.fine_tune_id or entry.training_data or entry.training_date:
        lineage = Lineage(base_model=entry.base_model, fine_tune_id=entry.fine_tune_id,
                          training_data=entry.training_data, training_date=entry.training_date)
    kind = entry.kind or ("embedding" if entry.dimension or "embed" in model_id else "chat")
    data: dict[str, Any] = {f: getattr(entry, f, None) for f in CONFIG_FIELDS if f not in ("provider", "model_id")}
    data.update(provider=provider, model_id=model_id, lineage=lineage, purpose=entry.purpose, owner=entry.owner,
                kind=kind, dimension=entry.dimension, corpus_size=entry.corpus_size, notes=entry.notes,
                retrain_schedule=entry.retrain_schedule, deployed_date=entry.deployed_date,
                description=entry.description or "imported from the seed format", pricing=entry.pricing)
    try:
        return VersionSpec.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise located.error(exc, prefix=where) from exc


def parse_seed(path: str | Path) -> tuple[list[tuple[str, SeedEntry, VersionSpec]], yamlio.LocatedYaml]:
    """Validate a whole seed file before anything is written."""
    located = yamlio.load_located(path)
    doc = located.data
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
        raise InvalidInput("expected a top-level `models:` mapping (the seed's model-registry.yaml format)",
                           file=str(path), line=1, field="models")
    unknown = set(doc) - {"models"}
    if unknown:
        key = sorted(unknown)[0]
        raise InvalidInput("unknown field", file=str(path), line=located.line_of([key]), field=key)
    out = []
    for name, raw in doc["models"].items():
        from registry.stores.base import check_name

        try:
            check_name(str(name))
        except InvalidInput as exc:
            raise InvalidInput(exc.message, file=str(path), line=located.line_of(["models", name]),
                               field=f"models.{name}") from exc
        if not isinstance(raw, dict):
            raise InvalidInput("expected a mapping", file=str(path), line=located.line_of(["models", name]),
                               field=f"models.{name}")
        try:
            entry = SeedEntry.model_validate(raw)
        except ValidationError as exc:
            raise located.error(exc, prefix=["models", name]) from exc
        out.append((str(name), entry, _to_spec(str(name), entry, located)))
    return out, located


def _target_env(entry: SeedEntry, spec: VersionSpec, extra_strict: tuple[str, ...]) -> tuple[str | None, str]:
    """The environment an entry is imported into, and a note. Production needs strict pinning: nothing in
    a seed file overrides it, so a family- or tier-pinned ``active`` entry is imported into staging."""
    from registry.pinning import classify

    env = STATUS_TO_ENV[entry.status]
    if env != "production":
        return env, ""
    level = classify(spec.config(), extra_strict)
    if level == "strict":
        return env, ""
    return "staging", (f"warning: {spec.model_id!r} is {level}-pinned; imported into staging, not production "
                       "(pin an exact snapshot to promote it)")


def import_seed(registry: Registry, path: str | Path) -> list[str]:
    """Import a seed file; one atomic write per model. Every entry is validated, and applied in a dry run
    against the current registry, before anything is written: bad input writes nothing."""
    entries, located = parse_seed(path)
    plans = []
    exists = registry.store.exists()
    for name, entry, spec in entries:
        env, note = _target_env(entry, spec, registry.extra_strict)
        mutate, outcome = _import_mutation(registry, name, entry, spec, env)
        try:
            mutate(registry.store.read(name) if exists else None)
        except (InvalidInput, ValidationError, ValueError) as exc:
            message = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise InvalidInput(f"cannot import: {message}", file=str(path), line=located.line_of(["models", name]),
                               field=f"models.{name}") from exc
        plans.append((name, entry, env, note, mutate, outcome))
    registry.init()
    lines = []
    for name, entry, env, note, mutate, outcome in plans:
        registry.store.update(name, mutate)
        status = f"{env or entry.status}{'' if outcome['changed'] else ' (unchanged)'}"
        lines.append(f"{name}@{outcome['number']} {status}" + (f" — {note}" if note else ""))
    return lines


def _import_mutation(registry: Registry, name: str, entry: SeedEntry, spec: VersionSpec,
                     env: str | None) -> tuple[Callable[[ModelRecord | None], ModelRecord | None], dict[str, Any]]:
    """The one write that registers the version, its imported evaluation and its environment."""
    config = spec.config()
    digest = config.digest()
    outcome: dict[str, Any] = {}
    model_fields = spec.model_fields_given()

    def mutate(current: ModelRecord | None) -> ModelRecord | None:
        record = current or ModelRecord(name=name, **model_fields)
        history = list(record.history)
        changed_fields = {k: v for k, v in model_fields.items() if k != "kind" and getattr(record, k) != v}
        if current is not None and changed_fields:
            history.append(registry._event("model_update", name, reason="imported",
                                           before={k: getattr(record, k) for k in changed_fields},
                                           after=changed_fields))
            record = record.model_copy(update=changed_fields)
        version = record.by_digest(digest)
        versions = list(record.versions)
        if version is None:
            version = Version(number=len(versions) + 1, digest=digest, config=config, created_at=utcnow(),
                              created_by=registry.actor, **spec.metadata())
            versions.append(version)
            history.append(registry._event("register", name, version=version.number, reason="imported",
                                           after={"version": version.number, "digest": digest}))
        if entry.status == "deprecated" and not version.deprecated:
            version = version.model_copy(update={"deprecated": True})
            versions[version.number - 1] = version
            history.append(registry._event("deprecate", name, version=version.number, reason="imported",
                                           after={"deprecated": True}))
        evaluations = list(record.evaluations)
        latest = record.latest_eval(digest)
        if entry.eval_scores and (latest is None or latest.scores != entry.eval_scores):
            evaluations.append(EvalRecord(digest=digest, version=version.number, suite="imported",
                                          passed=entry.status == "active", decision="imported",
                                          scores=entry.eval_scores, source="import", time=utcnow(),
                                          actor=registry.actor))
            history.append(registry._event("evaluate", name, version=version.number, reason="imported",
                                           after={"suite": "imported", "scores": entry.eval_scores,
                                                  "passed": entry.status == "active"}))
        environments = dict(record.environments)
        old = environments.get(env) if env else None
        if env is not None and (old is None or old.version != version.number):
            forced = env == "production"
            environments[env] = EnvPointer(version=version.number, previous=old.version if old else None,
                                           updated_at=utcnow(), updated_by=registry.actor, forced=forced,
                                           reason="imported")
            history.append(registry._event("promote", name, version=version.number, reason="imported",
                                           forced=forced, before={"environment": env,
                                                                  "version": old.version if old else None},
                                           after={"environment": env, "version": version.number,
                                                  "via": "import"}))
        plans = list(record.deprecation_plans)
        for exported in entry.deprecation_plans or []:
            affected = [version.number] if exported.model_id == version.config.model_id else []
            plan = exported.model_copy(update={"affected_versions": affected})
            old_plan = next((p for p in plans if p.model_id == plan.model_id), None)
            if old_plan != plan:
                plans = [p for p in plans if p.model_id != plan.model_id] + [plan]
                history.append(registry._event("deprecation_update", name, reason="imported",
                                               after=plan.model_dump(mode="json", exclude_none=True)))
        record = record.model_copy(update={"deprecation_plans": plans})
        outcome.update(number=version.number, changed=len(history) > len(current.history if current else []))
        if not outcome["changed"]:
            return None
        updated = record.model_copy(update={"versions": versions, "environments": environments,
                                            "evaluations": evaluations})
        return updated.model_copy(update={"versions": restage(updated), "history": history})

    return mutate, outcome


def export_seed(registry: Registry) -> dict[str, Any]:
    """The registry in the seed format: one entry per model, its serving (or latest) version."""
    models: dict[str, Any] = {}
    env_status = {"production": "active", "staging": "evaluating", "development": "development"}
    for record in registry.list_models():
        if not record.versions:
            continue
        env = next((e for e in ("production", "staging", "development") if record.env_version(e)), None)
        number = record.env_version(env) if env else None
        v = record.version(number) if number else record.versions[-1]
        assert v is not None
        status = env_status[env] if env else ("deprecated" if v.deprecated else
                                              "archived" if v.stage == "archived" else "development")
        cfg = v.config
        entry: dict[str, Any] = {}
        ft = v.lineage.fine_tune_id if v.lineage else None
        if ft and ft == cfg.model_id:
            entry["type"] = "fine-tuned"
            entry["base_model"] = v.lineage.base_model if v.lineage else None
            entry["fine_tune_id"] = ft
            if cfg.provider != _infer_provider(SeedEntry(fine_tune_id=ft)):
                entry["provider"] = cfg.provider
        else:
            entry.update(provider=cfg.provider, model_id=cfg.model_id)
        extra = cfg.model_dump(mode="json", exclude_none=True, exclude={"provider", "model_id"})
        lineage = v.lineage
        evals = record.latest_eval(v.digest)
        entry.update({
            **extra, "purpose": record.purpose, "status": status,
            "deployed_date": v.deployed_date.isoformat() if v.deployed_date else None,
            "eval_scores": dict(evals.scores) if evals and evals.scores else None, "owner": record.owner,
            "training_data": lineage.training_data if lineage else None,
            "training_date": lineage.training_date.isoformat() if lineage and lineage.training_date else None,
            "retrain_schedule": v.retrain_schedule, "dimension": v.dimension, "corpus_size": v.corpus_size,
            "notes": v.notes,
            "pricing": v.pricing.model_dump(mode="json") if v.pricing else None,
        })
        if record.kind not in ("chat", "embedding"):
            entry["kind"] = record.kind
        if record.deprecation_plans:
            entry["deprecation_plans"] = [p.model_dump(mode="json", exclude_none=True,
                                                       exclude={"affected_versions", "updated_at"})
                                          for p in record.deprecation_plans]
            if any(p.severity == "critical" and p.status != "migrated" and
                   (v.number in p.affected_versions or p.model_id == cfg.model_id) for p in record.deprecation_plans):
                entry["deprecation"] = "critical"
        if not ft or ft != cfg.model_id:
            entry.pop("base_model", None)
        models[record.name] = {k: val for k, val in entry.items() if val is not None}
    return {"models": models}
