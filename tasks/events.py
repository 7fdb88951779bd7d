"""The one event emitter: ``modelctl.<resource>.<action>`` Prefect events with the model as resource.

Offline (no Prefect API configured and no flow run), events are logged instead, so the CLI works
without a server; prefect.yaml triggers match these names exactly. Sending is queued: Prefect's
``emit_event`` hands the event to its background events worker (flushed at process exit), so an
emit never waits on the server, and an emit that fails is logged, never raised. Registry changes go
one step further: the listener only puts the event on a queue, and a background thread emits it (with
the caller's context), so a registry write never even waits for Prefect's import. ``flush()`` waits,
bounded, for that queue: the CLI calls it before exiting, and the thread hooks it into interpreter exit.

``install()`` makes every registry write an event (``registry.hooks``), so the registry itself
never imports this module. The catalogue, with payloads, is in the README ("Events").
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: installing the hook (every CLI command) stays free of pydantic
    from registry.entities import HistoryEvent, ModelRecord

log = logging.getLogger("modelctl.events")

# History actions -> (resource kind, action) of the event; experiment actions are resolved below.
MODEL_ACTIONS: dict[str, str] = {
    "register": "registered", "promote": "promoted", "rollback": "rolled-back", "archive": "archived",
    "deprecate": "deprecated", "undeprecate": "undeprecated", "evaluate": "evaluated",
    "model_update": "changed", "deprecation_update": "changed", "import": "imported",
}
EXPERIMENT_VERBS: dict[str, str] = {
    "start": "started", "stop": "stopped", "ship": "shipped", "abort": "aborted", "advance": "advanced",
    "rollback": "rolled-back", "analysis": "analysed", "update": "changed",
}


def _api_available() -> bool:
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value()) or FlowRunContext.get() is not None


def emit(resource_kind: str, action: str, *, resource_id: str, related: list[dict[str, str]] | None = None,
         payload: dict[str, Any] | None = None, about: str | None = None,
         resource_prefix: str | None = None) -> bool:
    """Emit ``modelctl.<resource_kind>.<action>`` about ``modelctl.<resource_kind>.<resource_id>``.

    Args:
        resource_kind: e.g. ``deprecation``, ``experiment``, ``model``.
        action: e.g. ``detected``, ``changed``, ``critical``.
        resource_id: the resource's id, e.g. the model name.
        related: extra Prefect related resources (``prefect.resource.id``/``prefect.resource.role`` dicts).
        payload: JSON-able details.
        about: the full resource id when it is not ``modelctl.<resource_kind>.<resource_id>`` (requests
            are about the model: ``modelctl.evaluation.requested`` on ``modelctl.model.<name>``).
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
    try:
        sent = emit_event(event=event, resource={"prefect.resource.id": about or f"{prefix}.{resource_id}",
                                                 "prefect.resource.name": resource_id},
                          related=list(related or []), payload=payload or {})
    except Exception:  # emitting never fails the caller (often a registry write that already happened)
        log.warning("event %s for %s could not be queued", event, resource_id, exc_info=True)
        return False
    return sent is not None


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


