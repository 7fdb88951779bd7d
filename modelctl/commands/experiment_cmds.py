"""``modelctl experiment start|stop|show|list``: A/B tests stored in the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.context import open_registry, parse_ref, print_json
from registry.errors import InvalidInput
from registry.numbers import finite

if TYPE_CHECKING:
    from registry.service import Registry

app = typer.Typer(no_args_is_help=True, help="A/B experiments on a model's production traffic.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def parse_guardrails(items: list[str] | None) -> dict[str, float]:
    """``METRIC:MAX_REGRESSION`` items (repeatable) as a dict."""
    from tasks.ab.analysis import METRICS

    out: dict[str, float] = {}
    for item in items or []:
        metric, sep, value = item.partition(":")
        if not sep or metric not in METRICS:
            raise InvalidInput(f"guardrail {item!r}: expected METRIC:MAX_REGRESSION with METRIC one of "
                               f"{', '.join(METRICS)}", field="guardrail")
        try:
            out[metric] = float(value)
        except ValueError as exc:
            raise InvalidInput(f"guardrail {item!r}: MAX_REGRESSION must be a number (0.05 = 5%)",
                               field="guardrail") from exc
        finite(out[metric], f"guardrail {metric}", minimum=0)
    return out


def version_number(reg: Registry, ref: str, model: str) -> int:
    """NAME@VERSION or NAME@ENVIRONMENT of ``model`` to a version number (fixed at start)."""
    name, which = parse_ref(ref)
    if name != model:
        raise InvalidInput(f"{ref!r} is not a version of {model}", field="ref")
    return reg.get_version(name, which).number


@app.command("start")
def start(
    name: Annotated[str, typer.Argument(help="Model name.")],
    control: Annotated[str, typer.Option("--control", help="NAME@VERSION or NAME@production")],
    treatment: Annotated[str, typer.Option("--treatment", help="NAME@VERSION")],
    split: Annotated[float, typer.Option("--split", help="Treatment share of production traffic, e.g. 0.10")],
    primary: Annotated[str, typer.Option("--primary", help="Primary metric (decides ship or rollback).")] = "quality_score",
    guardrail: Annotated[list[str] | None, typer.Option("--guardrail", help="METRIC:MAX_REGRESSION (repeatable)")] = None,
    min_effect: Annotated[float, typer.Option("--min-effect", help="Smallest effect worth shipping.")] = 0.01,
    min_samples: Annotated[int | None, typer.Option("--min-samples", help="Users per arm before a ship")] = None,
    max_days: Annotated[float | None, typer.Option("--max-days", help="Days before the test is due.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start without a passing eval of the treatment")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded in history).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Start an A/B test splitting NAME's production traffic."""
    from tasks.ab.analysis import METRICS

    if primary not in METRICS:
        raise InvalidInput(f"unknown primary metric {primary!r}; one of {', '.join(METRICS)}", field="primary")
    reg = open_registry()
    exp = reg.start_experiment(name, control=version_number(reg, control, name),
                               treatment=version_number(reg, treatment, name), split=split, primary_metric=primary,
                               guardrails=parse_guardrails(guardrail), min_effect=min_effect, min_samples=min_samples,
                               max_days=max_days, force=force, reason=reason)
    if json_out:
        print_json(exp.model_dump(mode="json"))
    else:
        print(f"started {exp.id}: {name}@{exp.control} (control) vs @{exp.treatment} (treatment) at {exp.split:.0%}")


@app.command("stop")
def stop(experiment_id: Annotated[str, typer.Argument(help="Experiment id (NAME-exp-N).")],
         reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded in history).")] = None,
         json_out: JsonOpt = False) -> None:
    """Stop an experiment; production traffic returns to the production version."""
    reg = open_registry()
    model, _ = reg.find_experiment(experiment_id)
    exp = reg.stop_experiment(model, experiment_id, reason=reason)
    if json_out:
        print_json({"id": exp.id, "model": model, "status": exp.status, "stopped_at": exp.stopped_at})
    else:
        print(f"stopped {experiment_id}")


@app.command("show")
def show(experiment_id: Annotated[str, typer.Argument(help="Experiment id (NAME-exp-N).")], json_out: JsonOpt = False) -> None:
    """An experiment with its analyses."""
    from modelctl.context import to_json

    _, exp = open_registry().find_experiment(experiment_id)
    data = exp.model_dump(mode="json", exclude_none=True)
    if json_out:
        print_json(data)
    else:
        print(to_json(data))


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """Every experiment and canary."""
    rows = [{"id": e.id, "model": r.name, "kind": e.kind, "status": e.status, "control": e.control,
             "treatment": e.treatment, "split": e.split, "primary": e.primary_metric,
             "last_decision": e.analyses[-1].decision if e.analyses else None}
            for r in open_registry().list_models() for e in r.experiments]
    if json_out:
        print_json(rows)
        return
    if not rows:
        print("(no experiments)")
        return
    header = {"id": "ID", "model": "MODEL", "kind": "KIND", "status": "STATUS", "control": "CONTROL",
              "treatment": "TREATMENT", "split": "SPLIT", "primary": "PRIMARY", "last_decision": "LAST DECISION"}
    cells = [{k: ("-" if v is None else f"{v:.0%}" if k == "split" else f"@{v}" if k in ("control", "treatment")
                  else str(v)) for k, v in row.items()} for row in rows]
    widths = {k: max(len(header[k]), *(len(c[k]) for c in cells)) for k in header}
    for line in [header, *cells]:
        print("  ".join(line[k].ljust(widths[k]) for k in header).rstrip())
