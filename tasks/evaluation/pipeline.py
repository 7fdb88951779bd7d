"""The candidate evaluation as a plain pipeline: resolve -> run both versions -> compare -> report -> record.

The ``evaluate-candidate`` flow wires these stages as Prefect tasks (one per batch of cases); the CLI
calls ``run_evaluation`` directly, in-process, so one evaluation needs no Prefect server. Both decide
with the same functions, so they can never decide differently.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

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
from tasks.evaluation.report import metric_rows, render_eval_markdown
from tasks.evaluation.runner import CaseResult, batches
from tasks.evaluation.scorers import ScoringContext
from tasks.evaluation.suite import LoadedSuite


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


def resolve_versions(params: EvaluateCandidateParams) -> tuple[Target, Target | None]:
    """The candidate and its baseline (None when there is nothing to compare with)."""
    candidate = resolve_target(params.registry, params.candidate)
    ref = params.baseline or f"{candidate.name}@production"
    record = open_registry(params.registry).get_model(parse_ref(ref)[0])
    env = parse_ref(ref)[1]
    if isinstance(env, str) and record.env_version(env) is None:
        return candidate, None  # nothing in production yet: gates only
    baseline = resolve_target(params.registry, ref)
    return candidate, None if baseline.digest == candidate.digest else baseline


def case_batches(loaded: LoadedSuite, batch_size: int) -> list[list[str]]:
    """Case ids in batches (the unit of work the flow fans out)."""
    return [[c.id for c in batch] for batch in batches(loaded.cases, batch_size)]


def run_batch(suite_path: str, target: Target, case_ids: list[str], concurrency: int, use_cache: bool,
              registry: str | None, cache_uri: str | None = None, loaded: LoadedSuite | None = None
              ) -> list[CaseResult]:
    """Run one batch of cases against one version (``cache_uri``: the flow's, else MODELCTL_CACHE)."""
    loaded = loaded or load_suite(suite_path)
    wanted = set(case_ids)
    cache_uri = cache_uri or get_settings().cache
    cache = ResponseCache(cache_uri) if use_cache else None
    ctx = ScoringContext(registry_uri=registry, cache=ResponseCache(cache_uri, namespace="judge"))
    return run_cases(target, [c for c in loaded.cases if c.id in wanted], loaded.suite.scorers,
                     repeats=loaded.suite.repeats, concurrency=concurrency, cache=cache, ctx=ctx, progress=False)


def keep_case_results(frames: list[Any]) -> list[str]:
    """Per-case results as Parquet beside the cache, keyed by run id, suite digest and version digest."""
    return [write_case_results(get_settings().cache, frame) for frame in frames if len(frame)]


def decide(loaded: LoadedSuite, candidate: Target, baseline: Target | None, results: dict[str, list[CaseResult]],
           run_id: str) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """Compare, recommend and keep the per-case results: (the result with its ``report``, ``run_id`` and
    ``cases``; the markdown report, side by side cases appended; the per-metric rows)."""
    expected = {c.id: c.expected for c in loaded.cases}
    cand = summarize(candidate.ref, candidate.digest, results[candidate.ref], loaded.suite, expected)
    base = summarize(baseline.ref, baseline.digest, results[baseline.ref], loaded.suite, expected) if baseline else None
    rec = recommend(cand, base, loaded.suite)
    frames, compared = compare_cases(run_id, loaded.digest, loaded.cases, candidate, baseline, results)
    keep_case_results(frames)
    markdown = render_eval_markdown(loaded.suite.name, loaded.digest, cand, base, rec) + "\n" + \
        render_side_by_side_markdown(compared, candidate.ref, baseline.ref if baseline else None)
    result = {**build_result(loaded.suite.name, loaded.digest, candidate, baseline, cand, rec),
              "report": markdown, "run_id": run_id, "cases": [c.to_dict() for c in compared]}
    return result, markdown, metric_rows(rec)


def record_result(params: EvaluateCandidateParams, suite_uri: str, candidate: Target, result: dict[str, Any], *,
                  source: str = "flow", flow_run_id: str | None = None) -> None:
    """Record the decision on the candidate's digest, with the suite's URI (and point staging at a promoted
    candidate)."""
    reg = open_registry(params.registry)
    reg.record_eval(candidate.name, candidate.version, suite=result["suite"], passed=result["decision"] == "promote",
                    scores=result["scores"], suite_digest=result["suite_digest"], decision=result["decision"],
                    gates=result["gates"], baseline=result["baseline"], flow_run_id=flow_run_id,
                    source=source, reason=(result["summary"] or "; ".join(result["reasons"]))[:500],
                    suite_uri=suite_uri)
    if params.promote_to_staging and result["decision"] == "promote":
        reg.promote(candidate.name, candidate.version, "staging", reason=f"passed suite {result['suite']}")


def _in_prefect_run() -> bool:
    """Inside a Prefect flow or task run (never imports Prefect: the CLI's cold start stays cheap)."""
    if "prefect" not in sys.modules:
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


@contextmanager
def _model_slot(kind: str, model: str) -> Iterator[None]:
    """The one ``<kind>-<model>`` slot under Prefect; nothing to hold in a plain process."""
    if not _in_prefect_run():
        yield
        return
    from tasks.runtime import model_slot

    with model_slot(kind, model):
        yield


def publish_artifacts(model: str, markdown: str, rows: list[dict[str, Any]]) -> None:
    """The per-model report and metrics table as Prefect artifacts (only inside a Prefect run)."""
    if not _in_prefect_run():
        return
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from tasks.evaluation.report import artifact_key, human_rows

    key = artifact_key("evaluation", model)
    create_markdown_artifact(key=key, markdown=markdown, description=f"Candidate evaluation of {model}")
    create_table_artifact(key=f"{key}-metrics", table=human_rows(rows), description=f"Per-metric comparison, {model}")


def run_evaluation(params: EvaluateCandidateParams, *, source: str = "cli") -> dict[str, Any]:
    """The whole evaluation in this process (no Prefect server): the CLI's path. Returns the result with its
    report, run id and per-case results."""
    suite = resolve_suite(params)
    with _model_slot("evaluate", parse_ref(params.candidate)[0]):  # one evaluation of a model at a time
        loaded = load_suite(suite)
        candidate, baseline = resolve_versions(params)
        ids = case_batches(loaded, params.batch_size)
        targets = [candidate, *([baseline] if baseline else [])]
        cache_uri = get_settings().cache
        results = {t.ref: [r for b in ids for r in run_batch(suite, t, b, params.concurrency, params.use_cache,
                                                             params.registry, cache_uri, loaded)] for t in targets}
        result, markdown, rows = decide(loaded, candidate, baseline, results, uuid.uuid4().hex)
        publish_artifacts(candidate.name, markdown, rows)
        record_result(params, suite, candidate, result, source=source)
    return result


def build_result(suite: str, digest: str, candidate: Target, baseline: Target | None, cand: Any,
                 rec: Any) -> dict[str, Any]:
    """The evaluation's result (the flow's return value and the CLI's JSON)."""
    scores = {m.metric: m.value for m in cand.metrics.values() if m.value is not None}
    gates = {c.metric: {"gate": c.gate, "passed": c.gate_passed, "value": c.candidate}
             for c in rec.metrics if c.gate is not None}
    return {"decision": rec.decision, "summary": rec.summary, "reasons": rec.reasons, "cases_needed": rec.cases_needed,
            "candidate": candidate.ref, "baseline": baseline.ref if baseline else None, "suite": suite,
            "suite_digest": digest, "scores": scores, "gates": gates, "metrics": metric_rows(rec)}
