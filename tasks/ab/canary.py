"""Canary steps: raise the treatment's traffic only when the analysis at a step passes its guardrails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from registry.entities import Experiment
from tasks.ab.analysis import Analysis


@dataclass(frozen=True)
class CanaryAction:
    """What to do with a canary after an analysis."""

    action: Literal["advance", "hold", "abort", "complete"]
    split: float
    step_index: int
    reason: str


def next_action(exp: Experiment, analysis: Analysis) -> CanaryAction:
    """advance to the next step, hold, abort to 0% at once (a breached guardrail), or complete at 100%."""
    steps = exp.steps or [exp.split * 100]
    i = exp.step_index
    if analysis.decision == "rollback":
        return CanaryAction("abort", 0.0, i, "; ".join(r for r in analysis.reasons if "worse" in r) or "rollback")
    if analysis.decision == "invalid":
        return CanaryAction("hold", exp.split, i, "analysis invalid: " + analysis.reasons[-1])
    needed = exp.step_min_samples or 0
    have = min(analysis.users.values()) if analysis.users else 0
    if have < needed:
        return CanaryAction("hold", exp.split, i, f"step {steps[i]:g}%: {have} of {needed} users per arm so far")
    if i + 1 < len(steps):
        return CanaryAction("advance", steps[i + 1] / 100, i + 1,
                            f"step {steps[i]:g}% passed its guardrails with {have} users per arm; "
                            f"raising to {steps[i + 1]:g}%")
    return CanaryAction("complete", exp.split, i, f"final step {steps[i]:g}% passed its guardrails")
