"""Deprecation scan: fetch sources -> parse -> match -> diff -> plans -> events -> report -> compliance (daily)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from registry.service import open_registry
from registry.settings import get_settings
from tasks.compliance.pipeline import run_compliance
from tasks.compliance.report import render_compliance_markdown
from tasks.deprecations.report import render_scan_markdown
from tasks.deprecations.scan import ScanResult, parse_sources, run_scan
from tasks.events import emit, emit_all
from tasks.runtime import announce


class DeprecationScanFailed(Exception):
    """Every source was scanned, but some could not be read or parsed: the run is Failed (red)."""


class DeprecationScanParams(BaseModel):
    """Sources to scan (rendered as a form in the Prefect UI)."""

    sources: list[str] | None = Field(default=None, description="KIND=URL_OR_PATH; empty: configured defaults")
    today: date | None = Field(default=None, description="The date deadlines are measured from; empty: today (UTC)")
    registry: str | None = Field(default=None, description="Registry URI; empty: the worker's MODELCTL_REGISTRY "
                                                           "(set by the deployment's job variables)")


def _on_failure(flow: object, flow_run: object, state: object) -> None:
    """A failed scan is a Failed run and a ``modelctl.deprecation.scan-failed`` event."""
    emit("deprecation", "scan-failed", resource_id="scan",
         payload={"flow_run_id": str(getattr(flow_run, "id", "")), "message": str(getattr(state, "message", ""))})


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=30)
def scan(params: DeprecationScanParams) -> ScanResult:
    return run_scan(open_registry(params.registry), parse_sources(params.sources), params.today)


@task(cache_policy=NO_CACHE)
def emit_events(result: ScanResult) -> int:
    return emit_all(result.events)


@task(cache_policy=NO_CACHE)
def publish(result: ScanResult) -> None:
    create_markdown_artifact(key="deprecation-scan", markdown=render_scan_markdown(result),
                             description="Deprecation notices and affected versions")


@task(cache_policy=NO_CACHE)
def publish_compliance(params: DeprecationScanParams) -> dict[str, Any]:
    """The compliance report after the scan refreshed the plans: the ``compliance`` artifact (a finding, never
    a failed run)."""
    report = run_compliance(open_registry(params.registry), get_settings().file_config())
    create_markdown_artifact(key="compliance", markdown=render_compliance_markdown(report),
                             description="Compliance checklist per model in use, with evidence")
    return {"status": report.status, "failed": report.to_dict()["failed"]}


@task(cache_policy=NO_CACHE)
def check_sources(result: ScanResult) -> None:
    """Fail the run when a source could not be read (the CLI exits 4 for the same scan)."""
    if result.failed_sources:
        raise DeprecationScanFailed("deprecation sources failed: " + "; ".join(
            f"{f['source']}: {f['error']}" for f in result.failed_sources))


@flow(name="deprecation-scan", flow_run_name="deprecation scan", log_prints=True, on_failure=[_on_failure])
def deprecation_scan(params: DeprecationScanParams) -> dict[str, Any]:
    """Scan deprecation sources and keep migration plans current; events for new, changed, critical."""
    announce(params.registry)
    result = scan(params)
    emit_events(result)
    publish(result)
    compliance = publish_compliance(params)
    check_sources(result)  # after the reports and the events of the sources that did work
    return {**result.to_dict(), "compliance": compliance}
