"""Daily drift probes: each model whose serving version has a probe reference is sampled again and
tested for a silent provider change; drift emits ``modelctl.monitor.drift``.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from registry.service import open_registry
from tasks.monitoring.probe_run import probed_models, run_probe
from tasks.runtime import announce


class DriftProbeParams(BaseModel):
    """What to probe (rendered as a form in the Prefect UI)."""

    model: str | None = Field(default=None, description="One model; empty: every model with a probe reference")
    samples: int | None = Field(default=None, ge=2, le=50, description="Samples per input (default: the reference's)")
    budget_usd: float | None = Field(default=None, ge=0, description="Per model and run: stop before spending more")
    registry: str | None = Field(default=None, description="Registry URI (default: MODELCTL_REGISTRY)")


@task(cache_policy=NO_CACHE)
def models_to_probe(params: DriftProbeParams) -> list[str]:
    return [params.model] if params.model else probed_models(open_registry(params.registry))


@task(cache_policy=NO_CACHE, task_run_name="probe {name}", retries=2, retry_delay_seconds=60)
def probe_model(params: DriftProbeParams, name: str) -> dict[str, Any]:
    """Sample and compare one model (provider outages are retried)."""
    logger = get_run_logger()
    outcome = run_probe(open_registry(params.registry), name, samples=params.samples, budget_usd=params.budget_usd,
                        on_plan=lambda plan: logger.info("%s: %s", name, plan.describe()))
    return outcome.to_dict()


@flow(name="drift-probe", log_prints=True)
def drift_probe(params: DriftProbeParams) -> dict[str, Any]:
    """Probe each model; drift is a finding carried by its event, not a failed run."""
    announce(params.registry)
    out = {name: probe_model(params, name) for name in models_to_probe(params)}
    for name, result in out.items():
        get_run_logger().info("%s: %s %s", name, result["status"], result.get("reasons"))
    return out
