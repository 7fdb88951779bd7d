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


def emit(event: str, model: str, *, versions: list[int] | None = None, payload: dict[str, Any] | None = None) -> bool:
    """Emit one event; True when it went to Prefect."""
    if not event.startswith("modelctl.") or event.count(".") != 2:
        raise ValueError(f"event {event!r} does not follow modelctl.<resource>.<action>")
    if not _api_available():
        log.info("event %s for %s (no Prefect API: not sent) %s", event, model, payload)
        return False
    from prefect.events import emit_event

    related = [{"prefect.resource.id": f"modelctl.version.{model}.{v}", "prefect.resource.role": "version"}
               for v in versions or []]
    emit_event(event=event, resource={"prefect.resource.id": f"modelctl.model.{model}",
                                      "prefect.resource.name": model},
               related=related, payload=payload or {})
    return True


def emit_all(events: list[dict[str, Any]]) -> int:
    """Emit a scan's events; returns how many were sent."""
    return sum(emit(e["event"], e["model"], versions=e.get("versions"), payload=e.get("payload")) for e in events)
