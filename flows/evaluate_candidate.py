"""Candidate evaluation: resolve -> run both versions -> compare -> report -> record (-> staging).

One Prefect task per batch of cases (never one per case), so a Dask task runner can fan batches out.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from registry.service import open_registry, parse_ref
from registry.settings import get_settings
from tasks.evaluation import (
    ResponseCache,
    Target,
    load_suite,
    recommend,
    resolve_target,
    run_cases,
    summarize,
)
from tasks.evaluation.case_results import compare_cases, render_side_by_side_markdown, write_case_results
from tasks.evaluation.report import metric_rows, render_eval_markdown
from tasks.evaluation.runner import CaseResult, batches
from tasks.evaluation.scorers import ScoringContext


class EvaluateCandidateParams(BaseModel):
    """What to evaluate (rendered as a form in the Prefect UI)."""

    suite: str = Field(description="Suite YAML path or URI")
    candidate: str = Field(description="NAME@VERSION")
    baseline: str | None = Field(default=None, description="NAME@ENVIRONMENT or NAME@VERSION (default: production)")
    promote_to_staging: bool = False
    concurrency: int = Field(default=16, ge=1, le=256)
    batch_size: int = Field(default=500, ge=1)
    use_cache: bool = True
    registry: str | None = None


@task(cache_policy=NO_CACHE)
def resolve_versions(params: EvaluateCandidateParams) -> tuple[Target, Target | None]:
    candidate = resolve_target(params.registry, params.candidate)
    ref = params.baseline or f"{candidate.name}@production"
    record = open_registry(params.registry).get_model(parse_ref(ref)[0])
    env = parse_ref(ref)[1]
    if isinstance(env, str) and record.env_version(env) is None:
        return candidate, None  # nothing in production yet: gates only
    baseline = resolve_target(params.registry, ref)
    return candidate, None if baseline.digest == candidate.digest else baseline


@task(cache_policy=NO_CACHE)
def run_batch(suite_path: str, target: Target, case_ids: list[str], concurrency: int, use_cache: bool,
              registry: str | None) -> list[CaseResult]:
    loaded = load_suite(suite_path)
    wanted = set(case_ids)
    cache_uri = get_settings().cache
    cache = ResponseCache(cache_uri) if use_cache else None
    ctx = ScoringContext(registry_uri=registry, cache=ResponseCache(cache_uri, namespace="judge"))
    return run_cases(target, [c for c in loaded.cases if c.id in wanted], loaded.suite.scorers,
                     repeats=loaded.suite.repeats, concurrency=concurrency, cache=cache, ctx=ctx, progress=False)


@task(cache_policy=NO_CACHE)
def publish(markdown: str, rows: list[dict[str, Any]]) -> None:
    create_markdown_artifact(key="evaluation-report", markdown=markdown, description="Candidate evaluation")
    create_table_artifact(key="evaluation-metrics", table=rows, description="Per-metric comparison")


@task(cache_policy=NO_CACHE)
def keep_case_results(frames: list[Any]) -> list[str]:
    """Per-case results as Parquet beside the cache, keyed by run id, suite digest and version digest."""
    return [write_case_results(get_settings().cache, frame) for frame in frames if len(frame)]


def current_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or "") or uuid.uuid4().hex


@task(cache_policy=NO_CACHE)
def record_result(params: EvaluateCandidateParams, candidate: Target, result: dict[str, Any]) -> None:
    from prefect.runtime import flow_run

    reg = open_registry(params.registry)
    reg.record_eval(candidate.name, candidate.version, suite=result["suite"], passed=result["decision"] == "promote",
                    scores=result["scores"], suite_digest=result["suite_digest"], decision=result["decision"],
                    gates=result["gates"], baseline=result["baseline"], flow_run_id=str(flow_run.id or ""),
                    source="flow", reason=(result["summary"] or "; ".join(result["reasons"]))[:500])
    if params.promote_to_staging and result["decision"] == "promote":
        reg.promote(candidate.name, candidate.version, "staging", reason=f"passed suite {result['suite']}")


@flow(name="evaluate-candidate", log_prints=True)
def evaluate_candidate(params: EvaluateCandidateParams) -> dict[str, Any]:
    """Compare a candidate version with the baseline on a suite and record the decision."""
    loaded = load_suite(params.suite)
    candidate, baseline = resolve_versions(params)
    ids = [[c.id for c in batch] for batch in batches(loaded.cases, params.batch_size)]
    targets = [candidate, *([baseline] if baseline else [])]
    futures = {t.ref: [run_batch.submit(params.suite, t, b, params.concurrency, params.use_cache, params.registry)
                       for b in ids] for t in targets}
    results = {ref: [r for f in fs for r in f.result()] for ref, fs in futures.items()}
    expected = {c.id: c.expected for c in loaded.cases}
    cand = summarize(candidate.ref, candidate.digest, results[candidate.ref], loaded.suite, expected)
    base = summarize(baseline.ref, baseline.digest, results[baseline.ref], loaded.suite, expected) if baseline else None
    rec = recommend(cand, base, loaded.suite)
    run_id = current_run_id()
    frames, compared = compare_cases(run_id, loaded.digest, loaded.cases, candidate, baseline, results)
    keep_case_results(frames)
    markdown = render_eval_markdown(loaded.suite.name, loaded.digest, cand, base, rec) + "\n" + \
        render_side_by_side_markdown(compared, candidate.ref, baseline.ref if baseline else None)
    publish(markdown, metric_rows(rec))
    result = {**build_result(loaded.suite.name, loaded.digest, candidate, baseline, cand, rec), "report": markdown,
              "run_id": run_id, "cases": [c.to_dict() for c in compared]}
    record_result(params, candidate, result)
    return result


def build_result(suite: str, digest: str, candidate: Target, baseline: Target | None, cand: Any,
                 rec: Any) -> dict[str, Any]:
    """The flow's return value (and the CLI's JSON)."""
    scores = {m.metric: m.value for m in cand.metrics.values() if m.value is not None}
    gates = {c.metric: {"gate": c.gate, "passed": c.gate_passed, "value": c.candidate}
             for c in rec.metrics if c.gate is not None}
    return {"decision": rec.decision, "summary": rec.summary, "reasons": rec.reasons, "cases_needed": rec.cases_needed,
            "candidate": candidate.ref, "baseline": baseline.ref if baseline else None, "suite": suite,
            "suite_digest": digest, "scores": scores, "gates": gates, "metrics": metric_rows(rec)}
