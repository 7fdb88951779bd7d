"""What every flow run does first: say which registry and modelctl version it runs with, and turn
registry writes into events. Also the per-model concurrency slot and run names for the Prefect UI.

Prefect is imported lazily so that the rest of ``tasks/`` stays importable without it.
"""

from __future__ import annotations

import logging
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from registry.settings import get_settings
from tasks import events

log = logging.getLogger("modelctl.runtime")


def identity(registry: str | None) -> dict[str, str]:
    """The registry URI, modelctl version and host this process runs flows with."""
    from modelctl import __version__

    settings = get_settings()
    return {"registry": registry or settings.registry, "modelctl_version": __version__,
            "deployed_version": os.environ.get("MODELCTL_DEPLOYED_VERSION", ""), "host": platform.node(),
            "cache": settings.cache}


def announce(registry: str | None) -> dict[str, str]:
    """Log the worker identity in the flow run's log and emit events for registry writes."""
    events.install()
    ident = identity(registry)
    _logger().info("modelctl %s on %s, registry %s", ident["modelctl_version"], ident["host"], ident["registry"])
    if ident["deployed_version"] and ident["deployed_version"] != ident["modelctl_version"]:
        _logger().warning("deployed with modelctl %s but this worker runs %s",
                          ident["deployed_version"], ident["modelctl_version"])
    return ident


def _logger() -> Any:
    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:
        return log


def run_parameters() -> dict[str, Any]:
    """The current flow run's ``params`` as a plain dict (for run names)."""
    from prefect.runtime import flow_run

    params = (flow_run.parameters or {}).get("params") or {}
    return params.model_dump() if hasattr(params, "model_dump") else dict(params)


@contextmanager
def model_slot(kind: str, model: str, timeout_seconds: float = 3600) -> Iterator[None]:
    """Hold the one ``<kind>-<model>`` slot (a Prefect global concurrency limit of 1, created on first use).

    Without a Prefect API (a plain CLI run) there is nothing to coordinate with, and it holds nothing.
    """
    from prefect.context import FlowRunContext

    if FlowRunContext.get() is None:
        yield
        return
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.concurrency.sync import concurrency
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    name = f"{kind}-{model}"
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            with suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    with concurrency(name, occupy=1, timeout_seconds=timeout_seconds, strict=True):
        yield
