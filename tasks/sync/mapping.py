"""What every external registry receives: one pure mapping of a model's versions and environments."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from registry.entities import ENVIRONMENTS, ModelRecord, Version


@dataclass(frozen=True)
class ExportedVersion:
    """One version as an external registry sees it: flat string metadata plus the evaluation scores."""

    number: int
    digest: str
    description: str
    metadata: dict[str, str]
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportedModel:
    """One model: metadata, versions, and the version each environment serves."""

    name: str
    description: str
    metadata: dict[str, str]
    versions: list[ExportedVersion]
    environments: dict[str, int]


def compact(value: Any) -> str:
    """Sorted-key compact JSON (stable, so that an unchanged value compares equal)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def artifact_refs(v: Version) -> dict[str, str]:
    """A fine-tune's stored artifacts by file name: the trained model, the dataset and the manifest."""
    refs: dict[str, str] = {}
    params = v.config.params or {}
    if str(params.get("artifact_uri", "")).startswith("artifacts://"):
        refs["model" + _suffix(params["artifact_uri"])] = params["artifact_uri"]
    lineage = v.lineage
    if lineage is not None and (lineage.training_data or "").startswith("artifacts://"):
        refs["dataset" + _suffix(str(lineage.training_data))] = str(lineage.training_data)
    manifest_uri = (lineage.manifest or {}).get("manifest_uri") if lineage is not None else None
    if isinstance(manifest_uri, str) and manifest_uri.startswith("artifacts://"):
        refs["manifest" + _suffix(manifest_uri)] = manifest_uri
    return refs


def _suffix(uri: str) -> str:
    name = uri.rsplit("/", 1)[-1]
    return name[name.index("."):] if "." in name else ""


def export_version(record: ModelRecord, v: Version) -> ExportedVersion:
    """Digest, provider, model id, the full configuration, lineage and the latest evaluation of ``v``."""
    cfg = v.config
    meta: dict[str, str] = {"version": str(v.number), "digest": v.digest, "provider": cfg.provider,
                            "model_id": cfg.model_id, "config": cfg.canonical_json(), "stage": v.stage,
                            "deprecated": str(v.deprecated).lower(), "created_by": v.created_by,
                            "created_at": v.created_at.isoformat()}
    for key, value in cfg.model_dump(mode="json", exclude_none=True).items():
        if key not in ("provider", "model_id"):
            meta[f"config.{key}"] = value if isinstance(value, str) else compact(value)
    if v.lineage is not None:
        meta["lineage"] = compact(v.lineage.model_dump(mode="json", exclude_none=True))
    if v.pricing is not None:
        meta["pricing"] = compact(v.pricing.model_dump(mode="json"))
    artifacts = artifact_refs(v)
    if artifacts:
        meta["artifacts"] = compact(artifacts)
    latest = record.latest_eval(v.digest)
    scores: dict[str, float] = {}
    if latest is not None:
        meta.update({"eval.suite": latest.suite, "eval.passed": str(latest.passed).lower(),
                     "eval.decision": latest.decision or "", "eval.time": latest.time.isoformat()})
        scores = dict(latest.scores)
        meta.update({f"eval.score.{k}": repr(float(s)) for k, s in sorted(scores.items())})
    return ExportedVersion(number=v.number, digest=v.digest, description=v.description or "", metadata=meta,
                           scores=scores)


def export_model(record: ModelRecord) -> ExportedModel:
    """The exported form of one model."""
    meta = {k: str(getattr(record, k)) for k in ("owner", "purpose", "kind") if getattr(record, k)}
    return ExportedModel(name=record.name, description=record.purpose or "", metadata=meta,
                         versions=[export_version(record, v) for v in record.versions],
                         environments={e: n for e in ENVIRONMENTS if (n := record.env_version(e))})
