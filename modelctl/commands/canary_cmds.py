"""``modelctl canary start|status|advance|abort``: progressive rollouts with automatic abort."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.commands.experiment_cmds import parse_guardrails, version_number
from modelctl.context import open_registry, print_json
from registry.errors import InvalidInput

app = typer.Typer(no_args_is_help=True, help="Canary rollouts (an experiment whose split rises step by step).")


def _canary(name: str):  # type: ignore[no-untyped-def]
    reg = open_registry()
    record = reg.get_model(name)
    exp = record.running_experiment()
    if exp is None or exp.kind != "canary":
        raise InvalidInput(f"{name} has no running canary", field="name")
    return reg, exp


NAME = Annotated[str, typer.Argument(help="The model whose production traffic the canary splits.")]
REASON = Annotated[str | None, typer.Option("--reason", help="Why (recorded in history).")]
JSON = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _done(data: dict, text: str, json_out: bool) -> None:  # type: ignore[type-arg]
    print_json(data) if json_out else print(text)


@app.command("start")
def start(
    name: NAME,
    candidate: Annotated[str, typer.Option("--candidate", help="NAME@VERSION")],
    steps: Annotated[str, typer.Option("--steps", help="Percentages, e.g. 1,10,50,100")] = "1,10,50,100",
    step_min_samples: Annotated[int | None, typer.Option("--step-min-samples", help="Users per arm per step")] = None,
    guardrail: Annotated[list[str] | None, typer.Option(
        "--guardrail", help="METRIC:MAX_REGRESSION (default error_rate:0 and latency_ms:0.10)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start without a passing evaluation (needs --reason).")] = False,
    reason: REASON = None,
    json_out: JSON = False,
) -> None:
    """Start a canary of CANDIDATE against production."""
    try:
        values = [float(s) for s in steps.split(",") if s.strip()]
    except ValueError as exc:
        raise InvalidInput(f"--steps {steps!r}: comma-separated percentages", field="steps") from exc
    reg = open_registry()
    guardrails = parse_guardrails(guardrail) or {"error_rate": 0.0, "latency_ms": 0.10}
    exp = reg.start_experiment(name, control=version_number(reg, f"{name}@production", name),
                               treatment=version_number(reg, candidate, name), split=values[0] / 100, kind="canary",
                               steps=values, step_min_samples=step_min_samples, guardrails=guardrails,
                               primary_metric="error_rate", force=force, reason=reason)
    _done(exp.model_dump(mode="json"), f"started canary {exp.id}: {candidate} at {exp.split:.0%} (steps {steps})",
          json_out)


@app.command("status")
def status(name: NAME, json_out: JSON = False) -> None:
    """The running canary: step, split, last analysis."""
    _, exp = _canary(name)
    data = {"id": exp.id, "step_index": exp.step_index, "steps": exp.steps, "split": exp.split,
            "guardrails": exp.guardrails, "last": exp.analyses[-1].model_dump(mode="json") if exp.analyses else None}
    _done(data, f"{exp.id}: step {exp.step_index + 1}/{len(exp.steps or [])} at {exp.split:.0%}; last decision "
                f"{exp.analyses[-1].decision if exp.analyses else 'none'}", json_out)


@app.command("advance")
def advance(name: NAME, reason: REASON = None, json_out: JSON = False) -> None:
    """Raise the canary to its next step by hand; the last step (100%) promotes the candidate and completes it."""
    reg, exp = _canary(name)
    steps = exp.steps or []
    nxt = exp.step_index + 1
    if nxt >= len(steps) or steps[nxt] >= 100:
        reg.promote(name, exp.treatment, "production", reason=reason or f"canary {exp.id} completed by hand")
        _done({"id": exp.id, "status": "shipped", "production": exp.treatment},
              f"{exp.id}: {name}@{exp.treatment} promoted to production; canary completed", json_out)
        return
    new = reg.update_experiment(name, exp.id, split=steps[nxt] / 100, step_index=nxt, reason=reason or "manual advance")
    _done(new.model_dump(mode="json"), f"{exp.id}: {steps[nxt]:g}%", json_out)


@app.command("abort")
def abort(name: NAME, reason: REASON = None, json_out: JSON = False) -> None:
    """Send all traffic back to production at once."""
    reg, exp = _canary(name)
    new = reg.update_experiment(name, exp.id, split=0.0, status="rolled_back", reason=reason or "manual abort")
    _done(new.model_dump(mode="json"), f"{exp.id} aborted: 0%", json_out)
