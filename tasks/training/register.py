"""Register the fine-tuned version with its lineage, record its evaluation, and deploy it as an A/B test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from registry.entities import Experiment, Lineage, Version
from registry.service import open_registry
from registry.spec import VersionSpec
from tasks.events import emit, model_related
from tasks.training.params import Evaluation, Plan, Prepared
from tasks.training.train import TrainResult


def candidate_spec(p: Plan, trained: TrainResult, prepared: Prepared, evaluation: Evaluation | None) -> VersionSpec:
    """The version to register: production's configuration with the trained model, and full lineage."""
    record = open_registry(p.registry).get_model(p.model)
    production = record.version(p.production) if p.production else None
    base: dict[str, Any] = {}
    if production is not None and production.config.provider == trained.provider:
        base = production.config.model_dump(exclude_none=True)
        if production.pricing is not None:
            base["pricing"] = production.pricing.model_dump()
        if production.retrain_schedule:
            base["retrain_schedule"] = production.retrain_schedule
        if production.tags:
            base["tags"] = dict(production.tags)
    params = {k: v for k, v in (base.get("params") or {}).items() if k not in ("artifact_uri", "artifact_sha256")}
    params.update(trained.params or {})
    base.update(provider=trained.provider, model_id=trained.model_id, params=params or None)
    lineage = Lineage(base_model=trained.base_model, fine_tune_id=trained.job_id, training_data=prepared.dataset_uri,
                      training_data_sha256=prepared.manifest["dataset_sha256"], hyperparameters=p.hyperparameters,
                      training_date=datetime.now(UTC).date(), parent_version=p.production, trainer=trained.trainer,
                      manifest={**prepared.manifest, "manifest_uri": prepared.manifest_uri},
                      evaluation=evaluation.model_dump() if evaluation else None)
    return VersionSpec(**base, lineage=lineage,
                       description=f"fine-tuned by modelctl ({trained.trainer} job {trained.job_id})")


def register(p: Plan, prepared: Prepared, trained: TrainResult, evaluation: Evaluation,
             flow_run_id: str | None = None) -> tuple[Version, bool]:
    """A new version (or the existing one with the same digest) and its evaluation record."""
    reg = open_registry(p.registry)
    spec = candidate_spec(p, trained, prepared, evaluation)
    version, created = reg.register(p.model, spec, reason=f"fine-tune {trained.trainer} job {trained.job_id}")
    latest = reg.get_model(p.model).latest_eval(version.digest)
    if latest is None or latest.suite_digest != evaluation.suite_digest or latest.decision != evaluation.decision:
        reg.record_eval(p.model, version.number, suite=evaluation.suite, passed=evaluation.decision == "promote",
                        scores=evaluation.scores, suite_digest=evaluation.suite_digest, decision=evaluation.decision,
                        gates=evaluation.gates, baseline=evaluation.baseline, flow_run_id=flow_run_id, source="flow",
                        reason="; ".join(evaluation.reasons)[:500])
    if created:
        emit("model", "registered", resource_id=p.model, related=model_related(p.model, [version.number]),
             payload={"model": p.model, "version": version.number, "digest": version.digest,
                      "fine_tune_id": trained.job_id, "trainer": trained.trainer})
    return version, created


def deploy(p: Plan, version: Version, evaluation: Evaluation) -> tuple[Experiment | None, list[str]]:
    """On ``promote``: an A/B test of the new version against production (re-used when already running)."""
    if evaluation.decision != "promote":
        return None, [f"{evaluation.decision}: nothing deployed"]
    reg = open_registry(p.registry)
    record = reg.get_model(p.model)
    production = record.env_version("production")
    if production is None or production == version.number:
        return None, ["no other version in production to test against: registered only"]
    running = record.running_experiment()
    if running is not None and running.treatment == version.number:
        return running, [f"experiment {running.id} already running for {p.model}@{version.number}"]
    exp = reg.start_experiment(p.model, control=production, treatment=version.number, split=p.ab_split,
                               max_days=p.ab_days, reason=f"fine-tuned {p.model}@{version.number} passed "
                                                          f"{evaluation.suite}")
    emit("experiment", "started", resource_id=exp.id, related=model_related(p.model, [production, version.number]),
         payload={"model": p.model, "experiment": exp.id, "control": production, "treatment": version.number,
                  "split": p.ab_split})
    return exp, [f"A/B experiment {exp.id}: {p.model}@{version.number} on {p.ab_split:.0%} of production "
                 f"traffic for {p.ab_days:g} days"]
