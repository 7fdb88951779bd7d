"""modelctl: the application facade — ``from modelctl import Gateway, AsyncGateway, resolve, load_requests``.

Imports are lazy so that ``import modelctl`` (and the CLI's start) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AsyncGateway", "Gateway", "load_requests", "resolve"]
__version__ = "0.1.0"

_LAZY = {
    "resolve": ("registry.serving", "resolve"),
    "Gateway": ("tasks.gateway", "Gateway"),
    "AsyncGateway": ("tasks.gateway", "AsyncGateway"),
    "load_requests": ("tasks.request_log", "load_requests"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'modelctl' has no attribute {name!r}")
