"""Sync to the SageMaker Model Registry: a Model Package Group per model, a Model Package per version.

The configuration, lineage and evaluation go in ``CustomerMetadataProperties`` (string values of at most
256 characters, so long values are split into numbered parts); the evaluation scores also go in
``ModelMetrics`` when a metrics S3 prefix is given. ``ModelApprovalStatus`` is ``Approved`` for the
production version and ``PendingManualApproval`` otherwise. SageMaker numbers packages itself; the
``modelctl.version`` property ties each package to its modelctl version. Idempotent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from registry.entities import ModelRecord
from registry.errors import InvalidInput
from tasks.sync.mapping import ExportedModel, ExportedVersion, export_model

VALUE_LIMIT = 256
MAX_PROPERTIES = 50


def group_name(prefix: str, model: str) -> str:
    """A valid Model Package Group name: letters, digits and hyphens, at most 63 characters."""
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", f"{prefix}{model}").strip("-")
    if not name or len(name) > 63:
        raise InvalidInput(f"cannot make a Model Package Group name from {prefix!r} + {model!r}",
                           field="group_prefix")
    return name


def properties(v: ExportedVersion) -> dict[str, str]:
    """CustomerMetadataProperties of one version (split values; the configuration always kept whole)."""
    out: dict[str, str] = {}
    priority = ["version", "digest", "provider", "model_id", "config", "lineage", "eval.suite", "eval.passed",
                "eval.decision"]
    keys = priority + sorted(k for k in v.metadata if k not in priority and not k.startswith("config."))
    for key in keys:
        value = v.metadata.get(key)
        if value is None:
            continue
        name = f"modelctl.{key}"[:128]
        if len(value) <= VALUE_LIMIT:
            out[name] = value
        else:
            parts = [value[i:i + VALUE_LIMIT] for i in range(0, len(value), VALUE_LIMIT)]
            out[f"{name}.parts"] = str(len(parts))
            out.update({f"{name}.{i}": p for i, p in enumerate(parts)})
    if len(out) > MAX_PROPERTIES:  # keep the identity and configuration, drop the least important
        out = dict(list(out.items())[:MAX_PROPERTIES - 1]) | {"modelctl.truncated": "true"}
    return out


@dataclass
class SageMakerReport:
    """What a sync did (or, with ``check``, would do)."""

    groups_created: int = 0
    packages_created: int = 0
    packages_updated: int = 0
    details: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"groups_created": self.groups_created, "packages_created": self.packages_created,
                "packages_updated": self.packages_updated, "details": self.details}


def _status(want: ExportedModel, n: int) -> str:
    return "Approved" if want.environments.get("production") == n else "PendingManualApproval"


def _existing(sm: Any, group: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for page in sm.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
        for summary in page["ModelPackageSummaryList"]:
            desc = sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            props = desc.get("CustomerMetadataProperties") or {}
            if "modelctl.version" in props:
                out[int(props["modelctl.version"])] = desc
    return out


def _metrics(s3: Any, metrics_prefix: str | None, want: ExportedModel, v: ExportedVersion) -> dict[str, Any]:
    if not metrics_prefix or not v.scores:
        return {}
    bucket, _, prefix = metrics_prefix.removeprefix("s3://").partition("/")
    key = f"{prefix.rstrip('/')}/{want.name}/{v.number}-{v.digest[:12]}.json".lstrip("/")
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({"metrics": v.scores}, sort_keys=True).encode(),
                  ContentType="application/json")
    return {"ModelMetrics": {"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                             "S3Uri": f"s3://{bucket}/{key}"}}}}


def sync_sagemaker(records: list[ModelRecord], *, group_prefix: str = "", metrics_prefix: str | None = None,
                   check: bool = False, client: Any = None, s3: Any = None) -> SageMakerReport:
    """Bring the SageMaker Model Registry in line with ``records``; with ``check``, only report."""
    import boto3

    sm = client or boto3.client("sagemaker")
    s3 = s3 or (boto3.client("s3") if metrics_prefix else None)
    report = SageMakerReport()
    groups = {g["ModelPackageGroupName"] for page in sm.get_paginator("list_model_package_groups").paginate()
              for g in page["ModelPackageGroupSummaryList"]}
    for record in records:
        want = export_model(record)
        group = group_name(group_prefix, want.name)
        if group not in groups:
            report.groups_created += 1
            report.details.append(f"create group {group}")
            if not check:
                sm.create_model_package_group(ModelPackageGroupName=group,
                                              ModelPackageGroupDescription=(want.description or want.name)[:1024],
                                              Tags=[{"Key": "modelctl.model", "Value": want.name}])
        have = _existing(sm, group) if group in groups else {}
        for v in want.versions:
            props, status = properties(v), _status(want, v.number)
            current = have.get(v.number)
            if current is None:
                report.packages_created += 1
                report.details.append(f"create {group} package for @{v.number} ({status})")
                if not check:
                    sm.create_model_package(ModelPackageGroupName=group,
                                            ModelPackageDescription=(v.description or f"{want.name}@{v.number}")[:1024],
                                            ModelApprovalStatus=status, CustomerMetadataProperties=props,
                                            **_metrics(s3, metrics_prefix, want, v))
                continue
            old_props = current.get("CustomerMetadataProperties") or {}
            if old_props == props and current.get("ModelApprovalStatus") == status:
                continue
            report.packages_updated += 1
            report.details.append(f"update {group} package for @{v.number} ({status})")
            if not check:
                removed = [k for k in old_props if k not in props]
                sm.update_model_package(ModelPackageArn=current["ModelPackageArn"], ModelApprovalStatus=status,
                                        CustomerMetadataProperties=props,
                                        **({"CustomerMetadataPropertiesToRemove": removed} if removed else {}))
    return report
