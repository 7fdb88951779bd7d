"""A/B experiments and canaries: input reduction, analysis, decisions, reports, canary steps."""

from __future__ import annotations

from typing import Any

from registry.entities import AnalysisRecord, utcnow
from registry.errors import InvalidInput, RegistryError
from registry.service import Registry
from registry.settings import get_settings
from tasks.ab.analysis import Analysis, analyze
from tasks.ab.data import load_arms

__all__ = ["Analysis", "analyze", "load_arms", "record_and_apply", "run_analysis"]


def run_analysis(registry: Registry | None, experiment_id: str, *, logs: str | None = None,
                 planned_split: float | None = None, primary: str | None = None,
                 guardrails: dict[str, float] | None = None, min_effect: float | None = None,
                 sequential: bool = False) -> Analysis:
    """Analyse an experiment from its request log (or any table via ``logs``); flags override stored settings."""
    exp = None
    if registry is not None:
        try:
            _, exp = registry.find_experiment(experiment_id)
        except RegistryError:
            if logs is None:  # with a table, no registry experiment is needed
                raise
    if exp is None and (logs is None or planned_split is None):
        raise InvalidInput("without a registry experiment, give --logs TABLE and --planned-split", field="logs")
    source = logs or get_settings().log
    prior = None
    if sequential and exp is not None and exp.analyses:
        last = exp.analyses[-1].figures.get("sequential_p") or {}
        prior = {k: float(v) for k, v in last.items()}
    return analyze(load_arms(source, experiment_id),
                   planned_split=planned_split if planned_split is not None else exp.split,  # type: ignore[union-attr]
                   primary=primary or (exp.primary_metric if exp else "quality_score"),
                   guardrails=guardrails if guardrails is not None else (dict(exp.guardrails) if exp else {}),
                   min_effect=min_effect if min_effect is not None else (exp.min_effect if exp else 0.01),
                   min_samples=exp.min_samples if exp else None, sequential=sequential, prior_sequential=prior)


def record_and_apply(registry: Registry, experiment_id: str, analysis: Analysis, *, apply: bool,
                     flow_run_id: str | None = None) -> list[str]:
    """Record the analysis on the experiment; with ``apply``, act on it. Returns what was done."""
    from tasks.ab.canary import next_action

    model, exp = registry.find_experiment(experiment_id)
    figures: dict[str, Any] = {"srm": analysis.srm, "users": analysis.users, "power": analysis.power,
                               "metrics": {m.metric: {"rel_diff": m.rel_diff, "p_value_adjusted": m.p_value_adjusted}
                                           for m in analysis.metrics}}
    if analysis.mode == "sequential":
        figures["sequential_p"] = {m.metric: m.p_value for m in analysis.metrics if m.p_value is not None}
    record = AnalysisRecord(time=utcnow(), decision=analysis.decision, reasons=analysis.reasons, figures=figures,
                            flow_run_id=flow_run_id)
    registry.update_experiment(model, experiment_id, analysis=record, reason=f"analysis: {analysis.decision}")
    done = [f"recorded {analysis.decision} on {experiment_id}"]
    if not apply or exp.status != "running":
        return done
    if exp.kind == "canary":
        action = next_action(exp, analysis)
        if action.action == "abort":
            registry.update_experiment(model, experiment_id, split=0.0, status="rolled_back", reason=action.reason)
        elif action.action == "advance":
            registry.update_experiment(model, experiment_id, split=action.split, step_index=action.step_index,
                                       reason=action.reason)
        elif action.action == "complete":
            registry.promote(model, exp.treatment, "production", reason=f"canary {experiment_id}: {action.reason}")
            registry.stop_experiment(model, experiment_id, status="shipped", reason=action.reason)
        return [*done, f"canary {action.action}: {action.reason}"]
    if analysis.decision == "ship":
        registry.promote(model, exp.treatment, "production", reason=f"experiment {experiment_id} shipped")
        registry.stop_experiment(model, experiment_id, status="shipped", reason="ship decision")
        done.append(f"promoted {model}@{exp.treatment} to production and stopped {experiment_id}")
    elif analysis.decision == "rollback":
        registry.stop_experiment(model, experiment_id, status="rolled_back", reason="rollback decision")
        done.append(f"stopped {experiment_id}: traffic back to {model}@{exp.control}")
    return done
