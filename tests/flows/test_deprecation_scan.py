"""The deprecation-scan flow: plans in the registry, events emitted to Prefect, a report artifact."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from registry.seed import import_seed
from registry.service import open_registry

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "examples" / "deprecations"


def test_flow_scans_and_is_idempotent(tmp_path: Path, prefect_harness: None) -> None:
    from flows.deprecation_scan import DeprecationScanParams, deprecation_scan

    uri = str(tmp_path / "reg")
    import_seed(open_registry(uri), ROOT / "examples" / "model-registry.yaml")
    params = DeprecationScanParams(sources=[f"anthropic={FIX / 'anthropic.md'}", f"openai={FIX / 'openai.md'}"],
                                   today=date(2026, 11, 23), registry=uri)
    first = deprecation_scan(params)
    events = [e["event"] for e in first["events"]]
    assert events.count("modelctl.deprecation.critical") == 2  # primary (production) and candidate (staging)
    plans = open_registry(uri).get_model("summarization-primary").deprecation_plans
    assert plans[0].severity == "critical" and plans[0].hard_deadline == date(2026, 11, 30)
    second = deprecation_scan(params)
    assert second["events"] == [] and second["changes"] == []
    assert first["compliance"]["status"] == "fail" and "embedding-production:registry" in first["compliance"]["failed"]
    report = _artifact("compliance")
    assert report is not None and report.startswith("# Compliance") and "## summarization-primary: fail" in report


def _artifact(key: str) -> str | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return str(found[0].data) if found else None
