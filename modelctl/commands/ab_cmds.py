"""``modelctl ab analyze``: the A/B analysis from a terminal (the same functions the flow runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelctl.commands.experiment_cmds import parse_guardrails
from modelctl.context import STATE, print_json
from registry.errors import InvalidInput, RegistryNotFound, VersionNotFound
from registry.numbers import finite

app = typer.Typer(no_args_is_help=True, help="A/B analysis with statistical significance.")
EXIT = {"ship": 0, "rollback": 1, "continue": 3, "invalid": 4}


def parse_estimators(items: list[str] | None) -> dict[str, str]:
    """``METRIC=ESTIMATOR`` items."""
    out: dict[str, str] = {}
    for item in items or []:
        metric, sep, name = item.partition("=")
        if not sep or not metric or not name:
            raise InvalidInput(f"expected METRIC=mean|log|capped, got {item!r}", field="estimator")
        out[metric.strip()] = name.strip()
    return out


@app.command("analyze")
def analyze(
    experiment_id: Annotated[str, typer.Argument(help="The experiment (NAME-exp-N), or the id in a --logs table.")],
    logs: Annotated[str | None, typer.Option("--logs", help="Request log URI or a CSV/Parquet/JSONL table "
                                                            "(path or s3://)")] = None,
    stats: Annotated[str | None, typer.Option("--stats", help="Per-user sufficient statistics (CSV/Parquet, path or "
                                                             "s3://): the README's query run in a warehouse")] = None,
    planned_split: Annotated[float | None, typer.Option("--planned-split", help="Treatment share (with --logs)")] = None,
    primary: Annotated[str | None, typer.Option("--primary", help="Primary metric")] = None,
    guardrail: Annotated[list[str] | None, typer.Option("--guardrail", help="METRIC:MAX_REGRESSION")] = None,
    min_effect: Annotated[float | None, typer.Option("--min-effect", help="Minimum relative effect to ship")] = None,
    estimator: Annotated[list[str] | None, typer.Option("--estimator", help="METRIC=mean|log|capped")] = None,
    cuped: Annotated[bool, typer.Option("--cuped/--no-cuped", help="CUPED with pre-experiment values")] = True,
    sequential: Annotated[bool, typer.Option("--sequential", help="Always-valid p-values (mSPRT)")] = False,
    apply: Annotated[bool, typer.Option("--apply", help="ship promotes the treatment; rollback stops the test; "
                                                        "canaries advance or abort")] = False,
    chart: Annotated[Path | None, typer.Option("--chart", help="Write the effects chart (PNG) here")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
    prefect: Annotated[bool, typer.Option("--prefect", help="Run as the ab-analysis flow (default when "
                                                            "PREFECT_API_URL is set)")] = False,
) -> None:
    """Analyse an experiment in-process (``--prefect``: as the flow); exit 0 ship, 1 rollback (or a refused
    --apply), 3 continue, 4 invalid, 2 bad input."""
    from modelctl.context import use_prefect

    if logs is not None and stats is not None:
        raise InvalidInput("give --logs or --stats, not both", field="stats")
    finite(min_effect, "--min-effect")
    finite(planned_split, "--planned-split")
    if use_prefect(prefect):
        _run_flow(experiment_id, logs=logs, stats=stats, planned_split=planned_split, primary=primary,
                  guardrails=parse_guardrails(guardrail) if guardrail else None, min_effect=min_effect,
                  estimators=parse_estimators(estimator) or None, cuped=cuped, sequential=sequential, apply=apply,
                  json_out=json_out)
    from registry.errors import PolicyViolation
    from registry.service import open_registry
    from tasks.ab import apply_decision, run_analysis
    from tasks.ab.report import render_ab_markdown, render_effects_png

    reg = open_registry(STATE.registry_uri)
    try:
        has_registry = reg.store.exists()
    except RegistryNotFound:
        has_registry = False
    analysis = run_analysis(reg if has_registry else None, experiment_id, logs=logs, planned_split=planned_split,
                            primary=primary, guardrails=parse_guardrails(guardrail) if guardrail else None,
                            min_effect=min_effect, sequential=sequential, estimators=parse_estimators(estimator),
                            cuped=cuped, stats=stats)
    actions: list[str] = []
    refused: PolicyViolation | None = None
    known = False
    if has_registry:
        try:
            reg.find_experiment(experiment_id)
            known = True
        except (RegistryNotFound, VersionNotFound):
            actions = [f"not recorded: {experiment_id} is not an experiment in {reg.uri}"]
    if known:
        try:
            actions = apply_decision(reg, experiment_id, analysis, apply=apply).done
        except PolicyViolation as exc:
            refused = exc
    if chart is not None:
        chart.write_bytes(render_effects_png(analysis))
    if json_out:
        print_json({**analysis.to_dict(), "actions": actions, "refused": str(refused) if refused else None})
    else:
        print(render_ab_markdown(experiment_id, analysis))
        for action in actions:
            print(f"* {action}")
    if refused is not None:
        sys.stderr.write(f"error: {refused}\n")
        raise typer.Exit(1)
    raise typer.Exit(EXIT[analysis.decision])


def _run_flow(experiment_id: str, *, json_out: bool, **params: object) -> None:
    """The same analysis through the ``ab-analysis`` flow (it shows in the Prefect UI)."""
    from flows.ab_analysis import AbAnalysisParams, ab_analysis

    result = ab_analysis(AbAnalysisParams(experiment_id=experiment_id, registry=STATE.registry_uri,
                                          **params))  # type: ignore[arg-type]
    out = result[experiment_id]
    if json_out:
        print_json(out)
    else:
        print(f"decision: {out['decision']}")
        for reason in out["reasons"]:
            print(f"  - {reason}")
        for action in out.get("actions", []):
            print(f"* {action}")
    raise typer.Exit(EXIT[out["decision"]])
