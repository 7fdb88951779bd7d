"""A fresh registry per test on every store backend: a local directory and S3 (moto over HTTP)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry.service import Registry, open_registry


@pytest.fixture(params=["file", "s3"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URI of an empty, initialised registry on each backend."""
    if request.param == "file":
        uri = str(tmp_path / "registry")
    else:
        bucket = request.getfixturevalue("s3_bucket")
        uri = f"s3://{bucket}/reg-{uuid.uuid4().hex[:6]}/"
    open_registry(uri).init()
    yield uri


@pytest.fixture
def reg(store_uri: str) -> Registry:
    return open_registry(store_uri, actor="tester")


def config(**overrides: Any) -> dict[str, Any]:
    """A strictly pinned configuration; override any field."""
    base: dict[str, Any] = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929",
                            "system_prompt": "Summarize concisely.", "temperature": 0.3, "max_tokens": 256}
    base.update(overrides)
    return base


def snapshot_bytes(uri: str) -> dict[str, bytes]:
    """Every stored byte of a registry (file or S3), to prove a refused command changed nothing."""
    if uri.startswith("s3://"):
        import boto3

        bucket, _, prefix = uri[5:].partition("/")
        s3 = boto3.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}
    root = Path(uri)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture
def uri(tmp_path: Path) -> str:
    """A file registry holding the bundled example seed (for CLI tests)."""
    from registry.seed import import_seed

    path = str(tmp_path / "reg")
    import_seed(open_registry(path), Path(__file__).resolve().parents[2] / "examples" / "model-registry.yaml")
    return path
