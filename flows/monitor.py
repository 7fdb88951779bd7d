"""Hourly production monitoring: each version that served in the window, metric by metric, against the
baseline window; a markdown artifact (with a PNG chart) per model and ``modelctl.monitor.degraded`` events.

A degraded model is a finding, not a failure: the run completes and the event carries the alarm.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from registry.service import open_registry
from registry.settings import get_settings
from tasks.monitoring.data import parse_duration
from tasks.monitoring.monitor import MonitorReport, emit_findings, record_results, run_monitor
from tasks.monitoring.report import render_model_markdown, render_series_png
from tasks.runtime import announce


class MonitorParams(BaseModel):
    """What to monitor (rendered as a form in the Prefect UI)."""

    model: str | None = Field(default=None, description="One model; empty: every model")
    window: str = Field(default="24h", description="Current window (e.g. 24h)")
    baseline: str = Field(default="7d", description="Baseline window before it (e.g. 7d)")
    logs: str | None = Field(default=None, description="Request log URI or a table (default: MODELCTL_LOG)")
    thresholds: dict[str, dict[str, float]] | None = Field(
        default=None, description="MODEL: {METRIC: threshold} overriding MODELCTL_CONFIG monitor_thresholds")
    min_users: int = Field(default=30, ge=2, description="Users needed in each window before a decision")
    now: datetime | None = Field(default=None, description="End of the window (a backfill); empty: the run time")
    registry: str | None = Field(default=None, description="Registry URI (default: MODELCTL_REGISTRY)")


@task(cache_policy=NO_CACHE)
def monitor_versions(params: MonitorParams) -> MonitorReport:
    """Read the log once and decide every (model, version)."""
    settings = get_settings()
    thresholds = {k: dict(v) for k, v in settings.file_config().monitor_thresholds.items()}
    for model, values in (params.thresholds or {}).items():
        thresholds.setdefault(model, {}).update(values)
    return run_monitor(open_registry(params.registry), logs=params.logs or settings.log, model=params.model,
                       window=parse_duration(params.window, "window"),
                       baseline=parse_duration(params.baseline, "baseline"), thresholds=thresholds,
                       min_users=params.min_users, now=params.now)


@task(cache_policy=NO_CACHE)
def publish(report: MonitorReport) -> list[str]:
    """One markdown artifact per model, ``monitor-<model>``, with its chart inline."""
    keys = []
    for model in report.models:
        chart = base64.b64encode(render_series_png(model)).decode()
        key = "monitor-" + "".join(c if c.isalnum() else "-" for c in model.model.lower())
        create_markdown_artifact(key=key, markdown=render_model_markdown(model, report)
                                 + f"\n![per-version metrics](data:image/png;base64,{chart})\n",
                                 description=f"Production monitor of {model.model}")
        keys.append(key)
    return keys


@task(cache_policy=NO_CACHE)
def record(params: MonitorParams, report: MonitorReport) -> list[str]:
    """The newest result per version, beside the registry (the evidence ``modelctl compliance`` reads)."""
    return record_results(open_registry(params.registry), report)


@task(cache_policy=NO_CACHE)
def emit_degraded(report: MonitorReport) -> int:
    return emit_findings(report)


@flow(name="monitor", log_prints=True)
def monitor(params: MonitorParams) -> dict[str, Any]:
    """Monitor every production version; degraded metrics become events, not a failed run."""
    announce(params.registry)
    report = monitor_versions(params)
    keys = publish(report)
    record(params, report)
    sent = emit_degraded(report)
    get_run_logger().info("monitor: %s, %d degraded metric(s), %d event(s)", report.status, len(report.findings),
                          sent)
    return {**report.to_dict(), "events_sent": sent, "artifacts": keys}
