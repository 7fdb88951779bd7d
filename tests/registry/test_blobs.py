"""The one blob layer: the same reads and writes for a path, file:// and s3://."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.blobs import BlobError, read_bytes, write_bytes


@pytest.fixture(params=["path", "file", "s3"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "path":
        return str(tmp_path / "blobs")
    if request.param == "file":
        return f"file://{tmp_path}/blobs"
    return f"s3://{request.getfixturevalue('s3_bucket')}/blobs"


def test_round_trip_and_missing(base: str) -> None:
    write_bytes(f"{base}/a/b.json", b'{"x": 1}')
    assert read_bytes(f"{base}/a/b.json") == b'{"x": 1}'
    write_bytes(f"{base}/a/b.json", b"2")
    assert read_bytes(f"{base}/a/b.json") == b"2"
    with pytest.raises(FileNotFoundError):
        read_bytes(f"{base}/nothing.json")


def test_unsupported_scheme_and_directory(tmp_path: Path) -> None:
    with pytest.raises(BlobError, match="unsupported URI scheme"):
        read_bytes("ftp://host/x")
    with pytest.raises(BlobError, match="directory"):
        read_bytes(str(tmp_path))


def test_cache_dataset_and_artifact_take_every_uri(s3_bucket: str, tmp_path: Path) -> None:
    from tasks.evaluation.cache import ResponseCache
    from tasks.evaluation.suite import load_suite
    from tasks.local_models import read_artifact

    for uri in (str(tmp_path / "c"), f"file://{tmp_path}/c2", f"s3://{s3_bucket}/cache"):
        cache = ResponseCache(uri)
        assert cache.get("d" * 64, "in", 0) is None
        cache.put("d" * 64, "in", 0, {"text": "out"})
        assert ResponseCache(uri).get("d" * 64, "in", 0) == {"text": "out"}
    write_bytes(f"s3://{s3_bucket}/data/cases.jsonl", b'{"id": "1", "input": "x", "expected": "y"}\n')
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"name: s\ndataset: s3://{s3_bucket}/data/cases.jsonl\nscorers: [{{type: exact_match}}]\n")
    assert [c.id for c in load_suite(suite).cases] == ["1"]
    write_bytes(f"file://{tmp_path}/artifact.json", b"{}")
    assert read_artifact(f"file://{tmp_path}/artifact.json") == b"{}"


def test_damaged_cache_entry_is_a_miss(tmp_path: Path) -> None:
    from tasks.evaluation.cache import ResponseCache, cache_key

    cache = ResponseCache(str(tmp_path))
    cache.put("d" * 64, "in", 0, {"text": "out"})
    key = cache_key("d" * 64, "in", 0)
    (tmp_path / "responses" / key[:2] / f"{key}.json").write_bytes(b'{"text": "ou')
    assert cache.get("d" * 64, "in", 0) is None and cache.damaged == 1
