"""Migrate deprecated models: register the replacement -> evaluate it against production -> record in the plan.

Triggered by ``modelctl.deprecation.critical`` / ``.detected`` (the model is the event's resource name);
a manual run with no model acts on every model with an actionable plan.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field, field_validator

from flows.evaluate_candidate import EvaluateCandidateParams, evaluate_candidate
from registry.service import open_registry
from tasks.deprecations.migrate import actionable_plans, register_replacement, set_eval_status
from tasks.runtime import announce, run_parameters


class MigrateDeprecatedParams(BaseModel):
    """Which deprecated models to migrate (rendered as a form in the Prefect UI)."""

    models: list[str] = Field(default_factory=list, description="Registered model names; empty: every model "
                                                                "with a plan whose replacement is known")
    suite: str | None = Field(default=None, description="Suite path or URI; empty: each model's recorded suite")
    retry_failed: bool = Field(default=False, description="Also retry plans whose last evaluation failed")
    registry: str | None = Field(default=None, description="Registry URI; empty: the worker's MODELCTL_REGISTRY")

    @field_validator("models", mode="before")
    @classmethod
    def _drop_empty(cls, value: Any) -> Any:
        return [m for m in value if isinstance(m, str) and m.strip()] if isinstance(value, list) else value


def run_name() -> str:
    """``migrate-deprecated summarizer`` in the Prefect UI."""
    return "migrate-deprecated " + (", ".join(run_parameters().get("models") or []) or "all")


@task(cache_policy=NO_CACHE)
def plans_to_act_on(params: MigrateDeprecatedParams) -> list[tuple[str, str]]:
    """(model, deprecated model id) pairs with an actionable plan."""
    reg = open_registry(params.registry)
    records = [reg.get_model(m) for m in params.models] if params.models else reg.list_models()
    return [(r.name, p.model_id) for r in records for p in actionable_plans(r, params.retry_failed)]


@task(cache_policy=NO_CACHE)
def register_candidate(params: MigrateDeprecatedParams, model: str, model_id: str) -> tuple[str, str | None]:
    """Register the replacement (strictly pinned) and mark the plan running; (candidate, suite)."""
    reg = open_registry(params.registry)
    record = reg.get_model(model)
    plan = next(p for p in record.deprecation_plans if p.model_id == model_id)
    version, _ = register_replacement(reg, model, plan)
    set_eval_status(reg, model, plan, "running", f"evaluating {model}@{version.number}")
    return f"{model}@{version.number}", params.suite or record.recorded_suite()


@task(cache_policy=NO_CACHE)
def record_outcome(params: MigrateDeprecatedParams, model: str, model_id: str, candidate: str,
                   decision: str | None, error: str | None) -> str:
    """The plan's eval_status: passed on a promote decision, failed otherwise."""
    reg = open_registry(params.registry)
    plan = next(p for p in reg.get_model(model).deprecation_plans if p.model_id == model_id)
    status = "passed" if decision == "promote" else "failed"
    set_eval_status(reg, model, plan, status, f"{candidate}: {decision or error}")
    return status


@flow(name="migrate-deprecated", flow_run_name=run_name, log_prints=True)
def migrate_deprecated(params: MigrateDeprecatedParams) -> dict[str, Any]:
    """For each actionable plan: replacement candidate, evaluation against production, eval_status."""
    announce(params.registry)
    out: dict[str, Any] = {}
    for model, model_id in plans_to_act_on(params):
        candidate, suite = register_candidate(params, model, model_id)
        state = evaluate_candidate(EvaluateCandidateParams(candidate=candidate, suite=suite,
                                                           registry=params.registry), return_state=True)
        result = state.result(raise_on_failure=False) if state.is_completed() else None
        decision = result.get("decision") if isinstance(result, dict) else None
        status = record_outcome(params, model, model_id, candidate, decision, None if decision else str(state.message))
        out[model] = {"deprecated": model_id, "candidate": candidate, "decision": decision, "eval_status": status}
    lines = ["# Deprecation migrations", "", "| model | deprecated | candidate | decision | eval_status |",
             "|---|---|---|---|---|", *[f"| {m} | {r['deprecated']} | {r['candidate']} | {r['decision']} | "
                                       f"{r['eval_status']} |" for m, r in out.items()]]
    create_markdown_artifact(key="deprecation-migration", markdown="\n".join(lines) + "\n",
                             description="Replacement candidates of deprecated models")
    return out
