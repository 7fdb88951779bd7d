"""Model-backed scorers through registered versions: LLM-as-judge (pinned, cached) and embedding similarity;
the response cache on S3."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import InvalidInput
from registry.service import open_registry
from tasks.evaluation.cache import ResponseCache
from tasks.evaluation.scorers import ScoringContext, score_case
from tasks.evaluation.suite import Case, ScorerSpec
from tests.tasks.providers.fakes import FakeProvider, openai_chat


@pytest.fixture
def registry(tmp_path: Path) -> str:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri)
    reg.init()
    reg.register("judge", {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "temperature": 0.0})
    reg.register("judge", {"provider": "openai", "model_id": "gpt-4o"})  # v2: an alias, not pinned
    reg.register("embedder", {"provider": "local", "model_id": "hashing-embed-v1", "params": {"dimension": 128}})
    reg.record_eval("embedder", 1, suite="s", passed=True)
    reg.promote("embedder", 1, "production", reason="x")
    return uri


def test_llm_judge_uses_a_pinned_version_and_its_own_cache(registry: str, tmp_path: Path,
                                                           openai_env: FakeProvider) -> None:
    openai_env.script.append((200, openai_chat("Score: 4"), {}, 0.0))
    spec = ScorerSpec(type="llm_judge", judge="judge@1", rubric="Is it concise?", scale=[1, 5])
    ctx = ScoringContext(registry_uri=registry, cache=ResponseCache(str(tmp_path / "judge-cache"), "judge"))
    case = Case("c1", "Summarize the report", "Sales rose.")
    assert score_case([spec], "Sales rose 5%.", case, ctx) == {"llm_judge": 0.75}
    prompt = openai_env.requests[-1]["body"]["messages"][-1]["content"]
    assert "Is it concise?" in prompt and "Sales rose 5%." in prompt
    assert score_case([spec], "Sales rose 5%.", case, ctx) == {"llm_judge": 0.75}
    assert len(openai_env.requests) == 1  # the second grading came from the judge cache
    with pytest.raises(InvalidInput, match="not strictly pinned"):
        score_case([ScorerSpec(type="llm_judge", judge="judge@2")], "x", case, ctx)
    with pytest.raises(InvalidInput, match="pinned version"):
        score_case([ScorerSpec(type="llm_judge", judge="judge@production")], "x", case, ctx)


def test_embedding_similarity_through_a_registered_model(registry: str) -> None:
    spec = ScorerSpec(type="embedding_similarity", model="embedder@production")
    ctx = ScoringContext(registry_uri=registry)
    same = score_case([spec], "refund my double charge", Case("a", "q", "refund my double charge"), ctx)
    other = score_case([spec], "parcel never arrived", Case("b", "q", "refund my double charge"), ctx)
    assert same["embedding_similarity"] == pytest.approx(1.0) and other["embedding_similarity"] < 0.5


def test_response_cache_on_s3(s3_bucket: str) -> None:
    cache = ResponseCache(f"s3://{s3_bucket}/eval-cache")
    assert cache.get("d" * 64, "input", 0) is None
    cache.put("d" * 64, "input", 0, {"text": "billing"})
    again = ResponseCache(f"s3://{s3_bucket}/eval-cache")
    assert again.get("d" * 64, "input", 0) == {"text": "billing"} and again.get("d" * 64, "input", 1) is None
