"""The fine-tune pipeline's values: flow parameters, the resolved plan, and what each stage returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from tasks.training.schedules import RetrainSchedule
from tasks.training.train import Trainer
from tasks.training.validate import DEFAULT_MIN_SAMPLES

EXIT_CODES = {"promote": 0, "reject": 1, "inconclusive": 3}


class FineTuneParams(BaseModel):
    """What to fine-tune (the flow's parameters, rendered as a form in the Prefect UI)."""

    model: str | None = Field(default=None, description="Registered model; empty with `schedule` = every "
                                                              "model on that retrain schedule")
    schedule: RetrainSchedule | None = None
    trainer: Trainer = "local"
    base_model: str | None = None
    data: str | None = Field(default=None, description="JSONL/CSV/Parquet path or s3:// URI (default: request log)")
    suite: str | None = Field(default=None, description="Suite YAML (default: the suite recorded on the model)")
    min_samples: int = Field(default=DEFAULT_MIN_SAMPLES, ge=1)
    epochs: int | None = Field(default=None, ge=1)
    learning_rate_multiplier: float | None = Field(default=None, gt=0)
    split: str = "0.8,0.1,0.1"
    seed: int = 0
    ab_split: float = Field(default=0.10, gt=0, le=1)
    ab_days: float = Field(default=7, gt=0)
    dry_run: bool = False
    registry: str | None = None


class Plan(BaseModel):
    """Everything resolved up front (settings read once, at the edge): the inputs of every stage."""

    model: str
    trainer: Trainer
    base_model: str
    data: str | None
    log_uri: str
    artifacts: str
    registry: str | None
    suite: str
    kind: str
    capture_content: bool
    production: int | None
    system_prompt: str | None
    min_samples: int
    token_limit: int | None
    ratios: tuple[float, float, float]
    seed: int
    hyperparameters: dict[str, Any]
    redact_patterns: list[str]
    ab_split: float
    ab_days: float
    dry_run: bool
    bedrock_role_arn: str | None = None


class Prepared(BaseModel):
    """The split dataset in the artifact store and what each step saw and dropped."""

    dataset_uri: str | None
    manifest_uri: str | None
    manifest: dict[str, Any]
    validation: dict[str, Any]


class Evaluation(BaseModel):
    """The candidate's evaluation against production on the suite."""

    decision: Literal["promote", "reject", "inconclusive"]
    reasons: list[str]
    suite: str
    suite_digest: str
    scores: dict[str, float]
    gates: dict[str, Any]
    baseline: str | None


class FineTuneResult(BaseModel):
    """The pipeline's outcome: the CLI's JSON and the flow's return value."""

    model: str
    decision: Literal["promote", "reject", "inconclusive"] | None
    version: int | None = None
    created: bool = False
    dataset: dict[str, Any]
    split: dict[str, int]
    job: dict[str, Any] | None = None
    experiment_id: str | None = None
    reasons: list[str] = Field(default_factory=list)
    manifest_uri: str | None = None
    evaluation: Evaluation | None = None
    dry_run: bool = False

    def exit_code(self) -> int:
        return 0 if self.dry_run or self.decision is None else EXIT_CODES[self.decision]
