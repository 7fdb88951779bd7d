"""A/B analysis: load -> analyse -> report -> record (-> apply: ship, rollback, canary advance/abort).

Without an experiment id it analyses every running experiment and canary (the scheduled run that
advances canaries step by step).
"""

from __future__ import annotations

import base64
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from registry.service import open_registry
from tasks.ab import Analysis, record_and_apply, run_analysis
from tasks.ab.report import metric_rows, render_ab_markdown, render_effects_png
from tasks.evaluation.report import human_rows
from tasks.runtime import announce, run_parameters


class CanaryAborted(Exception):
    """A canary was aborted (its traffic went back to control): the run is Failed, so it shows red."""


class AbAnalysisParams(BaseModel):
    """What to analyse (rendered as a form in the Prefect UI)."""

    experiment_id: str | None = Field(default=None, description="Empty: every running experiment and canary")
    logs: str | None = Field(default=None, description="Request log URI or a CSV/Parquet/JSONL table")
    planned_split: float | None = Field(default=None, description="Treatment share planned (for the SRM check); "
                                                                  "empty: the experiment's split")
    primary: str | None = Field(default=None, description="Primary metric; empty: the experiment's")
    guardrails: dict[str, float] | None = Field(default=None, description="Guardrail metric -> largest "
                                                                          "acceptable degradation; empty: stored")
    min_effect: float | None = Field(default=None, description="Smallest effect worth shipping; empty: stored")
    sequential: bool = Field(default=True, description="Always-valid (sequential) p-values, safe to look hourly")
    apply: bool = Field(default=False, description="Act on the decision (ship, roll back, advance or abort "
                                                   "canaries); off: only look. The hourly schedule turns it on")
    registry: str | None = Field(default=None, description="Registry URI; empty: the worker's MODELCTL_REGISTRY")


@task(cache_policy=NO_CACHE)
def running_experiments(registry: str | None) -> list[str]:
    return [e.id for r in open_registry(registry).list_models() for e in r.experiments if e.status == "running"]


@task(cache_policy=NO_CACHE)
def analyse(params: AbAnalysisParams, experiment_id: str) -> Analysis:
    return run_analysis(open_registry(params.registry), experiment_id, logs=params.logs,
                        planned_split=params.planned_split, primary=params.primary, guardrails=params.guardrails,
                        min_effect=params.min_effect, sequential=params.sequential)


@task(cache_policy=NO_CACHE)
def publish(experiment_id: str, analysis: Analysis) -> None:
    key = "ab-" + "".join(c if c.isalnum() else "-" for c in experiment_id.lower())
    chart = base64.b64encode(render_effects_png(analysis)).decode()
    markdown = render_ab_markdown(experiment_id, analysis) + f"\n![effects](data:image/png;base64,{chart})\n"
    create_markdown_artifact(key=key, markdown=markdown, description=f"A/B analysis of {experiment_id}")
    create_table_artifact(key=f"{key}-metrics", table=human_rows(metric_rows(analysis)), description="Per-metric results")


@task(cache_policy=NO_CACHE)
def record(params: AbAnalysisParams, experiment_id: str, analysis: Analysis) -> list[str]:
    from prefect.runtime import flow_run

    return record_and_apply(open_registry(params.registry), experiment_id, analysis, apply=params.apply,
                            flow_run_id=str(flow_run.id or ""))


def run_name() -> str:
    """``ab-analysis summarizer-exp-1 (apply)`` in the Prefect UI."""
    params = run_parameters()
    return f"ab-analysis {params.get('experiment_id') or 'all'}" + (" (apply)" if params.get("apply") else " (look)")


@flow(name="ab-analysis", flow_run_name=run_name, log_prints=True)
def ab_analysis(params: AbAnalysisParams) -> dict[str, Any]:
    """Analyse one experiment (or every running one) and record, and optionally apply, the decision."""
    announce(params.registry)
    ids = [params.experiment_id] if params.experiment_id else running_experiments(params.registry)
    out: dict[str, Any] = {}
    for experiment_id in ids:
        analysis = analyse(params, experiment_id)
        publish(experiment_id, analysis)
        actions = record(params, experiment_id, analysis) if params.logs is None or params.registry else []
        out[experiment_id] = {**analysis.to_dict(), "actions": actions}
    aborted = [e for e, r in out.items() if any(a.startswith("canary abort") for a in r["actions"])]
    if aborted:
        raise CanaryAborted(f"canary aborted, traffic back to control: {', '.join(aborted)}")
    return out
