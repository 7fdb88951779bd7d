"""Bedrock model customization through botocore's Stubber (moto has no model customization)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pandas as pd
import pytest
from botocore.stub import ANY, Stubber

from registry.errors import PolicyViolation
from tasks.training.artifacts import ArtifactStore
from tasks.training.bedrock_trainer import train_bedrock
from tasks.training.openai_trainer import FineTuneJobFailed
from tasks.training.split import split_rows
from tasks.training.train import TrainSpec
from tests.tasks.training.conftest import ticket_rows

BASE = "amazon.titan-text-express-v1"
ROLE = "arn:aws:iam::123456789012:role/bedrock-ft"
JOB = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/abc123"
MODEL_ARN = "arn:aws:bedrock:us-east-1:123456789012:custom-model/tickets-ft/xyz"


def _spec(store: ArtifactStore) -> TrainSpec:
    result = split_rows(pd.DataFrame(ticket_rows(50)), seed=0, ratios=(0.8, 0.1, 0.1), stratify=True)
    uri, sha = store.put(result.canonical, ".jsonl")
    return TrainSpec(model="tickets", trainer="bedrock", base_model=BASE, dataset_uri=uri, dataset_sha256=sha,
                     hyperparameters={"n_epochs": 2})


def _foundation(status: str) -> dict:
    return {"modelDetails": {"modelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{BASE}", "modelId": BASE,
                             "modelLifecycle": {"status": status}}}


def _job(status: str, **extra: object) -> dict:
    return {"jobArn": JOB, "jobName": "modelctl-tickets", "outputModelName": "tickets-ft", "roleArn": ROLE,
            "creationTime": datetime(2026, 11, 1, tzinfo=UTC), "status": status,
            "baseModelArn": f"arn:aws:bedrock:us-east-1::foundation-model/{BASE}",
            "trainingDataConfig": {"s3Uri": "s3://b/train.jsonl"}, "validationDataConfig": {"validators": []},
            "outputDataConfig": {"s3Uri": "s3://b/out/"}, **extra}


@pytest.fixture
def store(s3_bucket: str) -> ArtifactStore:
    return ArtifactStore(f"s3://{s3_bucket}/artifacts")


def test_creates_with_the_idempotency_token_and_waits_for_the_model(store: ArtifactStore) -> None:
    spec = _spec(store)
    client = boto3.client("bedrock", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("get_foundation_model", _foundation("ACTIVE"), {"modelIdentifier": BASE})
        stub.add_response("create_model_customization_job", {"jobArn": JOB}, {
            "jobName": ANY, "customModelName": ANY, "roleArn": ROLE, "clientRequestToken": spec.idempotency_key(),
            "baseModelIdentifier": BASE, "customizationType": "FINE_TUNING", "trainingDataConfig": ANY,
            "validationDataConfig": ANY, "outputDataConfig": ANY, "hyperParameters": {"epochCount": "2"},
            "customModelTags": ANY})
        stub.add_response("get_model_customization_job", _job("InProgress"), {"jobIdentifier": JOB})
        stub.add_response("get_model_customization_job", _job("Completed", outputModelArn=MODEL_ARN),
                          {"jobIdentifier": JOB})
        result = train_bedrock(spec, store, role_arn=ROLE, client=client, poll_seconds=0)
        stub.assert_no_pending_responses()
    assert (result.job_id, result.model_id, result.provider) == (JOB, MODEL_ARN, "bedrock")
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=store.bucket, Prefix="artifacts/sha256/")["Contents"]]
    assert len(keys) == 3  # dataset, train records, validation records


def test_a_legacy_base_model_is_refused_before_anything_is_written(store: ArtifactStore) -> None:
    spec = _spec(store)
    client = boto3.client("bedrock", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("get_foundation_model", _foundation("LEGACY"), {"modelIdentifier": BASE})
        with pytest.raises(PolicyViolation, match="LEGACY"):
            train_bedrock(spec, store, role_arn=ROLE, client=client, poll_seconds=0)
        stub.assert_no_pending_responses()
    keys = boto3.client("s3").list_objects_v2(Bucket=store.bucket, Prefix="artifacts/")["Contents"]
    assert len(keys) == 1  # only the dataset the test put there


def test_a_failed_job_ends_with_its_failure_message(store: ArtifactStore) -> None:
    spec = _spec(store)
    client = boto3.client("bedrock", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response("get_foundation_model", _foundation("ACTIVE"))
        stub.add_response("create_model_customization_job", {"jobArn": JOB})
        stub.add_response("get_model_customization_job", _job("Failed", failureMessage="Insufficient data rows"))
        with pytest.raises(FineTuneJobFailed, match="Insufficient data rows"):
            train_bedrock(spec, store, role_arn=ROLE, client=client, poll_seconds=0)
