"""A/B analysis: load -> analyse (a decision) -> report -> apply (one atomic registry write).

Without an experiment id it analyses every running experiment and canary (the scheduled run that
advances canaries step by step), each in its own task: one failure is reported and does not stop the
others; the run then ends Failed, naming them.
"""

from __future__ import annotations

import base64
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from registry.errors import RegistryError
from registry.service import open_registry
from tasks.ab import Analysis, apply_decision, run_analysis
from tasks.ab.report import metric_rows, render_ab_markdown, render_effects_png
from tasks.evaluation.report import artifact_key
from tasks.runtime import announce, run_parameters


class AbAnalysisParams(BaseModel):
    """What to analyse (rendered as a form in the Prefect UI)."""

    experiment_id: str | None = Field(default=None, description="Empty: every running experiment and canary")
    logs: str | None = Field(default=None, description="Request log URI or a CSV/Parquet/JSONL table (path or s3://)")
    planned_split: float | None = Field(default=None, description="Treatment share, for a table with no registry "
                                                                   "experiment")
    primary: str | None = Field(default=None, description="Primary metric (default: the experiment's)")
    guardrails: dict[str, float] | None = Field(default=None, description="METRIC: allowed relative regression")
    min_effect: float | None = Field(default=None, description="Minimum practical relative effect to ship")
    estimators: dict[str, str] | None = Field(default=None, description="METRIC: mean | log | capped")
    cuped: bool = Field(default=True, description="Adjust with each user's pre-experiment values (CUPED)")
    sequential: bool = Field(default=True, description="Always-valid p-values (safe to look every hour)")
    apply: bool = Field(default=False, description="Act on the decision: ship, roll back, advance or abort "
                                                   "(the hourly schedule turns this on)")
    registry: str | None = Field(default=None, description="Registry URI (default: MODELCTL_REGISTRY)")
    stats: str | None = Field(default=None, description="Per-user sufficient statistics (the README's query run in "
                                                        "a warehouse), instead of the request log")


class ExperimentFailed(RegistryError):
    """One or more experiments could not be analysed or applied."""

    exit_code = 5


class CanaryAborted(Exception):
    """A canary was aborted (its traffic went back to control): the run is Failed, so it shows red."""


@task(cache_policy=NO_CACHE)
def running_experiments(registry: str | None) -> list[str]:
    return [e.id for r in open_registry(registry).list_models() for e in r.experiments if e.status == "running"]


def _key(experiment_id: str) -> str:
    return artifact_key("ab", experiment_id)


def publish(experiment_id: str, analysis: Analysis) -> None:
    chart = base64.b64encode(render_effects_png(analysis)).decode()
    markdown = render_ab_markdown(experiment_id, analysis) + f"\n![effects](data:image/png;base64,{chart})\n"
    create_markdown_artifact(key=_key(experiment_id), markdown=markdown, description=f"A/B analysis of {experiment_id}")
    create_table_artifact(key=f"{_key(experiment_id)}-metrics", table=metric_rows(analysis),
                          description="Per-metric results")


@task(cache_policy=NO_CACHE, task_run_name="analyse {experiment_id}")
def analyse_experiment(params: AbAnalysisParams, experiment_id: str) -> dict[str, Any]:
    """Analyse, publish and apply one experiment."""
    from prefect.runtime import flow_run

    registry = open_registry(params.registry)
    analysis = run_analysis(registry, experiment_id, logs=params.logs, planned_split=params.planned_split,
                            primary=params.primary, guardrails=params.guardrails, min_effect=params.min_effect,
                            sequential=params.sequential, estimators=params.estimators, cuped=params.cuped,
                            stats=params.stats)
    publish(experiment_id, analysis)
    applied = apply_decision(registry, experiment_id, analysis, apply=params.apply,
                             flow_run_id=str(flow_run.id or ""))
    return {**analysis.to_dict(), "action": applied.action, "actions": applied.done}


def run_name() -> str:
    """``ab-analysis summarizer-exp-1 (apply)`` in the Prefect UI."""
    params = run_parameters()
    return f"ab-analysis {params.get('experiment_id') or 'all'}" + (" (apply)" if params.get("apply") else " (look)")


@flow(name="ab-analysis", flow_run_name=run_name, log_prints=True)
def ab_analysis(params: AbAnalysisParams) -> dict[str, Any]:
    """Analyse one experiment (or every running one) and record, and optionally apply, each decision."""
    announce(params.registry)
    ids = [params.experiment_id] if params.experiment_id else running_experiments(params.registry)
    futures = {experiment_id: analyse_experiment.submit(params, experiment_id) for experiment_id in ids}
    out: dict[str, Any] = {}
    failed: list[str] = []
    for experiment_id, future in futures.items():
        try:
            out[experiment_id] = future.result()
        except Exception as exc:  # reported; the other experiments are still analysed
            out[experiment_id] = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(f"{experiment_id}: {exc}")
    logger = get_run_logger()
    for experiment_id, result in out.items():
        logger.info("%s: %s %s", experiment_id, result.get("decision", "failed"),
                    result.get("actions") or result.get("error"))
    if failed:
        raise ExperimentFailed(f"{len(failed)} of {len(ids)} experiments failed: " + "; ".join(failed))
    aborted = [e for e, r in out.items() if r.get("action") == "abort"]
    if aborted:
        raise CanaryAborted(f"canary aborted, traffic back to control: {', '.join(aborted)}")
    return out
