"""The local backend: deterministic, offline, and it never loads unverified artifact bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry.entities import ModelConfig
from registry.errors import InvalidInput
from tasks import local_models
from tasks.providers import complete, embed
from tasks.providers.base import RateLimiter

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
ARTIFACT = EXAMPLES / "models" / "ticket-classifier.json"


def classifier(uri: Path = ARTIFACT, sha: str | None = None) -> ModelConfig:
    sha = sha or hashlib.sha256(uri.read_bytes()).hexdigest()
    return ModelConfig(provider="local", model_id="tfidf-logreg-v1",
                       params={"artifact_uri": str(uri), "artifact_sha256": sha})


def test_committed_artifact_is_reproducible(tmp_path: Path) -> None:
    path, sha = local_models.train_text_classifier(EXAMPLES / "datasets" / "tickets_train.jsonl", tmp_path / "a.json")
    assert Path(path).read_bytes() == ARTIFACT.read_bytes()
    assert sha == hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()


def test_classifier_accuracy_on_the_disjoint_suite() -> None:
    rows = [json.loads(x) for x in (EXAMPLES / "suites" / "ticket-triage" / "tickets.jsonl").read_text().splitlines()]
    train = {json.loads(x)["input"] for x in (EXAMPLES / "datasets" / "tickets_train.jsonl").read_text().splitlines()}
    assert not train & {r["input"] for r in rows}
    model = local_models.load_classifier(str(ARTIFACT), hashlib.sha256(ARTIFACT.read_bytes()).hexdigest())
    predictions = model.predict([r["input"] for r in rows])
    accuracy = sum(p == r["expected"] for p, r in zip(predictions, rows, strict=True)) / len(rows)
    assert 0.85 <= accuracy < 1.0  # good, and honest: some tickets mention two topics
    assert complete(classifier(), [{"role": "user", "content": "my parcel never arrived"}]).text == "shipping"


def test_tampered_artifact_is_refused_before_parsing(tmp_path: Path) -> None:
    good_sha = hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()
    local_models._cache.clear()  # the cache is content-addressed: only verified bytes ever enter it
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(b"not json at all" + ARTIFACT.read_bytes()[15:])
    with pytest.raises(InvalidInput, match="digest mismatch"):
        local_models.load_classifier(str(ARTIFACT), "0" * 64)  # the right bytes, the wrong recorded digest
    with pytest.raises(InvalidInput, match="digest mismatch"):
        local_models.load_classifier(str(tampered), good_sha)


def test_lead_n_and_embeddings_are_deterministic() -> None:
    cfg = ModelConfig(provider="local", model_id="lead-3-v1", params={"sentences": 2})
    text = "Revenue rose 5%. Costs fell. Margins improved! The outlook is stable."
    assert complete(cfg, [{"role": "user", "content": text}]).text == "Revenue rose 5%. Costs fell."
    emb = ModelConfig(provider="local", model_id="hashing-embed-v1", params={"dimension": 64})
    a, b = embed(emb, ["billing question", "billing question"]), embed(emb, ["shipping delay"])
    assert a[0] == a[1] and len(a[0]) == 64 and a[0] != b[0]
    assert sum(x * x for x in a[0]) == pytest.approx(1.0)


def test_rate_limiter_spaces_requests_with_a_fake_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(60, 1000, clock=lambda: now[0], sleep=sleep)
    for _ in range(60):
        limiter.acquire(10)
    assert not slept  # a full bucket: 60 requests at once
    limiter.acquire(10)
    assert slept and sum(slept) == pytest.approx(1.0)  # then one request per second
    limiter.acquire(1000)  # the token bucket refills at 1000/min
    assert now[0] > 1.5