def registry_event(change: HistoryEvent, record: ModelRecord) -> dict[str, Any] | None:
    """The event for one registry history entry: ``emit`` keyword arguments, or None for none.

    Model changes are about ``modelctl.model.<name>`` (with the version related); experiment changes
    about ``modelctl.experiment.<id>`` (with the model and both arms related). A canary whose traffic
    is sent back to control is ``aborted``; an A/B test that is, ``rolled-back``.
    """
    payload = {"model": change.model, "version": change.version, "actor": change.actor,
               "reason": change.reason, "forced": change.forced,
               **change.model_dump(mode="json", include={"before", "after"})}
    if change.action in MODEL_ACTIONS:
        versions = [change.version] if change.version is not None else []
        return {"resource_kind": "model", "action": MODEL_ACTIONS[change.action], "resource_id": change.model,
                "related": model_related(change.model, versions)[1:], "payload": payload}
    kind, _, verb = change.action.partition("_")
    if kind not in ("experiment", "canary"):
        return {"resource_kind": "model", "action": "changed", "resource_id": change.model,
                "related": [], "payload": {**payload, "change": change.action}}
    after = change.after if isinstance(change.after, dict) else {}
    experiment_id = str(after.get("experiment") or "")
    if not experiment_id:
        return None
    exp = next((e for e in record.experiments if e.id == experiment_id), None)
    status = after.get("status")
    action = EXPERIMENT_VERBS.get(verb, verb.replace("_", "-") or "changed")
    if status in ("shipped", "stopped"):
        action = status
    elif status == "rolled_back":
        action = "aborted" if exp is not None and exp.kind == "canary" else "rolled-back"
    elif verb == "update" and "step_index" in after:
        action = "advanced"
    arms = [exp.control, exp.treatment] if exp is not None else [v for v in [change.version] if v is not None]
    return {"resource_kind": "experiment", "action": action, "resource_id": experiment_id,
            "related": model_related(change.model, arms),
            "payload": {**payload, "experiment": experiment_id, "kind": exp.kind if exp else None}}


_pending: queue.Queue[tuple[contextvars.Context, dict[str, Any]]] = queue.Queue()
_sender_lock = threading.Lock()
_sender: dict[str, Any] = {"thread": None, "exit_hook": False}


def _send_forever() -> None:
    """The background sender: emit queued events, each in the context it was queued from."""
    while True:
        context, kwargs = _pending.get()
        try:
            context.run(emit, **kwargs)
            if not _sender["exit_hook"]:
                # Registered after Prefect's events worker started, so it runs before that worker's own
                # drain at interpreter exit: what is still queued here reaches Prefect first.
                threading._register_atexit(flush)  # type: ignore[attr-defined]
                _sender["exit_hook"] = True
        except Exception:
            log.warning("event %s could not be sent", kwargs.get("action"), exc_info=True)
        finally:
            _pending.task_done()


def enqueue(**kwargs: Any) -> None:
    """Queue ``emit(**kwargs)`` for the background sender: returns at once, never raises."""
    with _sender_lock:
        if _sender["thread"] is None:
            thread = threading.Thread(target=_send_forever, name="modelctl-events", daemon=True)
            thread.start()
            _sender["thread"] = thread
    _pending.put((contextvars.copy_context(), kwargs))


def flush(timeout: float = 10.0) -> bool:
    """Wait (at most ``timeout`` seconds) until every queued event was handed to Prefect; True when done."""
    deadline = time.monotonic() + timeout
    while _pending.unfinished_tasks and time.monotonic() < deadline:
        time.sleep(0.02)
    return not _pending.unfinished_tasks


def on_registry_change(change: HistoryEvent, record: ModelRecord) -> None:
    """The registry listener: queue the event of a registry write (never blocks, never raises)."""
    kwargs = registry_event(change, record)
    if kwargs is not None:
        enqueue(**kwargs)


def install() -> None:
    """Emit an event for every registry write in this process (idempotent)."""
    from registry.hooks import add_listener

    add_listener(on_registry_change)


def request_evaluation(candidate: str, suite: str | None = None, reason: str | None = None) -> bool:
    """Emit ``modelctl.evaluation.requested`` about the candidate's model (the evaluate-candidate trigger).

    Args:
        candidate: ``NAME@VERSION``.
        suite: suite path or URI; None: the model's recorded suite.
        reason: why (shown in the event feed).
    """
    name, _, version = candidate.partition("@")
    related = model_related(name, [int(version)] if version.isdigit() else [])[1:]
    return emit("evaluation", "requested", resource_id=name, about=f"modelctl.model.{name}", related=related,
                payload={"candidate": candidate, "suite": suite, "reason": reason})
