"""Canary steps: raise the treatment's traffic only when the analysis of the current step passes.

Each step is analysed on its own window (requests since the step began) against that step's split. The
last step is never "100% treatment with no control to compare": passing the step before it promotes the
treatment through the normal production gates and completes the canary.
"""

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
    """advance to the next step, hold, abort to 0% at once (a breached guardrail), or complete by promotion."""
    steps = exp.steps or [exp.split * 100]
    i = min(exp.step_index, len(steps) - 1)
    if analysis.decision == "rollback":
        worse = [r for r in analysis.reasons if "worse" in r]
        return CanaryAction("abort", 0.0, i, "; ".join(worse) or "rollback")
    if analysis.decision == "invalid":
        return CanaryAction("hold", exp.split, i, "analysis invalid: " + analysis.reasons[-1])
    have = min(analysis.users.values()) if analysis.users else 0
    needed = max(exp.step_min_samples or 0, 2)
    if have < needed:
        return CanaryAction("hold", exp.split, i, f"step {steps[i]:g}%: {have} of {needed} users per arm so far")
    unsure = [name for name, g in analysis.guardrails.items() if g.get("status") != "holds"]
    if unsure:
        return CanaryAction("hold", exp.split, i, f"step {steps[i]:g}%: not enough evidence that "
                                                  f"{', '.join(unsure)} holds; collecting more traffic")
    passed = f"step {steps[i]:g}% passed its guardrails with {have} users per arm"
    if i + 1 < len(steps) and steps[i + 1] < 100:
        return CanaryAction("advance", steps[i + 1] / 100, i + 1, f"{passed}; raising to {steps[i + 1]:g}%")
    return CanaryAction("complete", 1.0, i, f"{passed}; promoting the treatment (100%) and completing the canary")
