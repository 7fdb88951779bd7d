"""Registry entities: frozen pydantic values. A store holds one ``ModelRecord`` per model."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from registry.layout import ENVIRONMENTS as ENVIRONMENTS
from registry.layout import NAME_PATTERN as NAME_PATTERN
from registry.layout import SCHEMA_VERSION as SCHEMA_VERSION

Environment = Literal["development", "staging", "production"]
Stage = Literal["development", "staging", "production", "archived"]
Provider = Literal["openai", "anthropic", "bedrock", "local"]
PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "bedrock", "local")
MODEL_KINDS: tuple[str, ...] = (
    "chat", "completion", "embedding", "classifier", "summarizer", "rerank", "moderation", "other",
)
CONFIG_FIELDS: tuple[str, ...] = (
    "provider", "model_id", "api_version", "system_prompt", "temperature", "max_tokens", "top_p",
    "stop", "tools", "response_format", "params", "prompt_template",
)


_FIXED_NOW: datetime | None = None


def set_clock(fixed: datetime | None) -> None:
    """Freeze the registry's clock (MODELCTL_NOW, set at the edge) for reproducible reports; None: real time."""
    global _FIXED_NOW
    if fixed is not None and fixed.tzinfo is None:
        fixed = fixed.replace(tzinfo=UTC)
    _FIXED_NOW = fixed.astimezone(UTC) if fixed is not None else None


def utcnow() -> datetime:
    """Timezone-aware now, in UTC (the frozen time when MODELCTL_NOW is set)."""
    return _FIXED_NOW or datetime.now(UTC)


class Frozen(BaseModel):
    """Base of every entity: immutable, unknown fields rejected."""

    # defer_build: a class builds its validator on first use, so a command pays only for the entities it touches
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False, defer_build=True)


class ConfigFields(Frozen):
    """The configuration fields (shared by ModelConfig and what a CONFIG.yaml holds)."""

    provider: Provider
    model_id: str = Field(min_length=1)
    api_version: str | None = None
    system_prompt: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] | None = None
    tools: list[str | dict[str, Any]] | None = None
    response_format: str | dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    prompt_template: str | None = None  # the user message, with {{ variables }}; inside the digest when set

    @field_validator("stop", "tools", "params", mode="after")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    @field_validator("tools", "response_format", "params", mode="after")
    @classmethod
    def _finite_and_shallow(cls, value: Any) -> Any:
        from registry.numbers import check_tree

        check_tree(value, "value")
        return value


_LOCAL_PARAMS: dict[str, tuple[str, float]] = {  # name -> (kind, minimum)
    "sentences": ("int", 1), "dimension": ("int", 1), "simulated_latency_ms": ("number", 0),
}


def check_local_params(params: dict[str, Any]) -> None:
    """The local provider's parameters have the right types and ranges (checked at registration)."""
    for name, (kind, minimum) in _LOCAL_PARAMS.items():
        if name not in params:
            continue
        value = params[name]
        ok_type = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or value < minimum:
            raise ValueError(f"params.{name} must be {'an integer' if kind == 'int' else 'a number'} "
                             f">= {minimum:g}, got {value!r}")
    sha = params.get("artifact_sha256")
    if sha is not None and not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise ValueError("params.artifact_sha256 must be 64 lowercase hex characters")


class ModelConfig(ConfigFields):
    """The configuration that determines a model's behaviour: everything inside the digest."""

    def canonical_json(self) -> str:
        """Sorted-key compact JSON of the configuration fields, null fields dropped."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True,
                          separators=(",", ":"))

    def digest(self) -> str:
        """sha256 (64 lowercase hex) of the canonical configuration."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()


class Pricing(Frozen):
    """USD per million tokens."""

    input_per_1m: float = Field(ge=0)
    output_per_1m: float = Field(default=0.0, ge=0)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Cost in USD of one request."""
        return (input_tokens * self.input_per_1m + output_tokens * self.output_per_1m) / 1_000_000


class Lineage(Frozen):
    """Where a version came from: base model, fine-tune job, training data and its hash."""

    base_model: str | None = None
    fine_tune_id: str | None = None
    training_data: str | None = None
    training_data_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    hyperparameters: dict[str, Any] | None = None
    training_date: date | None = None
    parent_version: int | None = None
    trainer: str | None = None
    manifest: dict[str, Any] | None = None
    evaluation: dict[str, Any] | None = None


class VersionMetadata(Frozen):
    """What changed and why, lineage, pricing, embedding facts: metadata outside the digest."""

    description: str | None = None
    lineage: Lineage | None = None
    pricing: Pricing | None = None
    dimension: int | None = Field(default=None, gt=0)
    corpus_size: int | None = Field(default=None, ge=0)
    corpus_avg_tokens: int | None = Field(default=None, gt=0)
    retrain_schedule: str | None = None
    deployed_date: date | None = None
    notes: str | None = None
    tags: dict[str, str] | None = None


class Version(VersionMetadata):
    """One immutable registered version: configuration plus metadata.

    ``stage`` and ``deprecated`` are lifecycle state kept beside the immutable part.
    """

    number: int = Field(ge=1)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    config: ModelConfig
    created_at: datetime
    created_by: str
    stage: Stage = "development"
    deprecated: bool = False


class EnvPointer(Frozen):
    """An environment's current version and its rollback target."""

    version: int | None = None
    previous: int | None = None
    updated_at: datetime | None = None
    updated_by: str | None = None
    forced: bool = False
    reason: str | None = None


