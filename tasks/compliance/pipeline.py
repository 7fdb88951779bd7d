"""The compliance use case: read the state, decide (what the CLI and the deprecation-scan flow both call)."""

from __future__ import annotations

from datetime import datetime

from registry.entities import utcnow
from registry.service import Registry
from registry.settings import FileConfig
from tasks.compliance.checks import evaluate
from tasks.compliance.state import load_state
from tasks.compliance.verdicts import ComplianceReport


def run_compliance(registry: Registry, config: FileConfig, names: list[str] | None = None,
                   now: datetime | None = None) -> ComplianceReport:
    """The checklist for ``names`` (default: every model in use) as of ``now``; reads, never writes.

    Raises:
        ModelNotFound: a named model is not in the registry.
    """
    state = load_state(registry, names, now or utcnow(), config.compliance, tuple(config.strict_model_ids))
    return evaluate(state)
