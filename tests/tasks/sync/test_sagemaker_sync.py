"""`modelctl sync sagemaker` against moto's server over HTTP (AWS_ENDPOINT_URL set by `s3_endpoint`)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from modelctl.cli import main
from registry.service import open_registry

CONFIG = {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "system_prompt": "Classify."}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def packages(sm, group: str) -> dict[int, dict]:  # type: ignore[no-untyped-def]
    out = {}
    for s in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]:
        d = sm.describe_model_package(ModelPackageName=s["ModelPackageArn"])
        out[int(d["CustomerMetadataProperties"]["modelctl.version"])] = d
    return out


def test_groups_packages_metadata_and_approval_status(tmp_path: Path, s3_bucket: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    name = "triage_v2." + uuid.uuid4().hex[:6]
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="alice")
    reg.init()
    for t in (0.0, 0.2):
        v, _ = reg.register(name, {**CONFIG, "temperature": t, "system_prompt": "Classify. " * 40})
        reg.record_eval(name, v.number, suite="triage", passed=True, scores={"accuracy": 0.9 + t / 10})
    reg.promote(name, 1, "production", reason="first")
    args = ("--registry", uri, "sync", "sagemaker", "--group-prefix", "mc-", "--metrics-s3", f"s3://{s3_bucket}/m")
    code, out, _ = run(capsys, *args, "--json")
    assert code == 0 and json.loads(out) | {"details": [], "check": False} == {"groups_created": 1, "packages_created": 2,
                                                               "packages_updated": 0, "details": [], "check": False}
    sm = boto3.client("sagemaker")
    group = "mc-" + name.replace("_", "-").replace(".", "-")
    assert sm.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupName"] == group
    pk = packages(sm, group)
    assert pk[1]["ModelApprovalStatus"] == "Approved" and pk[2]["ModelApprovalStatus"] == "PendingManualApproval"
    props = pk[2]["CustomerMetadataProperties"]
    record = open_registry(uri).get_model(name)
    assert props["modelctl.digest"] == record.version(2).digest and props["modelctl.model_id"] == "gpt-4o-2024-08-06"
    assert all(len(v) <= 256 for v in props.values())
    config = "".join(props[f"modelctl.config.{i}"] for i in range(int(props["modelctl.config.parts"])))
    assert json.loads(config) == record.version(2).config.model_dump(mode="json", exclude_none=True)
    assert props["modelctl.eval.score.accuracy"] == "0.92"
    metrics_uri = pk[2]["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, _, key = metrics_uri.removeprefix("s3://").partition("/")
    body = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert body == {"metrics": {"accuracy": 0.92}}

    assert run(capsys, *args, "--check")[0] == 0  # idempotent: nothing differs
    reg.promote(name, 2, "production", reason="ship")
    code, out, _ = run(capsys, *args, "--check")
    assert code == 3 and "would update" in out
    assert run(capsys, *args)[0] == 0
    pk = packages(sm, group)
    assert pk[1]["ModelApprovalStatus"] == "PendingManualApproval" and pk[2]["ModelApprovalStatus"] == "Approved"
    assert pk[1]["CustomerMetadataProperties"]["modelctl.stage"] == "archived"
    assert run(capsys, *args, "--check")[0] == 0
