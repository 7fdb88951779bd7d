"""Training: the shared job description and result, the idempotency key, and the local trainer.

The local trainer (the offline default) fits the TF-IDF + logistic-regression classifier the local
provider serves, writes its JSON artifact to the artifact store (content-addressed) and reads it back
sha256-verified before the result names it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tasks.training.artifacts import ArtifactStore
from tasks.training.collect import input_text
from tasks.training.split import read_dataset

Trainer = Literal["local", "openai", "bedrock"]
TRAINERS: tuple[str, ...] = ("local", "openai", "bedrock")
LOCAL_BASE_MODEL = "tfidf-logreg-v1"
LOCAL_DEFAULTS: dict[str, Any] = {"c": 4.0, "max_iter": 2000}


class TrainSpec(BaseModel):
    """What to train: one model, one dataset, one trainer and its hyperparameters."""

    model_config = ConfigDict(frozen=True)
    model: str
    trainer: Trainer = "local"
    base_model: str
    dataset_uri: str
    dataset_sha256: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    system_prompt: str | None = None

    def idempotency_key(self) -> str:
        """Same model, trainer, base model, data and hyperparameters -> the same key (and the same job)."""
        text = json.dumps({"model": self.model, "trainer": self.trainer, "base_model": self.base_model,
                           "dataset_sha256": self.dataset_sha256, "hyperparameters": self.hyperparameters,
                           "seed": self.seed}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:40]


class TrainResult(BaseModel):
    """A finished training job and the configuration that serves its model."""

    trainer: str
    job_id: str
    status: str
    base_model: str
    provider: str
    model_id: str
    params: dict[str, Any] | None = None
    idempotency_key: str
    attached: bool = False
    events: list[str] = Field(default_factory=list)
    checkpoints: list[dict[str, Any]] = Field(default_factory=list)


def training_frame(store: ArtifactStore, spec: TrainSpec, split: str) -> Any:
    """One split of the (verified) dataset as a frame."""
    frame = read_dataset(store.get(spec.dataset_uri))
    return frame[frame["split"] == split].reset_index(drop=True)


def chat_jsonl(frame: Any, system_prompt: str | None) -> bytes:
    """OpenAI's chat fine-tuning format: system (optional), user, assistant per line."""
    lines = []
    for value, output in zip(frame["input"], frame["output"], strict=True):
        messages = list(value) if isinstance(value, list) else [{"role": "user", "content": value}]
        if system_prompt and messages[0].get("role") != "system":
            messages.insert(0, {"role": "system", "content": system_prompt})
        lines.append(json.dumps({"messages": [*messages, {"role": "assistant", "content": output}]},
                                ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def train_local(spec: TrainSpec, store: ArtifactStore) -> TrainResult:
    """Fit the local classifier on the train split; its artifact goes to the store, verified on read."""
    from tasks import local_models

    frame = training_frame(store, spec, "train")
    hp = {**LOCAL_DEFAULTS, **{k: v for k, v in spec.hyperparameters.items() if k in LOCAL_DEFAULTS}}
    data = local_models.classifier_artifact(
        [input_text(v) for v in frame["input"]], [str(x) for x in frame["output"]], c=float(hp["c"]),
        max_iter=int(hp["max_iter"]),
        trained_on={"file": spec.dataset_uri, "rows": len(frame), "sha256": spec.dataset_sha256})
    uri, sha = store.put(data, ".json")
    store.get(uri)  # read back and verify before anything names it
    return TrainResult(trainer="local", job_id=f"local-{sha[:16]}", status="succeeded",
                       base_model=spec.base_model, provider="local", model_id=LOCAL_BASE_MODEL,
                       params={"artifact_uri": uri, "artifact_sha256": sha}, idempotency_key=spec.idempotency_key(),
                       events=[f"trained on {len(frame)} examples; artifact {uri}"])
