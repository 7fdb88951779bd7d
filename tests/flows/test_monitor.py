"""The monitor and drift-probe flows: a degraded version is a finding (event + artifact), not a failed run."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from registry.service import open_registry
from tests.tasks.monitoring.synth import NOW, week_and_day


def test_monitor_flow_publishes_and_emits_but_completes(tmp_path: Path, prefect_harness: None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.monitor import MonitorParams, monitor

    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    reg.register("summarizer", {"provider": "local", "model_id": "lead-3-v1"})
    reg.record_eval("summarizer", 1, suite="smoke", passed=True, scores={"rouge_l": 0.41})
    reg.promote("summarizer", 1, "production", reason="base")
    logs = tmp_path / "log.parquet"
    pq.write_table(week_and_day(21, quality=0.7), logs)
    out = monitor(MonitorParams(logs=str(logs), registry=uri, now=NOW))
    assert out["status"] == "degraded" and out["events_sent"] >= 1 and out["artifacts"] == ["monitor-summarizer"]
    (model,) = out["models"]
    assert model["versions"][0]["evaluation"]["scores"] == {"rouge_l": 0.41}
    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(
            any_=["monitor-summarizer"])), limit=1)
    assert "summarizer@1: degraded" in str(artifact.data) and "data:image/png;base64," in str(artifact.data)
    json.dumps(out)  # the flow's result is JSON-able


def test_drift_probe_flow_probes_models_with_a_reference(tmp_path: Path, prefect_harness: None) -> None:
    from flows.drift_probe import DriftProbeParams, drift_probe
    from tasks.monitoring.probe_run import run_probe

    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    for name in ("summarizer", "unprobed"):
        reg.register(name, {"provider": "local", "model_id": "lead-3-v1", "params": {"sentences": 1}})
        reg.record_eval(name, 1, suite="smoke", passed=True)
        reg.promote(name, 1, "production", reason="base")
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("".join(f"Sentence {i} leads. Then more {i}. And the end.\n" for i in range(6)))
    assert run_probe(reg, "summarizer", inputs_file=str(inputs)).status == "reference-recorded"
    out = drift_probe(DriftProbeParams(registry=uri))
    assert list(out) == ["summarizer"] and out["summarizer"]["status"] == "stable"
    assert out["summarizer"]["calls"] == 30