class EvalRecord(Frozen):
    """An evaluation result on one configuration digest; the latest per digest decides the gate."""

    digest: str
    version: int | None = None
    suite: str
    suite_digest: str | None = None
    suite_uri: str | None = None  # where the suite was read from: the default of a requested re-evaluation
    passed: bool
    decision: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    gates: dict[str, Any] = Field(default_factory=dict)
    baseline: str | None = None
    flow_run_id: str | None = None
    source: Literal["manual", "flow", "cli", "import"] = "manual"
    time: datetime
    actor: str


class AnalysisRecord(Frozen):
    """One A/B or canary analysis stored on its experiment."""

    time: datetime
    decision: str
    reasons: list[str] = Field(default_factory=list)
    figures: dict[str, Any] = Field(default_factory=dict)
    flow_run_id: str | None = None


class Experiment(Frozen):
    """An A/B test or canary of one model's production traffic."""

    id: str
    kind: Literal["ab", "canary"] = "ab"
    control: int
    treatment: int
    split: float = Field(ge=0, le=1)
    salt: str
    status: Literal["running", "stopped", "shipped", "rolled_back"] = "running"
    started_at: datetime
    ends_at: datetime | None = None
    stopped_at: datetime | None = None
    primary_metric: str = "quality_score"
    guardrails: dict[str, float] = Field(default_factory=dict)
    min_effect: float = 0.01
    min_samples: int | None = None
    max_days: float | None = None
    steps: list[float] | None = None
    step_index: int = 0
    step_started_at: datetime | None = None  # the current step's window starts here (canaries)
    step_min_samples: int | None = None
    forced: bool = False
    reason: str | None = None
    analyses: list[AnalysisRecord] = Field(default_factory=list)


PLAN_STATUSES: tuple[str, ...] = ("none-announced", "announced", "deprecated", "retired", "migrated")
TIMELINE_FIELDS: tuple[str, ...] = ("announced", "soft_deadline", "hard_deadline", "not_before", "date_kind")
MIGRATION_FIELDS: tuple[str, ...] = ("eval_status", "migration_steps", "estimated_effort", "cost_impact",
                                     "quality_impact")


def nest_plan_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """A plan written flat (schema 2, old exports, keyword arguments) in the seed's nested shape:
    ``timeline: {announced, soft_deadline, hard_deadline, ...}``, ``migration: {target, eval_status, ...}``."""
    flat = set(TIMELINE_FIELDS) | set(MIGRATION_FIELDS) | {"replacement"}
    if not flat & set(doc):
        return doc
    out = {k: v for k, v in doc.items() if k not in flat}
    timeline = dict(doc.get("timeline") or {})
    migration = dict(doc.get("migration") or {})
    for key in TIMELINE_FIELDS:
        if key in doc:
            timeline[key] = doc[key]
    for key in MIGRATION_FIELDS:
        if key in doc:
            migration[key] = doc[key]
    if "replacement" in doc:
        migration["target"] = doc["replacement"]
        if doc["replacement"] is not None:
            migration.setdefault("target_source", "provider")
    out["timeline"], out["migration"] = timeline, migration
    return out


class PlanTimeline(Frozen):
    """When: announced, soft deadline (warnings), hard deadline (removed by the provider), or a floor."""

    announced: date | None = None
    soft_deadline: date | None = None
    hard_deadline: date | None = None
    not_before: date | None = None
    date_kind: Literal["exact", "floor", "unknown"] = "unknown"


class PlanMigration(Frozen):
    """Where to: the target model, its evaluation, the steps, effort, cost and quality impact."""

    target: str | None = None
    target_version: int | None = None
    target_source: Literal["provider", "same-family", "staging"] | None = None
    eval_status: Literal["pending", "running", "passed", "failed"] = "pending"
    migration_steps: list[str] = Field(default_factory=list)
    estimated_effort: str | None = None
    cost_impact: str | None = None
    quality_impact: str | None = None


class LifecycleFacts(Frozen):
    """What the scan knows of a provider model's lifecycle, with where each fact came from."""

    release_date: date | None = None  # the snapshot date in a dated model id
    minimum_availability: date | None = None  # the provider's "not sooner than" where published
    litellm_deprecation_date: date | None = None
    sources: list[str] = Field(default_factory=list)


