"""`modelctl sync mlflow` against a real MLflow server: models, versions, tags, aliases, idempotence,
drift when an alias is moved by hand."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.service import open_registry
from tasks.sync.mlflow_sync import MlflowRest

pytestmark = pytest.mark.timeout(600)  # the session's MLflow server may take minutes to import on a busy box

CONFIG = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929", "system_prompt": "Summarize."}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def registry(tmp_path: Path) -> tuple[str, str]:
    """A registry with one model: @1 production, @2 staging (fine-tuned, evaluated), @3 development."""
    name = f"summ-{uuid.uuid4().hex[:6]}"
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="alice")
    reg.init()
    reg.register(name, {**CONFIG, "temperature": 0.3, "owner": "team-a", "purpose": "summaries"})
    reg.register(name, {**CONFIG, "temperature": 0.1, "lineage": {"base_model": "claude-sonnet-4-5",
                                                                  "training_data": "s3://b/train.jsonl"}})
    reg.register(name, {**CONFIG, "temperature": 0.5, "system_prompt": "x" * 12000})
    reg.record_eval(name, 1, suite="s", passed=True, scores={"rouge": 0.41})
    reg.record_eval(name, 2, suite="s", passed=True, scores={"rouge": 0.44, "error_rate": 0.0})
    reg.promote(name, 1, "production", reason="first")
    reg.promote(name, 2, "staging", reason="candidate")
    reg.promote(name, 3, "development", reason="try")
    return uri, name


def test_sync_creates_versions_tags_and_aliases_then_changes_nothing(
        registry: tuple[str, str], mlflow_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    uri, name = registry
    code, out, _ = run(capsys, "--registry", uri, "sync", "mlflow", "--tracking-uri", mlflow_uri, name, "--json")
    report = json.loads(out)
    assert code == 0 and report["created_models"] == 1 and report["created_versions"] == 3

    remote = MlflowRest(mlflow_uri).read_all({name})[name]
    assert remote.tags["modelctl.owner"] == "team-a" and remote.tags["modelctl.purpose"] == "summaries"
    record = open_registry(uri).get_model(name)
    assert remote.aliases == {"production": remote.versions[1][0], "staging": remote.versions[2][0],
                              "development": remote.versions[3][0]}
    tags = remote.versions[2][1]
    v2 = record.version(2)
    assert tags["modelctl.digest"] == v2.digest and tags["modelctl.provider"] == "anthropic"
    assert tags["modelctl.model_id"] == "claude-sonnet-4-5-20250929"
    assert json.loads(tags["modelctl.config"]) == v2.config.model_dump(mode="json", exclude_none=True)
    assert json.loads(tags["modelctl.lineage"])["training_data"] == "s3://b/train.jsonl"
    assert tags["modelctl.eval.score.rouge"] == "0.44" and tags["modelctl.eval.passed"] == "true"
    long = remote.versions[3][1]  # a 12k-character prompt is split across tags and joins back whole
    parts = int(long["modelctl.config.parts"])
    joined = "".join(long[f"modelctl.config.{i}"] for i in range(parts))
    assert json.loads(joined)["system_prompt"] == "x" * 12000

    code, out, _ = run(capsys, "--registry", uri, "sync", "mlflow", "--tracking-uri", mlflow_uri, name, "--json")
    assert code == 0 and json.loads(out)["writes"] == 0
    assert run(capsys, "--registry", uri, "sync", "mlflow", "--tracking-uri", mlflow_uri, name, "--check")[0] == 0
    assert MlflowRest(mlflow_uri).read_all({name})[name] == remote  # nothing was written


def test_drift_is_reported_and_reset_and_promotions_move_aliases(
        registry: tuple[str, str], mlflow_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    uri, name = registry
    args = ("--registry", uri, "sync", "mlflow", "--tracking-uri", mlflow_uri, name)
    assert run(capsys, *args)[0] == 0
    client = MlflowRest(mlflow_uri)
    mv3 = client.read_all({name})[name].versions[3][0]
    client.call("POST", "/registered-models/alias", {"name": name, "alias": "production", "version": mv3})

    code, _, err = run(capsys, *args, "--check")
    assert code == 3 and f"alias 'production' was moved by hand to @3 (MLflow version {mv3})" in err
    assert client.read_all({name})[name].aliases["production"] == mv3  # --check writes nothing
    code, _, err = run(capsys, *args)
    assert code == 0 and "moved by hand" in err
    remote = client.read_all({name})[name]
    assert remote.aliases["production"] == remote.versions[1][0]
    assert run(capsys, *args, "--check")[0] == 0

    open_registry(uri, actor="bob").promote(name, 2, "production", reason="ship")
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0 and json.loads(out)["drift"] == []
    remote = client.read_all({name})[name]
    assert remote.aliases["production"] == remote.versions[2][0]
    assert remote.versions[1][1]["modelctl.stage"] == "archived"


def test_fine_tune_artifacts_are_logged_on_the_synced_version(tmp_path: Path, mlflow_uri: str,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import httpx

    from tasks.training.artifacts import ArtifactStore

    store = ArtifactStore(str(tmp_path / "artifacts"))
    monkeypatch.setenv("MODELCTL_ARTIFACTS", str(tmp_path / "artifacts"))
    model_uri, model_sha = store.put(b'{"weights": [1, 2, 3]}', ".json")
    data_uri, data_sha = store.put(b'{"text": "a", "label": "b"}\n', ".jsonl")
    manifest_uri, _ = store.put(b'{"rows": 1}', ".json")
    name = f"ft-{uuid.uuid4().hex[:6]}"
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="trainer")
    reg.init()
    reg.register(name, {"provider": "local", "model_id": "tfidf-logreg-v1",
                        "params": {"artifact_uri": model_uri, "artifact_sha256": model_sha},
                        "lineage": {"base_model": "tfidf", "training_data": data_uri, "training_data_sha256": data_sha,
                                    "manifest": {"rows": 1, "manifest_uri": manifest_uri}}})
    assert run(capsys, "--registry", uri, "sync", "mlflow", "--tracking-uri", mlflow_uri, name)[0] == 0

    mv = MlflowRest(mlflow_uri).call("GET", "/model-versions/get", params={"name": name, "version": "1"})
    run_id = mv["model_version"]["run_id"]
    assert run_id and mv["model_version"]["source"].startswith("mlflow-artifacts:")
    listed = MlflowRest(mlflow_uri).call("GET", "/artifacts/list", params={"run_id": run_id})
    assert sorted(f["path"] for f in listed["files"]) == ["dataset.jsonl", "manifest.json", "model.json"]
    path = mv["model_version"]["source"].split(":", 1)[1].lstrip("/")
    got = httpx.get(f"{mlflow_uri}/api/2.0/mlflow-artifacts/artifacts/{path}/model.json").content
    assert got == b'{"weights": [1, 2, 3]}'
    assert run(capsys, "--registry", uri, "sync", "mlflow", "--tracking-uri", mlflow_uri, name, "--check")[0] == 0
