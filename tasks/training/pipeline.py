"""The fine-tune pipeline: plan -> prepare (collect, validate, split) -> train -> evaluate -> register
-> deploy. Each stage is a plain function returning a value; the CLI runs them in-process and
``flows/fine_tune.py`` runs the same functions as Prefect tasks, so the two can never decide differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from registry.entities import ModelRecord, Version
from registry.errors import InvalidInput
from registry.service import open_registry
from tasks.training import validate as checks
from tasks.training.artifacts import ArtifactStore
from tasks.training.collect import Collected, collect
from tasks.training.params import Evaluation, FineTuneParams, FineTuneResult, Plan, Prepared
from tasks.training.split import build_manifest, parse_ratios, split_rows
from tasks.training.train import (
    LOCAL_BASE_MODEL,
    LOCAL_DEFAULTS,
    TrainResult,
    TrainSpec,
    train_local,
)

DEFAULT_OPENAI_BASE = "gpt-4.1-mini-2025-04-14"
__all__ = ["Evaluation", "FineTuneParams", "FineTuneResult", "Plan", "Prepared", "plan", "prepare", "run_pipeline",
           "train"]


# -- plan ------------------------------------------------------------------------------------------
def _suite_of(record: ModelRecord, production: Version | None, given: str | None) -> str:
    if given:
        return given
    if production is not None and production.tags and production.tags.get("suite"):
        return production.tags["suite"]
    for rec in reversed(record.evaluations):
        if rec.suite and Path(rec.suite).is_file():
            return rec.suite
    raise InvalidInput(f"no evaluation suite for {record.name}: pass --suite SUITE.yaml (or tag the production "
                       "version with suite: PATH)", field="suite")


def _base_model(params: FineTuneParams, production: Version | None) -> str:
    if params.base_model:
        return params.base_model
    if params.trainer == "local":
        return LOCAL_BASE_MODEL
    if production is not None and production.config.provider == params.trainer:
        lineage = production.lineage
        return lineage.base_model if lineage and lineage.base_model else production.config.model_id
    if params.trainer == "openai":
        return DEFAULT_OPENAI_BASE
    raise InvalidInput("the bedrock trainer needs --base-model (a Bedrock foundation model id)", field="base_model")


def plan(params: FineTuneParams) -> Plan:
    """Resolve the model, its production version, the suite, the base model and the settings."""
    from registry.settings import get_settings

    if not params.model:
        raise InvalidInput("give a model name", field="model")
    settings = get_settings()
    record = open_registry(params.registry).get_model(params.model)
    prod_number = record.env_version("production")
    production = record.version(prod_number) if prod_number else None
    if params.trainer == "local" and record.kind not in ("classifier", "other"):
        raise InvalidInput(f"the local trainer trains text classifiers; {params.model} is a {record.kind} model "
                           "(use --trainer openai or bedrock)", field="trainer")
    hp: dict[str, Any] = {}
    if params.trainer == "local":  # the multiplier scales C; epochs bound the solver's iterations
        hp = {"c": LOCAL_DEFAULTS["c"] * (params.learning_rate_multiplier or 1.0),
              "max_iter": 100 * params.epochs if params.epochs else LOCAL_DEFAULTS["max_iter"]}
    else:
        if params.epochs is not None:
            hp["n_epochs"] = params.epochs
        if params.learning_rate_multiplier is not None:
            hp["learning_rate_multiplier"] = params.learning_rate_multiplier
    base = _base_model(params, production)
    if params.trainer == "bedrock" and not params.dry_run:
        if not (settings.artifacts or "").startswith("s3://"):
            raise InvalidInput("the bedrock trainer needs MODELCTL_ARTIFACTS on S3 (s3://bucket/prefix)",
                               field="MODELCTL_ARTIFACTS")
        if not settings.bedrock_role_arn:
            raise InvalidInput("the bedrock trainer needs MODELCTL_BEDROCK_ROLE_ARN", field="MODELCTL_BEDROCK_ROLE_ARN")
    system_prompt = production.config.system_prompt if production is not None else None
    registry_uri = params.registry or settings.registry
    artifacts = settings.artifacts or registry_uri.rstrip("/") + "-artifacts"
    return Plan(model=params.model, trainer=params.trainer, base_model=base, data=params.data, log_uri=settings.log,
                artifacts=artifacts, registry=params.registry, suite=_suite_of(record, production, params.suite),
                kind=record.kind, capture_content=record.capture_content, production=prod_number,
                system_prompt=system_prompt, min_samples=params.min_samples,
                token_limit=checks.token_limit(params.trainer, base), ratios=parse_ratios(params.split),
                seed=params.seed, hyperparameters=hp,
                redact_patterns=settings.file_config().capture_redact_patterns,
                ab_split=params.ab_split, ab_days=params.ab_days, dry_run=params.dry_run,
                bedrock_role_arn=settings.bedrock_role_arn)


# -- prepare ---------------------------------------------------------------------------------------
def collect_stage(p: Plan) -> Collected:
    """Read the source and clean it: verified, de-duplicated, redacted, decontaminated."""
    from tasks.request_log import redactor

    return collect(model=p.model, data=p.data, log_uri=p.log_uri, capture_content=p.capture_content,
                   suite_path=p.suite, redact=redactor(p.redact_patterns or None))


def _classifier(p: Plan) -> bool:
    return p.kind == "classifier" or p.trainer == "local"


def validate_stage(p: Plan, collected: Collected) -> dict[str, Any]:
    """Sizes, tokens and labels; raises before any side effect."""
    return checks.validate(collected.frame, collected.source, min_samples=p.min_samples, limit=p.token_limit,
                           classifier=_classifier(p), system_prompt=p.system_prompt).to_dict()


def split_stage(p: Plan, collected: Collected, validation: dict[str, Any]) -> Prepared:
    """Split; write the dataset and its manifest to the artifact store (not on a dry run)."""
    result = split_rows(collected.frame, seed=p.seed, ratios=p.ratios, stratify=_classifier(p))
    dataset_uri = manifest_uri = None
    store = ArtifactStore(p.artifacts)
    if not p.dry_run:
        dataset_uri, _ = store.put(result.canonical, ".jsonl")
    manifest = build_manifest(result, model=p.model, source=collected.source, seed=p.seed, ratios=p.ratios,
                              dropped=collected.dropped, read=collected.read, dataset_uri=dataset_uri or "")
    if not p.dry_run:
        manifest_uri, _ = store.put(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode(), ".json")
    return Prepared(dataset_uri=dataset_uri, manifest_uri=manifest_uri, manifest=manifest, validation=validation)


def prepare(p: Plan) -> Prepared:
    """Collect, validate and split (the three data stages in a row)."""
    collected = collect_stage(p)
    return split_stage(p, collected, validate_stage(p, collected))


# -- train -----------------------------------------------------------------------------------------
def train_spec(p: Plan, prepared: Prepared) -> TrainSpec:
    """The job description (its idempotency key follows from it)."""
    assert prepared.dataset_uri is not None, "a dry run trains nothing"
    return TrainSpec(model=p.model, trainer=p.trainer, base_model=p.base_model, dataset_uri=prepared.dataset_uri,
                     dataset_sha256=prepared.manifest["dataset_sha256"], hyperparameters=p.hyperparameters,
                     seed=p.seed, system_prompt=p.system_prompt)


def train(p: Plan, prepared: Prepared, *, openai_client: Any = None, bedrock_client: Any = None,
          today: date | None = None, poll_seconds: float | None = None,
          on_event: Callable[[str], None] | None = None) -> TrainResult:
    """Run (or attach to) the training job of the chosen trainer."""
    spec = train_spec(p, prepared)
    store = ArtifactStore(p.artifacts)
    if p.trainer == "local":
        return train_local(spec, store)
    if p.trainer == "openai":
        from tasks.training.openai_trainer import train_openai

        return train_openai(spec, store, client=openai_client, today=today,
                            poll_seconds=10.0 if poll_seconds is None else poll_seconds, on_event=on_event)
    from tasks.training.bedrock_trainer import train_bedrock

    return train_bedrock(spec, store, role_arn=p.bedrock_role_arn, client=bedrock_client,
                         poll_seconds=30.0 if poll_seconds is None else poll_seconds, on_event=on_event)


# -- the whole pipeline, in-process ----------------------------------------------------------------
def summary(p: Plan, prepared: Prepared) -> FineTuneResult:
    """The result as far as the data goes (a dry run ends here)."""
    m = prepared.manifest
    labels = m.get("labels")
    dataset = {"sha256": m["dataset_sha256"], "rows": m["rows"], "read": m["read"], "source": m["source"],
               "uri": prepared.dataset_uri, "dropped": m["dropped"], "labels": labels,
               "tokens": {k: prepared.validation[k] for k in ("max_tokens", "mean_tokens", "total_tokens")}}
    reasons = list(prepared.validation.get("warnings") or [])
    if p.dry_run:
        reasons.append(f"dry run: would train {p.trainer} on {p.base_model} with {m['splits']['train']} examples "
                       f"(hyperparameters {p.hyperparameters or 'default'}); nothing uploaded or registered")
    return FineTuneResult(model=p.model, decision=None, dataset=dataset, split=m["splits"], reasons=reasons,
                          manifest_uri=prepared.manifest_uri, dry_run=p.dry_run)


def finish(p: Plan, prepared: Prepared, trained: TrainResult, evaluation: Evaluation, version: Version,
           created: bool, experiment_id: str | None, deploy_reasons: list[str]) -> FineTuneResult:
    """The full result after register and deploy."""
    return summary(p, prepared).model_copy(update={
        "decision": evaluation.decision, "version": version.number, "created": created,
        "job": {"trainer": trained.trainer, "id": trained.job_id, "status": trained.status,
                "attached": trained.attached, "model_id": trained.model_id, "events": len(trained.events),
                "checkpoints": trained.checkpoints},
        "experiment_id": experiment_id, "evaluation": evaluation,
        "reasons": [*evaluation.reasons, *deploy_reasons]})


def run_pipeline(params: FineTuneParams, *, openai_client: Any = None, bedrock_client: Any = None,
                 today: date | None = None, poll_seconds: float | None = None,
                 on_event: Callable[[str], None] | None = None) -> FineTuneResult:
    """Every stage in this process (the CLI's path; the flow runs the same stages as tasks)."""
    from registry.settings import get_settings
    from tasks.training.evaluate import evaluate
    from tasks.training.register import deploy, register

    p = plan(params)
    prepared = prepare(p)
    if p.dry_run:
        return summary(p, prepared)
    trained = train(p, prepared, openai_client=openai_client, bedrock_client=bedrock_client, today=today,
                    poll_seconds=poll_seconds, on_event=on_event)
    evaluation = evaluate(p, trained, prepared, cache_uri=get_settings().cache)
    version, created = register(p, prepared, trained, evaluation)
    experiment, reasons = deploy(p, version, evaluation)
    return finish(p, prepared, trained, evaluation, version, created, experiment.id if experiment else None, reasons)
