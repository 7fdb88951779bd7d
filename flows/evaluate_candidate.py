"""Candidate evaluation: resolve -> run both versions -> compare -> report -> record (-> staging).

A thin DAG over ``tasks.evaluation.pipeline`` (the CLI runs the same stages in-process). One Prefect
task per batch of cases (never one per case), so a Dask task runner can fan batches out: the batches
run in a subflow whose task runner the ``task_runner`` parameter chooses.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from registry.errors import InvalidInput
from registry.service import parse_ref
from registry.settings import get_settings
from tasks.evaluation import Target, load_suite
from tasks.evaluation import pipeline as stages
from tasks.evaluation.pipeline import EvaluateCandidateParams, build_result, keep_case_results
from tasks.evaluation.report import artifact_key, human_rows
from tasks.evaluation.runner import CaseResult
from tasks.events import emit, model_related
from tasks.runtime import announce, model_slot, run_parameters

__all__ = ["EvaluateCandidateParams", "build_result", "evaluate_candidate", "keep_case_results"]


def run_name() -> str:
    """``evaluate ticket-triage@2`` in the Prefect UI."""
    return f"evaluate {run_parameters().get('candidate') or '(no candidate)'}"


def _on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """A failed evaluation is a Failed run and a ``modelctl.evaluation.failed`` event."""
    candidate = str(run_parameters().get("candidate") or "")
    name = candidate.partition("@")[0] or "unknown"
    emit("evaluation", "failed", resource_id=name, about=f"modelctl.model.{name}", related=model_related(name)[1:],
         payload={"candidate": candidate, "flow_run_id": str(flow_run.id), "message": str(state.message or "")})


@task(cache_policy=NO_CACHE)
def resolve_suite(params: EvaluateCandidateParams) -> str:
    """The suite to run: the parameter, else the model's recorded suite."""
    return stages.resolve_suite(params)


@task(cache_policy=NO_CACHE)
def resolve_versions(params: EvaluateCandidateParams) -> tuple[Target, Target | None]:
    return stages.resolve_versions(params)


@task(cache_policy=NO_CACHE)
def run_batch(suite_path: str, target: Target, case_ids: list[str], concurrency: int, use_cache: bool,
              registry: str | None, cache_uri: str) -> list[CaseResult]:
    return stages.run_batch(suite_path, target, case_ids, concurrency, use_cache, registry, cache_uri)


@flow(name="evaluation-batches", flow_run_name="batches of {suite_path}")
def run_batches(suite_path: str, targets: list[Target], ids: list[list[str]], concurrency: int, use_cache: bool,
                registry: str | None, cache_uri: str) -> dict[str, list[CaseResult]]:
    """Every batch of every target, submitted to this subflow's task runner."""
    futures = {t.ref: [run_batch.submit(suite_path, t, b, concurrency, use_cache, registry, cache_uri) for b in ids]
               for t in targets}
    return {ref: [r for f in fs for r in f.result()] for ref, fs in futures.items()}


def task_runner_for(params: EvaluateCandidateParams) -> Any:
    """The task runner the parameters ask for."""
    if params.task_runner == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner()
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise InvalidInput("task_runner=dask needs prefect-dask on the worker (pip install prefect-dask)",
                           field="task_runner") from exc
    if params.dask_address:
        return DaskTaskRunner(address=params.dask_address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": 2, "threads_per_worker": 1, "processes": True})


@task(cache_policy=NO_CACHE)
def publish(model: str, markdown: str, rows: list[dict[str, Any]]) -> None:
    key = artifact_key("evaluation", model)
    create_markdown_artifact(key=key, markdown=markdown, description=f"Candidate evaluation of {model}")
    create_table_artifact(key=f"{key}-metrics", table=human_rows(rows), description=f"Per-metric comparison, {model}")


def current_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or "") or uuid.uuid4().hex


@task(cache_policy=NO_CACHE)
def record_result(params: EvaluateCandidateParams, suite_uri: str, candidate: Target, result: dict[str, Any]) -> None:
    from prefect.runtime import flow_run

    stages.record_result(params, suite_uri, candidate, result, source="flow", flow_run_id=str(flow_run.id or ""))


@flow(name="evaluate-candidate", flow_run_name=run_name, log_prints=True, on_failure=[_on_failure])
def evaluate_candidate(params: EvaluateCandidateParams) -> dict[str, Any]:
    """Compare a candidate version with the baseline on a suite and record the decision."""
    announce(params.registry)
    suite = resolve_suite(params)
    with model_slot("evaluate", parse_ref(params.candidate)[0]):  # one evaluation of a model at a time
        loaded = load_suite(suite)
        candidate, baseline = resolve_versions(params)
        ids = stages.case_batches(loaded, params.batch_size)
        targets = [candidate, *([baseline] if baseline else [])]
        results = run_batches.with_options(task_runner=task_runner_for(params))(
            suite, targets, ids, params.concurrency, params.use_cache, params.registry, get_settings().cache)
        result, markdown, rows = stages.decide(loaded, candidate, baseline, results, current_run_id())
        publish(candidate.name, markdown, rows)
        record_result(params, suite, candidate, result)
    return result
