"""Fine-tune: collect -> validate -> split -> train -> evaluate (subflow) -> register -> A/B -> report.

A thin DAG over ``tasks.training.pipeline`` (the same stages the CLI runs in-process). Data preparation
is cached on its inputs, training attaches to the job of the same idempotency key, registering is a
no-op for an existing digest and the A/B start re-uses a running experiment of the same version, so a
re-run after a crash resumes without re-collecting, re-training or registering twice. Promotion or
rollback happens later, in the scheduled ab-analysis: no flow run sleeps for a week.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE

from registry.entities import Experiment, Version
from registry.errors import SchemaError, StoreUnavailable, VersionConflict
from tasks.providers.base import TransientProviderError
from tasks.runtime import announce
from tasks.training.collect import Collected
from tasks.training.pipeline import (
    Evaluation,
    FineTuneParams,
    Plan,
    Prepared,
    collect_stage,
    finish,
    split_stage,
    summary,
    validate_stage,
)
from tasks.training.pipeline import plan as make_plan
from tasks.training.pipeline import train as train_stage
from tasks.training.report import artifact_key, render_finetune_markdown
from tasks.training.train import TrainResult


def transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass on its own: a store or provider unreachable, a lost write race.

    A job the provider ended failed or cancelled is final: the same key would attach to it again.
    """
    try:
        state.result()
    except SchemaError:
        return False
    except (StoreUnavailable, TransientProviderError, VersionConflict):
        return True
    except Exception:
        return False
    return False


@task(cache_policy=NO_CACHE)
def resolve_plan(params: FineTuneParams) -> Plan:
    return make_plan(params)


@task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(hours=12), retries=2, retry_delay_seconds=10,
      retry_condition_fn=transient)
def collect_examples(p: Plan) -> Collected:
    return collect_stage(p)


@task(cache_policy=NO_CACHE)
def validate_examples(p: Plan, collected: Collected) -> dict[str, Any]:
    return validate_stage(p, collected)


@task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(hours=12), retries=2, retry_delay_seconds=10,
      retry_condition_fn=transient)
def split_dataset(p: Plan, collected: Collected, validation: dict[str, Any]) -> Prepared:
    return split_stage(p, collected, validation)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=30, retry_condition_fn=transient)
def train_model(p: Plan, prepared: Prepared, poll_seconds: float | None = None) -> TrainResult:
    logger = get_run_logger()
    return train_stage(p, prepared, poll_seconds=poll_seconds, on_event=logger.info)


@flow(name="evaluate-fine-tune", log_prints=True)
def evaluate_fine_tune(p: Plan, trained: TrainResult, prepared: Prepared, cache_uri: str | None = None) -> Evaluation:
    """The candidate evaluation against production on the suite, as a subflow."""
    from tasks.training.evaluate import evaluate

    return evaluate(p, trained, prepared, cache_uri=cache_uri)


@task(cache_policy=NO_CACHE, retries=2, retry_condition_fn=transient)
def register_version(p: Plan, prepared: Prepared, trained: TrainResult, evaluation: Evaluation) -> tuple[Version, bool]:
    from prefect.runtime import flow_run

    from tasks.training.register import register

    return register(p, prepared, trained, evaluation, flow_run_id=str(flow_run.id or ""))


@task(cache_policy=NO_CACHE, retries=2, retry_condition_fn=transient)
def start_ab(p: Plan, version: Version, evaluation: Evaluation) -> tuple[Experiment | None, list[str]]:
    from tasks.training.register import deploy

    return deploy(p, version, evaluation)


@task(cache_policy=NO_CACHE)
def publish(model: str, result: dict[str, Any], events: list[str]) -> None:
    create_markdown_artifact(key=artifact_key(model), markdown=render_finetune_markdown(result, events),
                             description=f"Fine-tune of {model}")


def _models_on_schedule(params: FineTuneParams) -> list[str]:
    from registry.service import open_registry

    names = []
    for record in open_registry(params.registry).list_models():
        number = record.env_version("production")
        version = record.version(number) if number else None
        if version is not None and (version.retrain_schedule or "").lower() == params.schedule:
            names.append(record.name)
    return names


@flow(name="fine-tune", log_prints=True)
def fine_tune(params: FineTuneParams, poll_seconds: float | None = None) -> dict[str, Any]:
    """Fine-tune one model (or, with ``schedule`` and no model, every model on that retrain schedule)."""
    announce(params.registry)
    if not params.model:
        names = _models_on_schedule(params)
        states = {n: fine_tune(params.model_copy(update={"model": n}), poll_seconds, return_state=True)
                  for n in names}
        return {"schedule": params.schedule, "models": {n: s.type.value for n, s in states.items()}}
    p = resolve_plan(params)
    collected = collect_examples(p)
    prepared = split_dataset(p, collected, validate_examples(p, collected))
    if p.dry_run:
        result = summary(p, prepared).model_dump(mode="json")
        publish(p.model, result, [])
        return result
    trained = train_model(p, prepared, poll_seconds)
    evaluation = evaluate_fine_tune(p, trained, prepared)
    version, created = register_version(p, prepared, trained, evaluation)
    experiment, reasons = start_ab(p, version, evaluation)
    result = finish(p, prepared, trained, evaluation, version, created, experiment.id if experiment else None,
                    reasons).model_dump(mode="json")
    publish(p.model, result, trained.events)
    return result
