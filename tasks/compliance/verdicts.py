"""The checklist's items and the values a compliance evaluation returns (verdicts with evidence)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "not-applicable"]
ITEMS: tuple[tuple[str, str], ...] = (
    ("registry", "In the registry with provider, version, purpose, status and owner"),
    ("pinned", "Production strictly pinned"),
    ("evaluation", "Structured evaluation of the serving digest"),
    ("controlled-rollout", "A/B test or canary for the last production change"),
    ("deprecation-plan", "Deprecation plan with a migration timeline"),
    ("deprecation-tracking", "Provider deprecation notices tracked"),
    ("fine-tune-pipeline", "Fine-tune lineage complete and on a retrain schedule"),
    ("release-process", "Last production change tracked in the release process"),
    ("embedding-migration", "Embedding change planned as a data migration"),
    ("monitored", "Monitored in production"),
)


@dataclass
class Verdict:
    """One checklist item for one model."""

    item: str
    number: int
    title: str
    status: Status
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelCompliance:
    """Every item for one model, and the version they were judged on."""

    model: str
    version: int | None
    environment: str | None
    serving: dict[str, int]
    items: list[Verdict]

    @property
    def status(self) -> str:
        return "fail" if any(v.status == "fail" for v in self.items) else "pass"


@dataclass
class ComplianceReport:
    """The checklist for every model evaluated."""

    now: str
    thresholds: dict[str, Any]
    models: list[ModelCompliance]

    @property
    def status(self) -> str:
        return "fail" if any(m.status == "fail" for m in self.models) else "pass"

    def to_dict(self) -> dict[str, Any]:
        failed = [f"{m.model}:{v.item}" for m in self.models for v in m.items if v.status == "fail"]
        return {"status": self.status, "now": self.now, "thresholds": self.thresholds,
                "items": [{"number": i + 1, "item": k, "title": t} for i, (k, t) in enumerate(ITEMS)],
                "failed": failed, "models": [{**asdict(m), "status": m.status} for m in self.models]}
