"""The serving path: ``resolve()`` answers from an in-memory snapshot, never a store read per call.

The snapshot holds, per (model, environment), a prebuilt ``Resolution``; with a running experiment
the production entry routes by a stable hash of (salt, user id). Freshness is checked at most every
``MODELCTL_SNAPSHOT_REFRESH_SECONDS`` (default 2 s) by comparing the store's per-model signatures
(ETag, or inode/mtime/size) — only changed models are re-read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from registry.entities import ENVIRONMENTS, ModelConfig, ModelRecord, Pricing
from registry.envsettings import serving_settings
from registry.errors import InvalidInput, ModelNotFound, VersionNotFound
from registry.routing import BUCKETS, bucket
from registry.stores import Store, open_store

log = logging.getLogger("modelctl.serving")


@dataclass(frozen=True, slots=True)
class Resolution:
    """What an application needs to call a model: the version that serves it and its configuration."""

    name: str
    version: int
    digest: str
    environment: str
    arm: str | None
    experiment_id: str | None
    config: ModelConfig
    pricing: Pricing | None
    kind: str
    capture_content: bool
    deprecation: str | None = None
    variables: tuple[str, ...] = ()  # what the version's templates expect in ``variables={...}``

    def to_dict(self) -> dict[str, object]:
        """JSON form (``modelctl resolve --json``)."""
        return {"name": self.name, "version": self.version, "digest": self.digest,
                "environment": self.environment, "arm": self.arm, "experiment_id": self.experiment_id,
                "config": self.config.model_dump(mode="json", exclude_none=True),
                "pricing": self.pricing.model_dump(mode="json") if self.pricing else None,
                "kind": self.kind, "deprecation": self.deprecation, "variables": list(self.variables)}


@dataclass(frozen=True, slots=True)
class _Routed:
    """Production entry of a model with a running experiment."""

    salt: str
    threshold: int
    control: Resolution
    treatment: Resolution


def _deprecation_notes(record: ModelRecord, today: date) -> dict[int, str]:
    """Versions past a plan's soft deadline (or critical), with the message to log on resolve."""
    notes: dict[int, str] = {}
    for plan in record.deprecation_plans:
        past_soft = plan.soft_deadline is not None and plan.soft_deadline <= today
        if plan.status != "migrated" and (past_soft or plan.severity in ("warning", "critical")):
            for number in plan.affected_versions:
                notes[number] = (f"{record.name}@{number} uses {plan.model_id}, deprecated "
                                 f"({plan.severity}; shutdown {plan.hard_deadline or 'unknown'}; "
                                 f"replacement {plan.replacement or 'unset'})")
    return notes


def _variables(config: ModelConfig) -> tuple[str, ...]:
    """The template variables of a version (none when a stored template no longer parses)."""
    from registry.templates import expected_variables

    try:
        return expected_variables(config)
    except InvalidInput:
        return ()


def compile_record(record: ModelRecord, today: date | None = None) -> dict[str, Resolution | _Routed]:
    """Prebuilt answers for one model, keyed by environment."""
    notes = _deprecation_notes(record, today or date.today())

    def build(number: int, env: str, arm: str | None, exp_id: str | None) -> Resolution | None:
        v = record.version(number)
        if v is None:
            return None
        return Resolution(record.name, v.number, v.digest, env, arm, exp_id, v.config, v.pricing,
                          record.kind, record.capture_content, notes.get(v.number), _variables(v.config))

    out: dict[str, Resolution | _Routed] = {}
    for env in ENVIRONMENTS:
        number = record.env_version(env)
        plain = build(number, env, None, None) if number else None
        if plain is not None:
            out[env] = plain
    exp = record.running_experiment()
    if exp is not None:
        control = build(exp.control, "production", "control", exp.id)
        treatment = build(exp.treatment, "production", "treatment", exp.id)
        if control is not None and treatment is not None:
            out["production"] = _Routed(exp.salt, round(exp.split * BUCKETS), control, treatment)
    return out


