"""The serving path's settings, read from the environment without importing pydantic-settings.

``registry.settings.Settings`` stays the one place configuration is defined: its prefix and the
defaults below are shared with it. This reader answers only the plain cases (a setting unset, or a
string, or a plain decimal number); anything else — ``MODELCTL_NOW``, an unusual number, a name given
twice in different case — is handed to ``Settings`` itself, so validation and its errors are the
settings class's own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime

ENV_PREFIX = "MODELCTL_"
DEFAULT_REGISTRY = "./model-registry"
DEFAULT_LOG = "./modelctl-logs/"
DEFAULT_CACHE = "./.modelctl-cache/"
DEFAULT_SNAPSHOT_REFRESH_SECONDS = 2.0
DEFAULT_LOCK_TIMEOUT_SECONDS = 30.0
_NUMBERS = {"snapshot_refresh_seconds": DEFAULT_SNAPSHOT_REFRESH_SECONDS,
            "lock_timeout_seconds": DEFAULT_LOCK_TIMEOUT_SECONDS}
_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")


@dataclass(frozen=True, slots=True)
class ServingSettings:
    """What ``resolve`` reads: the registry URI, the snapshot's refresh period, the store's lock timeout
    and the fixed clock."""

    registry: str
    snapshot_refresh_seconds: float
    lock_timeout_seconds: float
    now: datetime | None = None


def _environment() -> dict[str, str] | None:
    """MODELCTL_* variables by lowercase field name (pydantic-settings matches names case-insensitively);
    None when a name is given twice in different case."""
    n = len(ENV_PREFIX)
    found: dict[str, str] = {}
    for key, value in os.environ.items():
        if len(key) > n and key[:n].upper() == ENV_PREFIX:
            field = key[n:].lower()
            if field in found:
                return None
            found[field] = value
    return found


def _number(env: dict[str, str], field: str, positive: bool) -> float | None:
    """A plain decimal setting, or None when the settings class must judge the text."""
    text = env.get(field)
    if text is None:
        return _NUMBERS[field]
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return None if positive and value <= 0 else value


def serving_settings() -> ServingSettings:
    """The serving path's settings; the same values (and errors) as ``registry.settings.get_settings()``."""
    env = _environment()
    if env is not None and "now" not in env:
        refresh = _number(env, "snapshot_refresh_seconds", positive=False)
        lock = _number(env, "lock_timeout_seconds", positive=True)
        if refresh is not None and lock is not None:
            return ServingSettings(env.get("registry", DEFAULT_REGISTRY), refresh, lock)
    from registry.settings import get_settings

    full = get_settings()
    return ServingSettings(full.registry, full.snapshot_refresh_seconds, full.lock_timeout_seconds, full.now)
