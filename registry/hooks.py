"""Change listeners: called after every successful registry write, never able to fail it.

The registry knows nothing about Prefect: ``tasks.events.install()`` (called by the CLI and the flows)
adds a listener that turns each new history event into a ``modelctl.<resource>.<action>`` event.
A listener gets the history event the write appended and the model as written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: adding a listener (every CLI command) stays free of pydantic
    from registry.entities import HistoryEvent, ModelRecord

Listener = Callable[["HistoryEvent", "ModelRecord"], None]

_listeners: list[Listener] = []
log = logging.getLogger("modelctl.registry")


def add_listener(listener: Listener) -> None:
    """Call ``listener`` after every registry write in this process (once, however often added)."""
    if listener not in _listeners:
        _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    """Stop calling ``listener``."""
    if listener in _listeners:
        _listeners.remove(listener)


def notify(event: HistoryEvent, record: ModelRecord, extra: list[Listener] | None = None) -> None:
    """Call every listener; a failing listener is logged, never raised: the write already happened."""
    for listener in [*_listeners, *(extra or [])]:
        try:
            listener(event, record)
        except Exception:  # a listener must never fail a registry write
            log.warning("registry change listener %r failed on %s", listener, event.action, exc_info=True)
