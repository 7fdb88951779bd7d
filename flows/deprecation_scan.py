"""Deprecation scan: fetch sources -> parse -> match -> diff -> plans -> events -> report (daily)."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from registry.service import open_registry
from tasks.deprecations.report import render_scan_markdown
from tasks.deprecations.scan import ScanResult, parse_sources, run_scan
from tasks.events import emit_all


class DeprecationScanParams(BaseModel):
    """Sources to scan (rendered as a form in the Prefect UI)."""

    sources: list[str] | None = Field(default=None, description="KIND=URL_OR_PATH; empty: configured defaults")
    today: date | None = None
    registry: str | None = None


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


@flow(name="deprecation-scan", log_prints=True)
def deprecation_scan(params: DeprecationScanParams) -> dict[str, Any]:
    """Scan deprecation sources and keep migration plans current; events for new, changed, critical."""
    result = scan(params)
    emit_events(result)
    publish(result)
    return result.to_dict()
