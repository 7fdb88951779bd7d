"""The fine-tune flow end to end under Prefect with the local trainer, offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.service import open_registry
from tests.tasks.training.conftest import register_classifier, ticket_rows, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "examples" / "suites" / "ticket-triage" / "suite.yaml"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, sub in (("REGISTRY", "registry"), ("ARTIFACTS", "artifacts"), ("LOG", "logs"), ("CACHE", "cache")):
        monkeypatch.setenv(f"MODELCTL_{key}", str(tmp_path / sub))
    register_classifier("tickets")
    register_classifier("other-tickets")
    reg = open_registry()
    v, _ = reg.register("other-tickets", {"provider": "local", "model_id": "lead-3-v1", "retrain_schedule": "monthly"})
    reg.record_eval("other-tickets", v.number, suite="smoke", passed=True)
    reg.promote("other-tickets", v.number, "production", reason="monthly model")
    return tmp_path


def _artifact(key: str) -> str | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return str(found[0].data) if found else None


def test_quarterly_run_fine_tunes_each_model_on_the_schedule_and_resumes(env: Path, prefect_harness: None) -> None:
    from flows.fine_tune import fine_tune
    from tasks.training.pipeline import FineTuneParams

    data = write_jsonl(env / "train.jsonl", ticket_rows(300))
    params = FineTuneParams(schedule="quarterly", data=data, suite=str(SUITE), min_samples=200)
    outcome = fine_tune(params)
    assert outcome == {"schedule": "quarterly", "models": {"tickets": "COMPLETED"}}
    model = open_registry().get_model("tickets")
    assert len(model.versions) == 2 and model.versions[1].lineage.trainer == "local"
    exp = model.running_experiment()
    assert exp is not None and exp.treatment == 2 and exp.split == 0.10
    report = _artifact("finetune-tickets")
    assert report and "Decision:** promote" in report and "## Split" in report and exp.id in report
    assert len(open_registry().get_model("other-tickets").versions) == 2  # monthly: untouched

    again = fine_tune(params.model_copy(update={"model": "tickets", "schedule": None}))
    assert again["version"] == 2 and again["created"] is False and again["experiment_id"] == exp.id
    assert len(open_registry().get_model("tickets").versions) == 2


def test_only_transient_failures_are_retried() -> None:
    from prefect.states import Failed

    from flows.fine_tune import transient
    from registry.errors import InvalidInput, PolicyViolation, StoreUnavailable
    from tasks.providers.base import TransientProviderError
    from tasks.training.openai_trainer import FineTuneJobFailed

    def retried(exc: Exception) -> bool:
        return transient(None, None, Failed(data=exc))

    assert retried(StoreUnavailable("s3 down")) and retried(TransientProviderError("429 after retries"))
    assert not retried(FineTuneJobFailed("job failed: invalid file"))
    assert not retried(PolicyViolation("too few samples")) and not retried(InvalidInput("bad row"))