class DeprecationPlan(Frozen):
    """A migration plan for one provider model used by a registered model (the seed's shape).

    ``none-announced`` plans cover models in use that no provider has deprecated: lifecycle facts, a
    review date and a proposed migration target, refreshed by every scan.
    """

    model_id: str
    provider: str | None = None
    status: Literal["none-announced", "announced", "deprecated", "retired", "migrated"] = "announced"
    severity: Literal["info", "warning", "critical"] = "info"
    timeline: PlanTimeline = Field(default_factory=PlanTimeline)
    migration: PlanMigration = Field(default_factory=PlanMigration)
    lifecycle: LifecycleFacts | None = None
    review_date: date | None = None
    affected_versions: list[int] = Field(default_factory=list)
    source: str | None = None
    notes: str | None = None
    updated_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _nested(cls, data: Any) -> Any:
        return nest_plan_fields(data) if isinstance(data, dict) else data

    @property
    def hard_deadline(self) -> date | None:
        return self.timeline.hard_deadline

    @property
    def soft_deadline(self) -> date | None:
        return self.timeline.soft_deadline

    @property
    def not_before(self) -> date | None:
        return self.timeline.not_before

    @property
    def date_kind(self) -> str:
        return self.timeline.date_kind

    @property
    def announced(self) -> date | None:
        return self.timeline.announced

    @property
    def replacement(self) -> str | None:
        return self.migration.target

    @property
    def eval_status(self) -> str:
        return self.migration.eval_status


class HistoryEvent(Frozen):
    """One change, written in the same atomic write as the change itself."""

    id: str
    time: datetime
    actor: str
    action: str
    model: str
    version: int | None = None
    reason: str | None = None
    forced: bool = False
    before: Any = None
    after: Any = None


class ApprovalVote(Frozen):
    """One reviewer's answer to a pending promotion."""

    actor: str
    time: datetime
    decision: Literal["approve", "reject"]
    reason: str | None = None


class ApprovalRequest(Frozen):
    """A promotion into a protected environment, waiting for ``required`` approvals by other actors."""

    id: str
    environment: Environment
    version: int
    requested_by: str
    requested_at: datetime
    reason: str
    required: int = Field(ge=1)
    forced: bool = False
    votes: list[ApprovalVote] = Field(default_factory=list)
    status: Literal["pending", "approved", "rejected", "superseded"] = "pending"
    closed_at: datetime | None = None

    def approvers(self) -> list[str]:
        """Distinct actors who approved, in order."""
        return list(dict.fromkeys(v.actor for v in self.votes if v.decision == "approve"))


class EnvApprovalRule(Frozen):
    """How many approvals an environment's promotions need, and when a pending request is stale."""

    approvals: int = Field(default=0, ge=0)
    stale_after_days: int = Field(default=7, ge=1)


class ApprovalPolicy(Frozen):
    """The registry's approval policy per environment, with the history of its changes."""

    environments: dict[Environment, EnvApprovalRule] = Field(default_factory=dict)
    history: list[HistoryEvent] = Field(default_factory=list)

    def required(self, environment: str) -> int:
        """Approvals a promotion into ``environment`` needs (0: none)."""
        rule = self.environments.get(environment)  # type: ignore[call-overload]
        return rule.approvals if rule else 0


class ModelRecord(Frozen):
    """Everything the registry knows about one model: the unit of atomic writes."""

    schema_version: int = SCHEMA_VERSION
    name: str = Field(pattern=NAME_PATTERN)
    purpose: str | None = None
    owner: str | None = None
    kind: str = "chat"
    capture_content: bool = False
    versions: list[Version] = Field(default_factory=list)
    environments: dict[str, EnvPointer] = Field(default_factory=dict)
    evaluations: list[EvalRecord] = Field(default_factory=list)
    experiments: list[Experiment] = Field(default_factory=list)
    deprecation_plans: list[DeprecationPlan] = Field(default_factory=list)
    approval_requests: list[ApprovalRequest] = Field(default_factory=list)
    history: list[HistoryEvent] = Field(default_factory=list)

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in MODEL_KINDS:
            raise ValueError(f"unknown kind {value!r}; one of {', '.join(MODEL_KINDS)}")
        return value

    def version(self, number: int) -> Version | None:
        """The version with this number, or None."""
        if 1 <= number <= len(self.versions) and self.versions[number - 1].number == number:
            return self.versions[number - 1]
        return next((v for v in self.versions if v.number == number), None)

    def by_digest(self, digest: str) -> Version | None:
        """The version with this configuration digest, or None."""
        return next((v for v in self.versions if v.digest == digest), None)

    def env_version(self, environment: str) -> int | None:
        """The version number an environment points at."""
        pointer = self.environments.get(environment)
        return pointer.version if pointer else None

    def recorded_suite(self) -> str | None:
        """The suite path or URI of the newest evaluation that recorded one (any version)."""
        return next((r.suite_uri for r in reversed(self.evaluations) if r.suite_uri), None)

    def latest_eval(self, digest: str) -> EvalRecord | None:
        """The newest evaluation record for a digest: it decides the promotion gate."""
        records = [r for r in self.evaluations if r.digest == digest]
        return records[-1] if records else None

    def pending_approvals(self) -> list[ApprovalRequest]:
        """Promotions waiting for approval."""
        return [r for r in self.approval_requests if r.status == "pending"]

    def running_experiment(self) -> Experiment | None:
        """The experiment currently splitting production traffic, if any."""
        return next((e for e in self.experiments if e.status == "running"), None)
