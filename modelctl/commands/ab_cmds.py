"""``modelctl ab analyze``: the A/B analysis from a terminal (the same functions the flow runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelctl.commands.experiment_cmds import parse_guardrails
from modelctl.context import STATE, print_json
from registry.errors import RegistryNotFound
from registry.numbers import finite

app = typer.Typer(no_args_is_help=True, help="A/B analysis with statistical significance.")
EXIT = {"ship": 0, "rollback": 1, "continue": 3, "invalid": 4}


@app.command("analyze")
def analyze(
    experiment_id: str,
    logs: Annotated[str | None, typer.Option("--logs", help="Request log URI or a CSV/Parquet/JSONL table")] = None,
    planned_split: Annotated[float | None, typer.Option("--planned-split")] = None,
    primary: Annotated[str | None, typer.Option("--primary")] = None,
    guardrail: Annotated[list[str] | None, typer.Option("--guardrail", help="METRIC:MAX_REGRESSION")] = None,
    min_effect: Annotated[float | None, typer.Option("--min-effect")] = None,
    sequential: Annotated[bool, typer.Option("--sequential", help="Always-valid p-values (mSPRT)")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="ship promotes the treatment; rollback stops the test")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="Write the effects chart (PNG) here")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Analyse an experiment; exit 0 ship, 1 rollback, 3 continue, 4 invalid, 2 bad input."""
    from registry.service import open_registry
    from tasks.ab import record_and_apply, run_analysis
    from tasks.ab.report import render_ab_markdown, render_effects_png

    finite(min_effect, "--min-effect")
    finite(planned_split, "--planned-split")
    reg = open_registry(STATE.registry_uri)
    try:
        has_registry = reg.store.exists()
    except RegistryNotFound:
        has_registry = False
    analysis = run_analysis(reg if has_registry else None, experiment_id, logs=logs, planned_split=planned_split,
                            primary=primary, guardrails=parse_guardrails(guardrail) if guardrail else None,
                            min_effect=min_effect, sequential=sequential)
    actions: list[str] = []
    if has_registry:
        try:
            reg.find_experiment(experiment_id)
            actions = record_and_apply(reg, experiment_id, analysis, apply=apply)
        except RegistryNotFound:
            pass
        except Exception as exc:  # a table analysed without a registry experiment
            if logs is None:
                raise
            actions = [f"not recorded: {exc}"]
    if chart is not None:
        chart.write_bytes(render_effects_png(analysis))
    if json_out:
        print_json({**analysis.to_dict(), "actions": actions})
    else:
        print(render_ab_markdown(experiment_id, analysis))
        for action in actions:
            print(f"* {action}")
    raise typer.Exit(EXIT[analysis.decision])
