"""The real openai SDK against a loopback fine-tuning server: success, failure, cancel, crash and resume."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from registry.errors import PolicyViolation
from registry.service import open_registry
from tasks.providers.base import TransientProviderError
from tasks.training.openai_trainer import FineTuneJobFailed
from tasks.training.pipeline import FineTuneParams, run_pipeline
from tests.tasks.providers.fakes import FakeFineTuning
from tests.tasks.training.conftest import suite_rows, ticket_rows, write_jsonl

TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeFineTuning]:
    fake = FakeFineTuning()
    yield fake
    fake.close()


@pytest.fixture
def openai(server: FakeFineTuning, monkeypatch: pytest.MonkeyPatch) -> FakeFineTuning:
    server.reset(answers={r["input"]: r["expected"] for r in suite_rows()})
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    return server


@pytest.fixture
def params(model: str, env: Path, suite_path: str) -> FineTuneParams:
    data = write_jsonl(env / "train.jsonl", ticket_rows(200))
    return FineTuneParams(model=model, trainer="openai", base_model="gpt-4o-mini-2024-07-18", data=data,
                          suite=suite_path, min_samples=100, epochs=3)


def test_success_registers_and_starts_the_ab_test(openai: FakeFineTuning, params: FineTuneParams) -> None:
    result = run_pipeline(params, today=TODAY, poll_seconds=0)
    assert result.decision == "promote" and result.version == 2 and result.exit_code() == 0, result.reasons
    assert result.job["id"] == "ftjob-0001" and result.job["status"] == "succeeded"
    assert result.job["checkpoints"][0]["step"] == 10
    assert openai.count("POST", "/files") == 2 and openai.count("POST", "/fine_tuning/jobs") == 1
    request = openai.job_requests[0]
    assert request["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}
    assert request["metadata"]["modelctl_key"] and request["validation_file"] and request["suffix"] == "tickets"
    version = open_registry().get_version("tickets", 2)
    assert version.config.provider == "openai" and version.config.model_id.startswith("ft:gpt-4o-mini-2024-07-18:")
    assert version.lineage.fine_tune_id == "ftjob-0001" and version.lineage.trainer == "openai"
    assert version.lineage.hyperparameters == {"n_epochs": 3}
    assert version.lineage.evaluation["decision"] == "promote"
    exp = open_registry().get_model("tickets").running_experiment()
    assert exp is not None and (exp.control, exp.treatment) == (1, 2) and exp.id == result.experiment_id


def test_job_failing_validation_ends_with_the_providers_message(openai: FakeFineTuning,
                                                                params: FineTuneParams) -> None:
    openai.outcome = "failed"
    with pytest.raises(FineTuneJobFailed, match="invalid training file. Line 3: missing assistant") as err:
        run_pipeline(params, today=TODAY, poll_seconds=0)
    assert err.value.exit_code == 5
    assert len(open_registry().get_model("tickets").versions) == 1


def test_cancelled_job_ends_the_run(openai: FakeFineTuning, params: FineTuneParams) -> None:
    openai.outcome = "cancelled"
    with pytest.raises(FineTuneJobFailed, match="ftjob-0001 cancelled"):
        run_pipeline(params, today=TODAY, poll_seconds=0)
    assert len(open_registry().get_model("tickets").versions) == 1


def test_crash_after_the_job_was_created_then_resume_attaches(openai: FakeFineTuning,
                                                              params: FineTuneParams) -> None:
    openai.fail_retrieves = 10  # the provider goes away while the job runs: the run dies (exit 5)
    with pytest.raises(TransientProviderError):
        run_pipeline(params, today=TODAY, poll_seconds=0)
    assert openai.count("POST", "/fine_tuning/jobs") == 1
    openai.fail_retrieves = 0
    result = run_pipeline(params, today=TODAY, poll_seconds=0)
    assert result.job["attached"] is True and result.job["id"] == "ftjob-0001" and result.version == 2
    assert openai.count("POST", "/fine_tuning/jobs") == 1 and openai.count("POST", "/files") == 2
    again = run_pipeline(params, today=TODAY, poll_seconds=0)  # a third run changes nothing
    assert (again.version, again.created, again.experiment_id) == (2, False, result.experiment_id)
    assert len(open_registry().get_model("tickets").versions) == 2


def test_refuses_on_the_cutoff_date_before_uploading(openai: FakeFineTuning, params: FineTuneParams) -> None:
    with pytest.raises(PolicyViolation, match="2027-01-06") as err:
        run_pipeline(params, today=date(2027, 1, 6), poll_seconds=0)
    assert "--trainer local or --trainer bedrock" in str(err.value)
    assert openai.count("POST", "/files") == 0 and openai.count("POST", "/fine_tuning/jobs") == 0
