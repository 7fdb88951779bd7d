"""Fine-tuning on Amazon Bedrock (boto3 model customization), resumable by ``clientRequestToken``.

Training and validation data go to the artifact store, which must then be an ``s3://`` prefix; the
same idempotency key as the other trainers is the request token, so a re-run gets the same job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from registry.errors import InvalidInput, PolicyViolation, StoreUnavailable
from tasks.training.artifacts import ArtifactStore
from tasks.training.openai_trainer import FineTuneJobFailed
from tasks.training.train import TrainResult, TrainSpec, training_frame

log = logging.getLogger("modelctl.finetune.bedrock")
TERMINAL = ("Completed", "Failed", "Stopped")
_HP_NAMES = {"n_epochs": "epochCount", "learning_rate_multiplier": "learningRateMultiplier",
             "batch_size": "batchSize"}


def bedrock_client(region: str | None = None) -> Any:
    """A boto3 ``bedrock`` control-plane client."""
    import boto3

    return boto3.client("bedrock", region_name=region)


def _aws(fn: Callable[[], Any], what: str) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", str(exc))
        if code in ("ValidationException", "ResourceNotFoundException", "AccessDeniedException"):
            raise InvalidInput(f"Bedrock {what}: {code}: {message}", field="base_model") from exc
        raise StoreUnavailable(f"Bedrock {what} failed: {code}: {message}") from exc
    except BotoCoreError as exc:
        raise StoreUnavailable(f"Bedrock {what} unreachable: {exc}") from exc


def check_base_model(client: Any, base_model: str) -> None:
    """Refuse a base model whose lifecycle is LEGACY (Bedrock is retiring it)."""
    details = _aws(lambda: client.get_foundation_model(modelIdentifier=base_model), "get_foundation_model")
    status = details.get("modelDetails", {}).get("modelLifecycle", {}).get("status")
    if status == "LEGACY":
        raise PolicyViolation(f"refused: Bedrock base model {base_model} is LEGACY (scheduled for retirement)",
                              ["choose an ACTIVE base model with --base-model"])


def _records(frame: Any) -> bytes:
    lines = [json.dumps({"prompt": v if isinstance(v, str) else json.dumps(v), "completion": o},
                        ensure_ascii=False, separators=(",", ":"))
             for v, o in zip(frame["input"], frame["output"], strict=True)]
    return ("\n".join(lines) + "\n").encode()


def train_bedrock(spec: TrainSpec, store: ArtifactStore, *, role_arn: str | None, client: Any = None,
                  poll_seconds: float = 30.0, on_event: Callable[[str], None] | None = None) -> TrainResult:
    """Create (or re-attach to) the customization job and wait for the custom model ARN."""
    if not store.s3:
        raise InvalidInput("the bedrock trainer needs the artifact store on S3 (MODELCTL_ARTIFACTS=s3://...)",
                           field="MODELCTL_ARTIFACTS")
    if not role_arn:
        raise InvalidInput("the bedrock trainer needs a service role: set MODELCTL_BEDROCK_ROLE_ARN",
                           field="MODELCTL_BEDROCK_ROLE_ARN")
    client = client or bedrock_client()
    say = on_event or log.info
    check_base_model(client, spec.base_model)
    key = spec.idempotency_key()
    train_uri, _ = store.put(_records(training_frame(store, spec, "train")), ".jsonl")
    validation = training_frame(store, spec, "validation")
    kwargs: dict[str, Any] = {
        "jobName": f"modelctl-{spec.model}-{key[:12]}"[:63], "customModelName": f"{spec.model}-ft-{key[:12]}"[:63],
        "roleArn": role_arn, "clientRequestToken": key, "baseModelIdentifier": spec.base_model,
        "customizationType": "FINE_TUNING", "trainingDataConfig": {"s3Uri": store.location(train_uri)},
        "outputDataConfig": {"s3Uri": store.location(train_uri).rsplit("/sha256/", 1)[0] + f"/bedrock-output/{key}/"},
        "hyperParameters": {_HP_NAMES.get(k, k): str(v) for k, v in spec.hyperparameters.items()
                            if k in _HP_NAMES},
        "customModelTags": [{"key": "modelctl-model", "value": spec.model}],
    }
    if len(validation):
        val_uri, _ = store.put(_records(validation), ".jsonl")
        kwargs["validationDataConfig"] = {"validators": [{"s3Uri": store.location(val_uri)}]}
    created = _aws(lambda: client.create_model_customization_job(**kwargs), "create_model_customization_job")
    arn = created["jobArn"]
    say(f"customization job {arn}")
    while True:
        job = _aws(lambda: client.get_model_customization_job(jobIdentifier=arn), "get_model_customization_job")
        status = job["status"]
        say(f"{arn}: {status}")
        if status in TERMINAL:
            break
        time.sleep(poll_seconds)
    if status != "Completed":
        raise FineTuneJobFailed(f"Bedrock customization job {arn} {status}: "
                                f"{job.get('failureMessage') or 'no message from the provider'}")
    model_arn = job.get("outputModelArn") or job.get("outputModelName")
    return TrainResult(trainer="bedrock", job_id=arn, status=status, base_model=spec.base_model,
                       provider="bedrock", model_id=str(model_arn), idempotency_key=key,
                       events=[f"{arn}: {status}"])
