"""Names of the monitoring side documents kept beside the registry (cheap to import: no numpy, no scipy)."""

from __future__ import annotations


def monitor_result_key(model: str) -> str:
    """A model's newest monitor result per version (written by the monitor, read by ``compliance``)."""
    return f"monitor-result-{model}.json"


def probe_result_key(model: str, digest: str) -> str:
    """The newest drift-probe result for one configuration digest."""
    return f"probe-result-{model}-{digest[:16]}"
