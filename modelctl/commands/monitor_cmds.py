"""``modelctl monitor`` and ``modelctl probe``: the same pipelines the monitor and drift-probe flows run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from modelctl.context import STATE, parse_time, print_json
from registry.errors import InvalidInput, RegistryNotFound


def parse_thresholds(items: list[str] | None) -> dict[str, float]:
    """``METRIC=VALUE`` items."""
    out: dict[str, float] = {}
    for item in items or []:
        metric, sep, value = item.partition("=")
        try:
            out[metric.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not metric.strip():
            raise InvalidInput(f"expected METRIC=VALUE, got {item!r}", field="threshold")
    return out


def monitor(
    name: Annotated[str | None, typer.Argument(help="One model (default: every model)")] = None,
    window: Annotated[str, typer.Option("--window", help="Current window, e.g. 24h")] = "24h",
    baseline: Annotated[str, typer.Option("--baseline", help="Baseline window before it, e.g. 7d")] = "7d",
    logs: Annotated[str | None, typer.Option("--logs", help="Request log URI or a CSV/Parquet/JSONL table "
                                                            "(default: MODELCTL_LOG)")] = None,
    threshold: Annotated[list[str] | None, typer.Option("--threshold", help="METRIC=VALUE (repeatable)")] = None,
    min_users: Annotated[int, typer.Option("--min-users", help="Users needed in each window")] = 30,
    now: Annotated[str | None, typer.Option("--now", help="End of the window (ISO-8601; default now)")] = None,
    chart_dir: Annotated[Path | None, typer.Option("--chart-dir", help="Write one PNG chart per model here")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Monitor production versions: exit 0 ok, 1 degraded, 2 bad input."""
    from registry.service import open_registry
    from registry.settings import get_settings
    from tasks.monitoring.data import parse_duration
    from tasks.monitoring.monitor import emit_findings, record_results, run_monitor
    from tasks.monitoring.report import render_model_markdown, render_series_png

    settings = get_settings()
    reg = open_registry(STATE.registry_uri)
    try:
        has_registry = reg.store.exists()
    except RegistryNotFound:
        has_registry = False
    thresholds = {k: dict(v) for k, v in settings.file_config().monitor_thresholds.items()}
    if threshold:
        if name is None:
            raise InvalidInput("--threshold needs a model NAME", field="threshold")
        thresholds.setdefault(name, {}).update(parse_thresholds(threshold))
    report = run_monitor(reg if has_registry else None, logs=logs or settings.log, model=name,
                         window=parse_duration(window, "window"), baseline=parse_duration(baseline, "baseline"),
                         now=parse_time(now, "--now") if now is not None else None, thresholds=thresholds, min_users=min_users)
    emit_findings(report)
    if has_registry:
        record_results(reg, report)
    if chart_dir is not None:
        chart_dir.mkdir(parents=True, exist_ok=True)
        for m in report.models:
            (chart_dir / f"monitor-{m.model}.png").write_bytes(render_series_png(m))
    if json_out:
        print_json(report.to_dict())
    else:
        for m in report.models:
            print(render_model_markdown(m, report))
        print(f"monitor: {report.status} ({len(report.findings)} degraded metric(s))")
    raise typer.Exit(1 if report.status == "degraded" else 0)


def probe(
    name: Annotated[str, typer.Argument(help="The model to probe (its version in --env).")],
    record_reference: Annotated[bool, typer.Option("--record-reference", help="Record (again) the reference for "
                                                                                "the serving digest")] = False,
    inputs: Annotated[str | None, typer.Option("--inputs", help="Probe inputs: JSONL, YAML list or lines "
                                                                "(needed to record a reference)")] = None,
    samples: Annotated[int | None, typer.Option("--samples", help="Samples per input (default 5, or the "
                                                                  "reference's)")] = None,
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", help="Stop before spending more")] = None,
    env: Annotated[str, typer.Option("--env", help="Environment whose version is probed")] = "production",
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Probe NAME for a silent provider change: exit 0 stable, 1 drift, 3 not enough evidence, 5 unreachable."""
    from registry.service import open_registry
    from tasks.monitoring.probe_run import EXIT_CODES, run_probe

    def announce(plan: object) -> None:  # before any call; stderr keeps --json output clean
        (sys.stderr if json_out else sys.stdout).write(plan.describe() + "\n")  # type: ignore[attr-defined]
        (sys.stderr if json_out else sys.stdout).flush()

    outcome = run_probe(open_registry(STATE.registry_uri), name, environment=env, inputs_file=inputs,
                        samples=samples, budget_usd=budget_usd, record_reference=record_reference,
                        on_plan=announce)
    if json_out:
        print_json(outcome.to_dict())
    else:
        result = outcome.result
        print(f"{name}@{outcome.version} ({outcome.digest[:12]}): {outcome.status.upper()}")
        for reason in result.reasons if result else []:
            print(f"- {reason}")
        if result is not None:
            print(f"{result.calls} calls, ${result.cost_usd:.4f}")
    raise typer.Exit(EXIT_CODES[outcome.status])


def register(app: typer.Typer) -> None:
    """Attach ``monitor`` and ``probe`` to the root app."""
    app.command("monitor")(monitor)
    app.command("probe")(probe)
