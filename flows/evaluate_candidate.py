"""Candidate evaluation: resolve -> run both versions -> compare -> report -> record (-> staging).

One Prefect task per batch of cases (never one per case), so a Dask task runner can fan batches out:
the batches run in a subflow whose task runner the ``task_runner`` parameter chooses.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field, field_validator

from registry.errors import InvalidInput
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
from tasks.evaluation.report import artifact_key, human_rows, metric_rows, render_eval_markdown
from tasks.evaluation.runner import CaseResult, batches
from tasks.evaluation.scorers import ScoringContext
from tasks.events import emit, model_related
from tasks.runtime import announce, model_slot, run_parameters


class EvaluateCandidateParams(BaseModel):
    """What to evaluate (rendered as a form in the Prefect UI)."""

    candidate: str = Field(description="The version to evaluate, NAME@VERSION (e.g. ticket-triage@2)")
    suite: str | None = Field(default=None, description="Suite YAML path or URI; empty: the suite the model "
                                                        "was last evaluated on (its recorded suite)")
    baseline: str | None = Field(default=None, description="NAME@ENVIRONMENT or NAME@VERSION to compare with "
                                                           "(default: NAME@production)")
    promote_to_staging: bool = Field(default=False, description="Move the candidate to staging when the "
                                                                "decision is promote")
    concurrency: int = Field(default=16, ge=1, le=256, description="Provider calls in flight per batch")
    batch_size: int = Field(default=500, ge=1, description="Cases per Prefect task (the unit a task runner "
                                                           "fans out)")
    use_cache: bool = Field(default=True, description="Reuse cached responses of identical calls "
                                                      "(MODELCTL_CACHE)")
    task_runner: Literal["threads", "dask"] = Field(default="threads", description="Where batches run: "
                                                    "threads in the flow run, or a Dask cluster (prefect-dask)")
    dask_address: str | None = Field(default=None, description="Scheduler address of a running Dask cluster; "
                                                               "empty with task_runner=dask: a local cluster")
    registry: str | None = Field(default=None, description="Registry URI; empty: the worker's MODELCTL_REGISTRY "
                                                           "(set by the deployment's job variables)")

    @field_validator("suite", "baseline", "dask_address", "registry", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


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
    if not params.candidate.strip():
        raise InvalidInput("no candidate: evaluation requests need payload.candidate = NAME@VERSION",
                           field="candidate")
    if params.suite:
        return params.suite
    name = parse_ref(params.candidate)[0]
    recorded = open_registry(params.registry).get_model(name).recorded_suite()
    if not recorded:
        raise InvalidInput(f"no suite given and {name} has no recorded suite: pass suite=PATH", field="suite")
    return recorded


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
              registry: str | None, cache_uri: str) -> list[CaseResult]:
    loaded = load_suite(suite_path)
    wanted = set(case_ids)
    cache = ResponseCache(cache_uri) if use_cache else None
    ctx = ScoringContext(registry_uri=registry, cache=ResponseCache(cache_uri, namespace="judge"))
    return run_cases(target, [c for c in loaded.cases if c.id in wanted], loaded.suite.scorers,
                     repeats=loaded.suite.repeats, concurrency=concurrency, cache=cache, ctx=ctx, progress=False)


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


def keep_case_results(frames: list[Any]) -> list[str]:
    """Per-case results as Parquet beside the cache, keyed by run id, suite digest and version digest."""
    return [write_case_results(get_settings().cache, frame) for frame in frames if len(frame)]


def current_run_id() -> str:
    from prefect.runtime import flow_run

    return str(flow_run.id or "") or uuid.uuid4().hex


@task(cache_policy=NO_CACHE)
def record_result(params: EvaluateCandidateParams, suite_uri: str, candidate: Target, result: dict[str, Any]) -> None:
    from prefect.runtime import flow_run

    reg = open_registry(params.registry)
    reg.record_eval(candidate.name, candidate.version, suite=result["suite"], passed=result["decision"] == "promote",
                    scores=result["scores"], suite_digest=result["suite_digest"], decision=result["decision"],
                    gates=result["gates"], baseline=result["baseline"], flow_run_id=str(flow_run.id or ""),
                    source="flow", reason=(result["summary"] or "; ".join(result["reasons"]))[:500], suite_uri=suite_uri)
    if params.promote_to_staging and result["decision"] == "promote":
        reg.promote(candidate.name, candidate.version, "staging", reason=f"passed suite {result['suite']}")


@flow(name="evaluate-candidate", flow_run_name=run_name, log_prints=True, on_failure=[_on_failure])
def evaluate_candidate(params: EvaluateCandidateParams) -> dict[str, Any]:
    """Compare a candidate version with the baseline on a suite and record the decision."""
    announce(params.registry)
    suite = resolve_suite(params)
    with model_slot("evaluate", parse_ref(params.candidate)[0]):  # one evaluation of a model at a time
        loaded = load_suite(suite)
        candidate, baseline = resolve_versions(params)
        ids = [[c.id for c in batch] for batch in batches(loaded.cases, params.batch_size)]
        targets = [candidate, *([baseline] if baseline else [])]
        results = run_batches.with_options(task_runner=task_runner_for(params))(
            suite, targets, ids, params.concurrency, params.use_cache, params.registry, get_settings().cache)
        expected = {c.id: c.expected for c in loaded.cases}
        cand = summarize(candidate.ref, candidate.digest, results[candidate.ref], loaded.suite, expected)
        base = (summarize(baseline.ref, baseline.digest, results[baseline.ref], loaded.suite, expected)
                if baseline else None)
        rec = recommend(cand, base, loaded.suite)
        run_id = current_run_id()
        frames, compared = compare_cases(run_id, loaded.digest, loaded.cases, candidate, baseline, results)
        keep_case_results(frames)
        markdown = render_eval_markdown(loaded.suite.name, loaded.digest, cand, base, rec) + "\n" + \
            render_side_by_side_markdown(compared, candidate.ref, baseline.ref if baseline else None)
        publish(candidate.name, markdown, metric_rows(rec))
        result = {**build_result(loaded.suite.name, loaded.digest, candidate, baseline, cand, rec),
                  "report": markdown, "run_id": run_id, "cases": [c.to_dict() for c in compared]}
        record_result(params, suite, candidate, result)
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
