"""The evaluate-candidate flow, offline on the example suite with the local provider."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.errors import PolicyViolation
from registry.service import open_registry

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "examples" / "suites" / "ticket-triage" / "suite.yaml"
ARTIFACT = ROOT / "examples" / "models" / "ticket-classifier.json"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MODELCTL_CACHE", str(tmp_path / "cache"))
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    sha = hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()
    classifier = {"provider": "local", "model_id": "tfidf-logreg-v1",
                  "params": {"artifact_uri": str(ARTIFACT), "artifact_sha256": sha},
                  "pricing": {"input_per_1m": 0.02, "output_per_1m": 0.02}}
    reg.register("triage", classifier)                                                       # v1: production
    reg.register("triage", {**classifier, "params": {**classifier["params"], "threshold": 0.5}})  # v2: as good
    reg.register("triage", {"provider": "local", "model_id": "lead-3-v1"})                    # v3: echoes the text
    reg.record_eval("triage", 1, suite="bootstrap", passed=True)
    reg.promote("triage", 1, "production", reason="baseline")
    return uri


def test_flow_promotes_a_good_candidate_and_records_it(registry: str, prefect_harness: None) -> None:
    from flows.evaluate_candidate import EvaluateCandidateParams, evaluate_candidate

    result = evaluate_candidate(EvaluateCandidateParams(suite=str(SUITE), candidate="triage@2", registry=registry,
                                                        promote_to_staging=True, batch_size=100))
    assert result["decision"] == "promote" and result["baseline"] == "triage@1", result["reasons"]
    assert result["scores"]["exact_match"] >= 0.9 and result["scores"]["error_rate"] == 0.0
    reg = open_registry(registry)
    model = reg.get_model("triage")
    record = model.latest_eval(model.version(2).digest)
    assert record is not None and record.passed and record.source == "flow" and record.flow_run_id
    assert record.suite == "ticket-triage" and record.suite_digest == result["suite_digest"]
    assert model.env_version("staging") == 2
    reg.promote("triage", 2, "production", reason="passed the flow")  # the flow's record satisfies the gate


def test_flow_rejects_a_bad_candidate_and_the_gate_holds(registry: str, prefect_harness: None) -> None:
    from flows.evaluate_candidate import EvaluateCandidateParams, evaluate_candidate

    result = evaluate_candidate(EvaluateCandidateParams(suite=str(SUITE), candidate="triage@3", registry=registry))
    assert result["decision"] == "reject"
    assert any(r.startswith("gate exact_match >= 0.8: failed") for r in result["reasons"])
    with pytest.raises(PolicyViolation):
        open_registry(registry).promote("triage", 3, "production", reason="try")


def test_cli_eval_run_json_and_exit_codes(registry: str, prefect_harness: None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "run", str(SUITE), "--candidate", "triage@3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 1 and out["decision"] == "reject" and out["reasons"]
    row = next(m for m in out["metrics"] if m["metric"] == "exact_match")
    assert set(row) >= {"metric", "candidate", "baseline", "diff", "ci", "p_value", "gate"}
    assert row["test"] == "paired t on per-case differences" and row["p_value"] < 0.001 and row["ci"][1] < 0
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "run", str(ROOT / "README.md"), "--candidate", "triage@3"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "run", str(SUITE), "--candidate", "triage@9"])
    assert exc.value.code == 2


def test_a_provider_with_no_key_stops_the_run_with_exit_5_and_records_nothing(
        registry: str, prefect_harness: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    from tasks.providers.base import reset_clients

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    reset_clients()
    reg = open_registry(registry, actor="test")
    version, _ = reg.register("triage", {"provider": "openai", "model_id": "gpt-4o-mini-2024-07-18"})
    before = reg.store.read_raw("triage")
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "run", str(SUITE), "--candidate", f"triage@{version.number}"])
    err = capsys.readouterr().err
    assert exc.value.code == 5 and "OPENAI_API_KEY" in err and "openai" in err
    assert reg.store.read_raw("triage") == before  # no failing record replaces anything


def test_cli_writes_the_markdown_report(registry: str, prefect_harness: None, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.md"
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "run", str(SUITE), "--candidate", "triage@2", "--report", str(report)])
    assert exc.value.code == 0
    text = report.read_text()
    assert text.startswith("# Evaluation: triage@2 vs triage@1") and "all gates passed" in text
    assert "Student's t on the per-case differences" in text


def test_cli_writes_an_html_report_chosen_by_the_suffix(registry: str, prefect_harness: None, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.html"
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "run", str(SUITE), "--candidate", "triage@3", "--report", str(report)])
    assert exc.value.code in (0, 1, 3)
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<h1>Evaluation: triage@3 vs triage@1</h1>" in page
    assert "<h2>Metrics</h2>" in page and "<h2>Cases side by side</h2>" in page and 'class="regression"' in page
    assert "<script" not in page and "http" not in page.split("</head>")[0]  # self-contained


def test_report_shows_cases_side_by_side_and_eval_show_lists_them(registry: str, prefect_harness: None,
                                                                   tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.md"
    with pytest.raises(SystemExit):
        main(["--registry", registry, "eval", "run", str(SUITE), "--candidate", "triage@3", "--json",
              "--report", str(report)])
    out = json.loads(capsys.readouterr().out)
    text = report.read_text()
    assert "## Cases side by side" in text and "| triage@3 | score | triage@1 | score | diff |" in text
    worst = out["cases"][0]
    assert worst["regression"] and worst["diff"] < 0 and worst["baseline_output"] == worst["expected"].strip('"')
    kept = list((tmp_path / "cache" / "cases" / f"run={out['run_id']}").glob("suite=*/*.parquet"))
    assert {p.parent.name for p in kept} == {f"suite={out['suite_digest']}"} and len(kept) == 2
    model = open_registry(registry).get_model("triage")
    assert {p.stem for p in kept} == {model.version(1).digest, model.version(3).digest}
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "eval", "show", out["run_id"], "--cases", "--only-regressions", "--limit", "3"])
    assert exc.value.code in (0, None)
    shown = capsys.readouterr().out
    assert shown.count("REGRESSION ") == 3 and "candidate triage@3" in shown and "baseline  triage@1" in shown
    assert f"  triage@1: {worst['baseline_output']}" in shown
    with pytest.raises(SystemExit) as exc:
        main(["eval", "show", "no-such-run", "--cases"])
    assert exc.value.code == 2
