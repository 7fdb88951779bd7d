"""A/B experiments and canaries: input reduction, analysis, decisions, reports, canary steps.

``run_analysis`` decides (a value); ``apply_decision`` hands that decision to one registry intent method,
which re-checks the gates and applies everything in one atomic write, or nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from registry.entities import AnalysisRecord, Experiment, utcnow
from registry.errors import InvalidInput, RegistryError
from registry.service import Registry
from registry.settings import get_settings
from tasks.ab.analysis import Analysis, analyze
from tasks.ab.data import Window, is_table, load_arms, open_arms

__all__ = ["Analysis", "Applied", "analyze", "apply_decision", "load_arms", "open_arms", "planned_action",
           "run_analysis"]
PRE_PERIOD = timedelta(days=14)


def _window(exp: Experiment | None, model: str | None) -> Window:
    if exp is None:
        return Window()
    canary = exp.kind == "canary"
    since = (exp.step_started_at or exp.started_at) if canary else None  # a canary step is its own window
    return Window(since=since, pre_start=exp.started_at - PRE_PERIOD, pre_end=exp.started_at, model=model,
                  attribute_first_exposure=canary)


def _prior(exp: Experiment | None) -> dict[str, Any] | None:
    """The last sequential look of the same step (a new canary step starts a new sequence)."""
    if exp is None or not exp.analyses:
        return None
    last = exp.analyses[-1].figures.get("sequential") or {}
    if last.get("step") != exp.step_index:
        return None
    return dict(last.get("metrics") or {})


def run_analysis(registry: Registry | None, experiment_id: str, *, logs: str | None = None,
                 planned_split: float | None = None, primary: str | None = None,
                 guardrails: dict[str, float] | None = None, min_effect: float | None = None,
                 sequential: bool = False, estimators: dict[str, str] | None = None, cuped: bool = True,
                 cap_quantile: float = 0.99, stats: str | None = None) -> Analysis:
    """Analyse an experiment from its request log (or any table via ``logs``); flags override stored settings.

    ``stats`` is a file of per-user sufficient statistics (the documented query's output, run in a
    warehouse) used instead of reading any log.
    """
    exp, model = None, None
    if registry is not None:
        try:
            model, exp = registry.find_experiment(experiment_id)
        except RegistryError:
            if logs is None:  # with a table, no registry experiment is needed
                raise
    if exp is None and ((logs is None and stats is None) or planned_split is None):
        raise InvalidInput("without a registry experiment, give --logs TABLE (or --stats FILE) and --planned-split",
                           field="logs")
    if exp is not None and exp.kind == "canary" and exp.split >= 1 and planned_split is None:
        return Analysis("continue", [f"canary {exp.id} is at 100%: no control is left to compare with; it completes "
                                     "by promoting the treatment through the normal gates"],
                        {"p_value": 1.0, "ok": True, "assessed": False}, [])
    opened: AbstractContextManager[dict[str, Any]]
    if stats is not None:
        from tasks.ab.stats_file import arms_from_user_stats, read_stats

        opened = nullcontext(arms_from_user_stats(
            read_stats(stats), stats, attribute_first_exposure=_window(exp, model).attribute_first_exposure))
    else:  # the DuckDB engine's per-user table lives while the analysis asks it for sums
        opened = open_arms(logs or get_settings().log, experiment_id, window=_window(exp, model),
                           require_experiment=logs is not None and is_table(logs))
    split = planned_split if planned_split is not None else exp.split  # type: ignore[union-attr]
    with opened as arms:
        return analyze(arms, planned_split=split,
                       primary=primary or (exp.primary_metric if exp else "quality_score"),
                       guardrails=guardrails if guardrails is not None else (dict(exp.guardrails) if exp else {}),
                       min_effect=min_effect if min_effect is not None else (exp.min_effect if exp else 0.01),
                       min_samples=exp.min_samples if exp else None, sequential=sequential,
                       prior_sequential=_prior(exp) if sequential else None, estimators=estimators, cuped=cuped,
                       cap_quantile=cap_quantile)


@dataclass(frozen=True)
class Applied:
    """What an analysis led to: the action taken (or ``record``) and what was done."""

    action: str
    done: list[str]


def planned_action(exp: Experiment, analysis: Analysis, apply: bool) -> tuple[str, dict[str, Any], str]:
    """The registry action an analysis implies: (action, its arguments, reason)."""
    from tasks.ab.canary import next_action

    if not apply or exp.status != "running":
        return "record", {}, f"analysis: {analysis.decision}"
    if exp.kind == "canary" and exp.split >= 1:
        return "complete", {}, f"canary {exp.id} at 100%: promoting the treatment and completing the canary"
    if exp.kind == "canary":
        step = next_action(exp, analysis)
        action = {"hold": "record", "abort": "abort", "advance": "advance", "complete": "complete"}[step.action]
        args = {"split": step.split, "step_index": step.step_index} if step.action == "advance" else {}
        return action, args, f"canary {exp.id}: {step.reason}"
    if analysis.decision == "ship":
        return "ship", {}, f"experiment {exp.id} shipped: " + analysis.reasons[-1]
    if analysis.decision == "rollback":
        return "rollback", {}, f"experiment {exp.id} rolled back: " + "; ".join(
            r for r in analysis.reasons if "worse" in r)
    return "record", {}, f"analysis: {analysis.decision}"


def _figures(exp: Experiment, analysis: Analysis) -> dict[str, Any]:
    figures: dict[str, Any] = {"srm": analysis.srm, "users": analysis.users, "power": analysis.power,
                               "guardrails": analysis.guardrails, "data": analysis.data,
                               "metrics": {m.metric: {"rel_diff": m.rel_diff, "rel_ci": m.rel_ci,
                                                      "p_value_adjusted": m.p_value_adjusted,
                                                      "estimator": m.estimator} for m in analysis.metrics}}
    if analysis.mode == "sequential":
        figures["sequential"] = {"step": exp.step_index, "metrics": {
            m.metric: {"p": m.p_value, "ci": [m.scale["ci_low"], m.scale["ci_high"]]}
            for m in analysis.metrics if m.p_value is not None and m.scale is not None}}
    return figures


def apply_decision(registry: Registry, experiment_id: str, analysis: Analysis, *, apply: bool,
                   flow_run_id: str | None = None) -> Applied:
    """Record the analysis and, with ``apply``, act on it: one atomic registry write, or nothing.

    Raises:
        PolicyViolation: the registry refused the application (a gate, a stale step); nothing was written.
    """
    model, exp = registry.find_experiment(experiment_id)
    action, args, reason = planned_action(exp, analysis, apply)
    record = AnalysisRecord(time=utcnow(), decision=analysis.decision, reasons=analysis.reasons,
                            figures=_figures(exp, analysis), flow_run_id=flow_run_id)
    registry.apply_experiment_decision(model, experiment_id, analysis=record, action=action, reason=reason,
                                       expected_step=exp.step_index, **args)
    done = [f"recorded {analysis.decision} on {experiment_id}"]
    if action == "ship" or action == "complete":
        done.append(f"promoted {model}@{exp.treatment} to production and completed {experiment_id}")
    elif action in ("rollback", "abort"):
        done.append(f"stopped {experiment_id}: traffic back to {model}@{exp.control}")
    elif action == "advance":
        done.append(f"advanced {experiment_id} to {args['split']:.0%}")
    if exp.kind == "canary" and apply and exp.status == "running":
        done.append(reason)
    return Applied(action, done)
