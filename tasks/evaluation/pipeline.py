"""The candidate evaluation as a plain pipeline: resolve -> run both versions -> compare -> report -> record.

The ``evaluate-candidate`` flow wires these stages as Prefect tasks (one per batch of cases); the CLI
calls ``run_evaluation`` directly, in-process, so one evaluation needs no Prefect server. Both decide
with the same functions, so they can never decide differently.
"""

from __future__ import annotations

from typing import Any

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
from tasks.evaluation.report import metric_rows, render_eval_markdown
from tasks.evaluation.runner import CaseResult, batches
from tasks.evaluation.scorers import ScoringContext
from tasks.evaluation.suite import LoadedSuite


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
              registry: str | None, loaded: LoadedSuite | None = None) -> list[CaseResult]:
    """Run one batch of cases against one version."""
    loaded = loaded or load_suite(suite_path)
    wanted = set(case_ids)
    cache_uri = get_settings().cache
    cache = ResponseCache(cache_uri) if use_cache else None
    ctx = ScoringContext(registry_uri=registry, cache=ResponseCache(cache_uri, namespace="judge"))
    return run_cases(target, [c for c in loaded.cases if c.id in wanted], loaded.suite.scorers,
                     repeats=loaded.suite.repeats, concurrency=concurrency, cache=cache, ctx=ctx, progress=False)


def decide(loaded: LoadedSuite, candidate: Target, baseline: Target | None,
           results: dict[str, list[CaseResult]]) -> tuple[dict[str, Any], str, list[dict[str, Any]]]:
    """Compare and recommend: (the result, its markdown report, the per-metric rows)."""
    expected = {c.id: c.expected for c in loaded.cases}
    cand = summarize(candidate.ref, candidate.digest, results[candidate.ref], loaded.suite, expected)
    base = summarize(baseline.ref, baseline.digest, results[baseline.ref], loaded.suite, expected) if baseline else None
    rec = recommend(cand, base, loaded.suite)
    markdown = render_eval_markdown(loaded.suite.name, loaded.digest, cand, base, rec)
    return build_result(loaded.suite.name, loaded.digest, candidate, baseline, cand, rec), markdown, metric_rows(rec)


def record_result(params: EvaluateCandidateParams, candidate: Target, result: dict[str, Any], *,
                  source: str = "flow", flow_run_id: str | None = None) -> None:
    """Record the decision on the candidate's digest (and point staging at a promoted candidate)."""
    reg = open_registry(params.registry)
    reg.record_eval(candidate.name, candidate.version, suite=result["suite"], passed=result["decision"] == "promote",
                    scores=result["scores"], suite_digest=result["suite_digest"], decision=result["decision"],
                    gates=result["gates"], baseline=result["baseline"], flow_run_id=flow_run_id,
                    source=source, reason=(result["summary"] or "; ".join(result["reasons"]))[:500])
    if params.promote_to_staging and result["decision"] == "promote":
        reg.promote(candidate.name, candidate.version, "staging", reason=f"passed suite {result['suite']}")


def run_evaluation(params: EvaluateCandidateParams, *, source: str = "cli") -> dict[str, Any]:
    """The whole evaluation in this process (no Prefect): the CLI's path. Returns the result with its report."""
    loaded = load_suite(params.suite)
    candidate, baseline = resolve_versions(params)
    ids = case_batches(loaded, params.batch_size)
    targets = [candidate, *([baseline] if baseline else [])]
    results = {t.ref: [r for b in ids for r in run_batch(params.suite, t, b, params.concurrency, params.use_cache,
                                                         params.registry, loaded)] for t in targets}
    result, markdown, _ = decide(loaded, candidate, baseline, results)
    record_result(params, candidate, result, source=source)
    return {**result, "report": markdown}


def build_result(suite: str, digest: str, candidate: Target, baseline: Target | None, cand: Any,
                 rec: Any) -> dict[str, Any]:
    """The evaluation's result (the flow's return value and the CLI's JSON)."""
    scores = {m.metric: m.value for m in cand.metrics.values() if m.value is not None}
    gates = {c.metric: {"gate": c.gate, "passed": c.gate_passed, "value": c.candidate}
             for c in rec.metrics if c.gate is not None}
    return {"decision": rec.decision, "summary": rec.summary, "reasons": rec.reasons, "cases_needed": rec.cases_needed,
            "candidate": candidate.ref, "baseline": baseline.ref if baseline else None, "suite": suite,
            "suite_digest": digest, "scores": scores, "gates": gates, "metrics": metric_rows(rec)}
