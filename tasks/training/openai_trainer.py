"""Fine-tuning on OpenAI with the official SDK: upload, create, poll, record — resumable by key.

The job carries an idempotency key in ``metadata``; a re-run finds it with ``jobs.list(metadata=...)``
and attaches instead of uploading again or creating a second job. Uploaded files are named after the
dataset's sha256, so a crash between upload and job creation re-uses them too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from registry.entities import ModelConfig
from registry.errors import PolicyViolation, RegistryError
from tasks.providers.base import CallContext, with_retries
from tasks.training.artifacts import ArtifactStore
from tasks.training.train import TrainResult, TrainSpec, chat_jsonl, training_frame

log = logging.getLogger("modelctl.finetune.openai")
CUTOFF = date(2027, 1, 6)  # OpenAI stops accepting new fine-tuning jobs on this date
TERMINAL = ("succeeded", "failed", "cancelled")
KEY_FIELD = "modelctl_key"


class FineTuneJobFailed(RegistryError):
    """The provider ended the job as failed, cancelled or stopped: its message is the error."""

    exit_code = 5


def check_cutoff(today: date | None = None) -> None:
    """Refuse new OpenAI jobs on or after the cut-off date, naming the alternatives."""
    today = today or datetime.now(UTC).date()
    if today >= CUTOFF:
        raise PolicyViolation(f"refused: OpenAI stopped accepting new fine-tuning jobs on {CUTOFF.isoformat()}",
                              ["use --trainer local or --trainer bedrock"])


def _call(fn: Callable[[], Any], spec: TrainSpec) -> Any:
    import openai

    from tasks.providers.base import sdk_failure

    config = ModelConfig(provider="openai", model_id=spec.base_model)
    return with_retries(fn, lambda exc: sdk_failure(exc, openai), config, CallContext(model=spec.model))


def _file_id(client: Any, spec: TrainSpec, name: str, data: bytes) -> str:
    existing = _call(lambda: client.files.list(purpose="fine-tune"), spec)
    for f in getattr(existing, "data", []) or []:
        if f.filename == name and getattr(f, "status", "processed") != "error":
            return str(f.id)
    created = _call(lambda: client.files.create(file=(name, data, "application/jsonl"), purpose="fine-tune"), spec)
    return str(created.id)


def _method(spec: TrainSpec) -> dict[str, Any]:
    hp = {k: v for k, v in spec.hyperparameters.items() if k in ("n_epochs", "learning_rate_multiplier",
                                                                  "batch_size", "beta")}
    kind = spec.hyperparameters.get("method", "supervised")
    return {"type": kind, kind: {"hyperparameters": hp}}


def find_job(client: Any, spec: TrainSpec) -> Any | None:
    """The job already created for this spec's idempotency key, if any (newest first)."""
    page = _call(lambda: client.fine_tuning.jobs.list(metadata={KEY_FIELD: spec.idempotency_key()}, limit=10),
                 spec)
    jobs = [j for j in page.data if (j.metadata or {}).get(KEY_FIELD) == spec.idempotency_key()]
    return jobs[0] if jobs else None


def train_openai(spec: TrainSpec, store: ArtifactStore, *, client: Any = None, today: date | None = None,
                 poll_seconds: float = 10.0, on_event: Callable[[str], None] | None = None) -> TrainResult:
    """Create (or attach to) the fine-tuning job for ``spec`` and wait for it.

    Raises:
        PolicyViolation: on or after the cut-off date, before anything is uploaded.
        FineTuneJobFailed: the job failed or was cancelled (the provider's message).
    """
    if client is None:
        from tasks.providers.openai_provider import client as shared

        client = shared()
    say = on_event or log.info
    key = spec.idempotency_key()
    job = find_job(client, spec)
    attached = job is not None
    if job is None:
        check_cutoff(today)
        stem = f"modelctl-{spec.model}-{spec.dataset_sha256[:16]}"
        train_id = _file_id(client, spec, f"{stem}-train.jsonl",
                            chat_jsonl(training_frame(store, spec, "train"), spec.system_prompt))
        validation = training_frame(store, spec, "validation")
        val_id = (_file_id(client, spec, f"{stem}-validation.jsonl", chat_jsonl(validation, spec.system_prompt))
                  if len(validation) else None)
        kwargs: dict[str, Any] = {"model": spec.base_model, "training_file": train_id, "method": _method(spec),
                                  "suffix": spec.model[:18], "seed": spec.seed,
                                  "metadata": {KEY_FIELD: key, "modelctl_model": spec.model,
                                               "dataset_sha256": spec.dataset_sha256}}
        if val_id:
            kwargs["validation_file"] = val_id
        job = _call(lambda: client.fine_tuning.jobs.create(**kwargs), spec)
        say(f"created fine-tuning job {job.id} on {spec.base_model}")
    else:
        say(f"attached to existing fine-tuning job {job.id} ({job.status})")
    seen: set[str] = set()
    events: list[str] = []
    job_id = str(job.id)
    while True:
        page = _call(lambda: client.fine_tuning.jobs.list_events(job_id, limit=50), spec)
        for event in reversed(page.data):
            if event.id not in seen:
                seen.add(event.id)
                events.append(event.message)
                say(f"{job.id}: {event.message}")
        if job.status in TERMINAL:
            break
        time.sleep(poll_seconds)
        job = _call(lambda: client.fine_tuning.jobs.retrieve(job_id), spec)
    if job.status != "succeeded":
        error = getattr(job, "error", None)
        message = getattr(error, "message", None) or f"the job ended {job.status}"
        raise FineTuneJobFailed(f"OpenAI fine-tuning job {job.id} {job.status}: {message}")
    checkpoints = _call(lambda: client.fine_tuning.jobs.checkpoints.list(job_id), spec)
    return TrainResult(trainer="openai", job_id=job.id, status=job.status, base_model=spec.base_model,
                       provider="openai", model_id=str(job.fine_tuned_model), idempotency_key=key,
                       attached=attached, events=events,
                       checkpoints=[{"id": c.id, "step": c.step_number, "model": c.fine_tuned_model_checkpoint,
                                     "metrics": c.metrics.model_dump(exclude_none=True) if c.metrics else {}}
                                    for c in checkpoints.data])
