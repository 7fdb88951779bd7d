"""The one event emitter: ``modelctl.<resource>.<action>`` Prefect events with the model as resource.

Offline (no Prefect API configured and no flow run), events are logged instead, so the CLI works
without a server; prefect.yaml triggers match these names exactly.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("modelctl.events")


def _api_available() -> bool:
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value()) or FlowRunContext.get() is not None


def emit(resource_kind: str, action: str, *, resource_id: str, related: list[dict[str, str]] | None = None,
         payload: dict[str, Any] | None = None, resource_prefix: str | None = None) -> bool:
    """Emit ``modelctl.<resource_kind>.<action>`` about ``modelctl.<resource_kind>.<resource_id>``.

    Args:
        resource_kind: e.g. ``deprecation``, ``experiment``, ``model``.
        action: e.g. ``detected``, ``changed``, ``critical``.
        resource_id: the resource's id, e.g. the model name.
        related: extra Prefect related resources (``prefect.resource.id``/``prefect.resource.role`` dicts).
        payload: JSON-able details.
        resource_prefix: the resource id's prefix when it is not ``modelctl.<resource_kind>`` (the monitor's
            events, ``modelctl.monitor.*``, are about ``modelctl.model.<name>``).

    Returns:
        True when the event went to Prefect; False offline (logged at debug level instead).
    """
    for part in (resource_kind, action):
        if not part or "." in part:
            raise ValueError(f"event part {part!r} does not fit modelctl.<resource>.<action>")
    event = f"modelctl.{resource_kind}.{action}"
    if not _api_available():
        log.debug("event %s for %s (no Prefect API: not sent) %s", event, resource_id, payload)
        return False
    from prefect.events import emit_event

    prefix = resource_prefix or f"modelctl.{resource_kind}"
    emit_event(event=event, resource={"prefect.resource.id": f"{prefix}.{resource_id}",
                                      "prefect.resource.name": resource_id},
               related=list(related or []), payload=payload or {})
    return True


def model_related(model: str, versions: list[int] | None = None) -> list[dict[str, str]]:
    """Related resources for a model and its versions."""
    return [{"prefect.resource.id": f"modelctl.model.{model}", "prefect.resource.role": "model"},
            *({"prefect.resource.id": f"modelctl.version.{model}.{v}", "prefect.resource.role": "version"}
              for v in versions or [])]


def emit_all(events: list[dict[str, Any]]) -> int:
    """Emit a scan's events (dicts with ``event``, ``model``, ``versions``, ``payload``); returns how many were sent."""
    sent = 0
    for e in events:
        _, kind, action = e["event"].split(".")
        sent += emit(kind, action, resource_id=e["model"], related=model_related(e["model"], e.get("versions")),
                     payload=e.get("payload"))
    return sent