class ServingSnapshot:
    """An in-memory, periodically refreshed view of a registry for ``resolve``."""

    def __init__(self, uri: str | Store | None = None, refresh_seconds: float | None = None) -> None:
        settings = serving_settings()
        self.store = uri if isinstance(uri, Store) else open_store(uri or settings.registry)
        self.refresh_seconds = settings.snapshot_refresh_seconds if refresh_seconds is None else refresh_seconds
        self._table: dict[tuple[str, str], Resolution | _Routed] = {}
        self._names: set[str] = set()
        self._signatures: dict[str, str] = {}
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._warned: set[tuple[str, int]] = set()
        self.on_check: Callable[[], None] | None = None  # also run on each freshness check (settings re-read)
        self.reload()

    # -- loading --------------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read every model whose signature changed (all of them the first time)."""
        with self._lock:
            signatures = self.store.signatures()
            changed = [n for n, s in signatures.items() if self._signatures.get(n) != s]
            removed = set(self._signatures) - set(signatures)
            table = dict(self._table)
            for name in removed | set(changed):
                for env in ENVIRONMENTS:
                    table.pop((name, env), None)
            cached = self.store.read_serving(changed, signatures)
            for name in changed:
                record = cached.get(name) or self.store.read(name)
                if record is None:
                    continue
                for env, entry in compile_record(record).items():
                    table[(name, env)] = entry
            self._table, self._names, self._signatures = table, set(signatures), signatures
            self._next_check = time.monotonic() + self.refresh_seconds

    def _maybe_refresh(self) -> None:
        if self._lock.locked():
            return
        if self.on_check is not None:
            self.on_check()
        try:
            self.reload()
        except Exception as exc:  # keep serving the last good snapshot
            log.warning("registry snapshot refresh failed (serving the previous snapshot): %s", exc)
            self._next_check = time.monotonic() + self.refresh_seconds

    # -- the hot path ---------------------------------------------------------------------------
    def resolve(self, name: str, environment: str = "production", user_id: str | None = None) -> Resolution:
        """The version serving ``name`` in ``environment`` for ``user_id``."""
        if time.monotonic() >= self._next_check:
            self._maybe_refresh()
        entry = self._table.get((name, environment))
        if entry is None:
            raise self._missing(name, environment)
        if entry.__class__ is _Routed:
            routed: _Routed = entry  # type: ignore[assignment]
            if user_id is None:
                chosen = routed.control
            else:
                chosen = routed.treatment if bucket(routed.salt, user_id) < routed.threshold else routed.control
        else:
            chosen = entry  # type: ignore[assignment]
        if chosen.deprecation is not None:
            self._warn_once(chosen)
        return chosen

    def _warn_once(self, res: Resolution) -> None:
        """Log a deprecation once per process (per registry) and version, never on every call."""
        key = (res.name, res.version)
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", res.deprecation)

    def _missing(self, name: str, environment: str) -> Exception:
        if environment not in ENVIRONMENTS:
            return InvalidInput(f"unknown environment {environment!r}; one of {', '.join(ENVIRONMENTS)}",
                                field="environment")
        if name not in self._names:
            return ModelNotFound(f"unknown model {name!r} in {self.store.uri}")
        return VersionNotFound(f"{name}: no version in {environment}")


_default: dict[str, ServingSnapshot] = {}
_default_lock = threading.Lock()


def snapshot_for(uri: str | None = None) -> ServingSnapshot:
    """The process-wide snapshot of a registry URI (MODELCTL_REGISTRY by default)."""
    key = uri or serving_settings().registry
    snap = _default.get(key)
    if snap is None:
        with _default_lock:
            snap = _default.get(key)
            if snap is None:
                snap = _default[key] = ServingSnapshot(key)
    return snap


class _Current:
    """The process's default snapshot. ``MODELCTL_REGISTRY`` is re-read only when that snapshot checks
    its freshness (every ``MODELCTL_SNAPSHOT_REFRESH_SECONDS``), never per ``resolve`` call."""

    __slots__ = ("snapshot",)

    def __init__(self) -> None:
        self.snapshot: ServingSnapshot | None = None

    def get(self) -> ServingSnapshot:
        """The snapshot of the configured registry (settings built here, not on the hot path)."""
        snap = snapshot_for(serving_settings().registry)
        snap.on_check = self.recheck
        self.snapshot = snap
        return snap

    def recheck(self) -> None:
        """Follow a changed ``MODELCTL_REGISTRY`` (the next call is served from its snapshot)."""
        try:
            uri = serving_settings().registry
        except Exception as exc:  # keep serving; a broken environment is reported, not raised per call
            log.warning("cannot re-read the settings (serving the current snapshot): %s", exc)
            return
        if _default.get(uri) is not self.snapshot:
            self.get()


_current = _Current()


def resolve(name: str, environment: str = "production", user_id: str | None = None) -> Resolution:
    """Resolve a model for an application (see ``ServingSnapshot.resolve``).

    The settings and the snapshot are resolved once per process: a changed ``MODELCTL_REGISTRY`` is
    followed within ``MODELCTL_SNAPSHOT_REFRESH_SECONDS``, when the snapshot checks its freshness.
    """
    snap = _current.snapshot
    if snap is None:
        snap = _current.get()
    return snap.resolve(name, environment, user_id)


def reset_default() -> None:
    """Forget the process-wide snapshots (tests, or after changing MODELCTL_REGISTRY on purpose)."""
    with _default_lock:
        _default.clear()
        _current.snapshot = None
