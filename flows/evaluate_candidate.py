"""Candidate evaluation: resolve -> run both versions -> compare -> report -> record (-> staging).

A thin DAG over ``tasks.evaluation.pipeline`` (the CLI runs the same stages in-process). One Prefect
task per batch of cases (never one per case), so a Dask task runner can fan batches out.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.evaluation import Target, load_suite
from tasks.evaluation import pipeline as stages
from tasks.evaluation.pipeline import EvaluateCandidateParams, build_result
from tasks.evaluation.runner import CaseResult

__all__ = ["EvaluateCandidateParams", "build_result", "evaluate_candidate"]


@task(cache_policy=NO_CACHE)
def resolve_versions(params: EvaluateCandidateParams) -> tuple[Target, Target | None]:
    return stages.resolve_versions(params)


@task(cache_policy=NO_CACHE)
def run_batch(suite_path: str, target: Target, case_ids: list[str], concurrency: int, use_cache: bool,
              registry: str | None) -> list[CaseResult]:
    return stages.run_batch(suite_path, target, case_ids, concurrency, use_cache, registry)


@task(cache_policy=NO_CACHE)
def publish(markdown: str, rows: list[dict[str, Any]]) -> None:
    create_markdown_artifact(key="evaluation-report", markdown=markdown, description="Candidate evaluation")
    create_table_artifact(key="evaluation-metrics", table=rows, description="Per-metric comparison")


@task(cache_policy=NO_CACHE)
def record_result(params: EvaluateCandidateParams, candidate: Target, result: dict[str, Any]) -> None:
    from prefect.runtime import flow_run

    stages.record_result(params, candidate, result, source="flow", flow_run_id=str(flow_run.id or ""))


@flow(name="evaluate-candidate", log_prints=True)
def evaluate_candidate(params: EvaluateCandidateParams) -> dict[str, Any]:
    """Compare a candidate version with the baseline on a suite and record the decision."""
    loaded = load_suite(params.suite)
    candidate, baseline = resolve_versions(params)
    ids = stages.case_batches(loaded, params.batch_size)
    targets = [candidate, *([baseline] if baseline else [])]
    futures = {t.ref: [run_batch.submit(params.suite, t, b, params.concurrency, params.use_cache, params.registry)
                       for b in ids] for t in targets}
    results = {ref: [r for f in fs for r in f.result()] for ref, fs in futures.items()}
    result, markdown, rows = stages.decide(loaded, candidate, baseline, results)
    publish(markdown, rows)
    record_result(params, candidate, result)
    return {**result, "report": markdown}
