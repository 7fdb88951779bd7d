"""The artifact store reads and writes through the project's one blob layer, on disk and on S3 (moto)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from registry.errors import InvalidInput
from tasks.training.artifacts import ArtifactStore


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "artifacts"))
    bucket = request.getfixturevalue("s3_bucket")
    return ArtifactStore(f"s3://{bucket}/team/artifacts")


def _corrupt(store: ArtifactStore, uri: str) -> None:
    target = store.location(uri)
    if target.startswith("s3://"):
        bucket, _, key = target[5:].partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"tampered")
    else:
        Path(target).write_bytes(b"tampered")


def test_put_then_get_returns_the_same_bytes_under_a_content_address(store: ArtifactStore) -> None:
    uri, sha = store.put(b'{"text": "hello"}\n', ".jsonl")
    assert uri == f"artifacts://sha256/{sha[:2]}/{sha}.jsonl"
    assert store.get(uri) == b'{"text": "hello"}\n'
    assert store.put(b'{"text": "hello"}\n', ".jsonl") == (uri, sha)  # write-once: same address


def test_a_missing_artifact_names_the_store(store: ArtifactStore) -> None:
    with pytest.raises(InvalidInput, match="is not in the store"):
        store.get("artifacts://sha256/ab/" + "ab" * 32)


def test_a_tampered_artifact_is_refused(store: ArtifactStore) -> None:
    uri, _ = store.put(b"model weights")
    _corrupt(store, uri)
    with pytest.raises(InvalidInput, match="is corrupt"):
        store.get(uri)
