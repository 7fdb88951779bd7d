"""The evaluation pipeline the CLI runs in-process (and the flow wires as tasks): no Prefect server."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.service import open_registry
from tasks.evaluation.pipeline import EvaluateCandidateParams, run_evaluation

ROOT = Path(__file__).resolve().parents[3]
SUITE = ROOT / "examples" / "suites" / "ticket-triage" / "suite.yaml"
ARTIFACT = ROOT / "examples" / "models" / "ticket-classifier.json"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MODELCTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    sha = hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()
    classifier = {"provider": "local", "model_id": "tfidf-logreg-v1",
                  "params": {"artifact_uri": str(ARTIFACT), "artifact_sha256": sha}}
    reg.register("triage", classifier)
    reg.register("triage", {**classifier, "params": {**classifier["params"], "threshold": 0.5}})
    reg.register("triage", {"provider": "local", "model_id": "lead-3-v1"})
    reg.record_eval("triage", 1, suite="bootstrap", passed=True)
    reg.promote("triage", 1, "production", reason="baseline")
    return uri


def test_the_pipeline_decides_and_records_without_prefect(registry: str) -> None:
    result = run_evaluation(EvaluateCandidateParams(suite=str(SUITE), candidate="triage@2", registry=registry,
                                                    promote_to_staging=True, batch_size=7))
    assert result["decision"] == "promote" and result["baseline"] == "triage@1", result["reasons"]
    assert result["report"].startswith("# Evaluation: triage@2 vs triage@1")
    model = open_registry(registry).get_model("triage")
    record = model.latest_eval(model.version(2).digest)
    assert record is not None and record.passed and record.source == "cli" and record.flow_run_id is None
    assert model.env_version("staging") == 2


def test_cli_eval_run_is_in_process_by_default(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "run", str(SUITE), "--candidate", "triage@3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 1 and out["decision"] == "reject"
    model = open_registry(registry).get_model("triage")
    record = model.latest_eval(model.version(3).digest)
    assert record is not None and record.source == "cli" and not record.passed  # not the flow's record


def test_the_pipeline_keeps_the_flows_evaluation_behaviour(registry: str) -> None:
    """Per-case results, the side-by-side report, the run id and the recorded suite, as the flow gives."""
    first = run_evaluation(EvaluateCandidateParams(suite=str(SUITE), candidate="triage@2", registry=registry))
    assert first["run_id"] and first["cases"] and "## Cases side by side" in first["report"]
    assert first["summary"]
    model = open_registry(registry).get_model("triage")
    assert model.recorded_suite() == str(SUITE)
    again = run_evaluation(EvaluateCandidateParams(candidate="triage@3", registry=registry))  # the recorded suite
    assert again["suite"] == first["suite"] and again["run_id"] != first["run_id"]
