"""The ab-analysis flow: analyse a registry experiment from a table, publish, record, apply."""

from __future__ import annotations

import sys
from pathlib import Path

from registry.service import open_registry

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "ab"))
from generate import generate, write  # noqa: E402


def test_flow_records_and_ships(tmp_path: Path, prefect_harness: None) -> None:
    from flows.ab_analysis import AbAnalysisParams, ab_analysis

    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    for t in (0.1, 0.2):
        v, _ = reg.register("summarizer", {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929",
                                           "temperature": t})
        reg.record_eval("summarizer", v.number, suite="s", passed=True)
    reg.promote("summarizer", 1, "production", reason="base")
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.5,
                               guardrails={"latency_ms": 0.05, "error_rate": 0.0})
    logs = tmp_path / "log.parquet"
    write(generate(users=8000, split=0.5, lift=0.05, seed=12, experiment_id=exp.id), str(logs))
    out = ab_analysis(AbAnalysisParams(experiment_id=exp.id, logs=str(logs), sequential=False, apply=True,
                                       registry=uri))
    assert out[exp.id]["decision"] == "ship"
    model = reg.get_model("summarizer")
    assert model.env_version("production") == 2 and model.experiments[0].status == "shipped"
    assert model.experiments[0].analyses[-1].decision == "ship" and model.experiments[0].analyses[-1].flow_run_id
