"""The local pipeline in-process and through the CLI: lineage, the A/B defaults, refusals that leave no trace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.service import open_registry
from tasks.training.artifacts import ArtifactStore
from tasks.training.pipeline import FineTuneParams, run_pipeline
from tests.tasks.training.conftest import ticket_rows, write_jsonl


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_local_pipeline_registers_with_lineage_and_starts_the_seed_ab(model: str, env: Path, suite_path: str) -> None:
    data = write_jsonl(env / "train.jsonl", ticket_rows(400))
    result = run_pipeline(FineTuneParams(model=model, data=data, suite=suite_path, min_samples=300))
    assert result.decision == "promote" and result.version == 2 and result.exit_code() == 0
    assert result.split == {"train": 320, "validation": 40, "test": 40}
    version = open_registry().get_version(model, 2)
    lineage = version.lineage
    assert lineage.trainer == "local" and lineage.base_model == "tfidf-logreg-v1"
    assert lineage.fine_tune_id == result.job["id"] and lineage.parent_version == 1
    assert lineage.training_data == result.dataset["uri"] and lineage.training_data_sha256 == result.dataset["sha256"]
    assert lineage.manifest["splits"] == result.split and lineage.manifest["seed"] == 0
    assert lineage.hyperparameters == {"c": 4.0, "max_iter": 2000} and lineage.training_date is not None
    assert lineage.evaluation["decision"] == "promote" and lineage.evaluation["baseline"] == f"{model}@1"
    params = version.config.params
    assert params["artifact_uri"].startswith("artifacts://sha256/")  # never an absolute local path
    store = ArtifactStore(str(env / "artifacts"))
    assert json.loads(store.get(params["artifact_uri"]))["format"] == "modelctl-tfidf-logreg/1"
    assert store.get(result.dataset["uri"]) and store.get(result.manifest_uri)
    exp = open_registry().get_model(model).running_experiment()
    assert exp is not None and exp.split == 0.10 and exp.max_days == 7 and (exp.control, exp.treatment) == (1, 2)
    evaluation = open_registry().get_model(model).latest_eval(version.digest)
    assert evaluation.passed and evaluation.source == "flow"


def test_cli_json_and_exit_codes(model: str, env: Path, suite_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_jsonl(env / "train.jsonl", ticket_rows(300))
    code, out, _ = _cli(["finetune", "run", model, "--data", data, "--suite", suite_path, "--min-samples", "200",
                         "--dry-run", "--json"], capsys)
    dry = json.loads(out)
    assert code == 0 and dry["decision"] is None and dry["version"] is None and dry["dataset"]["rows"] == 300
    assert len(open_registry().get_model(model).versions) == 1 and not (env / "artifacts").exists()

    code, out, _ = _cli(["finetune", "run", model, "--data", data, "--suite", suite_path, "--min-samples", "200",
                         "--ab-split", "0.2", "--ab-days", "3", "--json"], capsys)
    got = json.loads(out)
    assert code == 0 and got["decision"] == "promote" and got["version"] == 2
    assert set(got["dataset"]) >= {"sha256", "rows", "dropped"}
    assert set(got["dataset"]["dropped"]) == {"unverified", "duplicates", "contaminated", "redacted"}
    assert set(got["split"]) == {"train", "validation", "test"} and got["job"]["trainer"] == "local"
    exp = open_registry().get_model(model).running_experiment()
    assert got["experiment_id"] == exp.id and exp.split == 0.2 and exp.max_days == 3 and got["reasons"]

    code, _, err = _cli(["finetune", "run", model, "--data", data, "--suite", suite_path], capsys)
    assert code == 1 and "fewer than the minimum of 5000" in err and "Traceback" not in err


def test_refusals_leave_no_trace(model: str, env: Path, suite_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ticket_rows(50)
    rows[9]["input"] = None
    bad = write_jsonl(env / "bad.jsonl", rows)
    code, _, err = _cli(["finetune", "run", model, "--data", bad, "--suite", suite_path, "--min-samples", "10"], capsys)
    assert code == 2 and "bad.jsonl:10" in err and "'input'" in err and "Traceback" not in err
    code, _, err = _cli(["finetune", "run", "nope", "--suite", suite_path], capsys)
    assert code == 2 and "unknown model" in err
    code, _, err = _cli(["finetune", "run", model, "--data", str(env / "missing.jsonl"), "--suite", suite_path], capsys)
    assert code == 2 and "missing.jsonl" in err
    code, _, err = _cli(["finetune", "run", model, "--data", bad, "--suite", suite_path, "--split", "0.5,0.5"], capsys)
    assert code == 2 and "--split" in err
    code, _, err = _cli(["finetune", "run", model, "--trainer", "bedrock", "--base-model", "amazon.nova-micro-v1:0",
                         "--data", bad, "--suite", suite_path], capsys)
    assert code == 2 and "MODELCTL_ARTIFACTS on S3" in err  # checked before the data is even read
    record = open_registry().get_model(model)
    assert len(record.versions) == 1 and not record.experiments and not (env / "artifacts").exists()


def test_collects_from_the_request_log_by_default(model: str, env: Path, suite_path: str) -> None:
    from tasks.gateway import Gateway
    from tasks.request_log import RequestLogWriter

    writer = RequestLogWriter(str(env / "logs"))
    gateway = Gateway(writer=writer)
    for row in ticket_rows(40):
        done = gateway.complete(model, [{"role": "user", "content": row["input"]}], user_id="u1")
        gateway.feedback(done.request_id, label=row["output"], verified_by="agent-7")
    writer.close()
    result = run_pipeline(FineTuneParams(model=model, suite=suite_path, min_samples=30, dry_run=True))
    assert result.dataset["rows"] == 40 and result.dataset["source"] == str(env / "logs")
