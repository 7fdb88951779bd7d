"""The runner: cache hits and misses, repeats as real samples, a provider failing mid-run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from registry.entities import ModelConfig
from tasks.evaluation.cache import ResponseCache
from tasks.evaluation.compare import summarize
from tasks.evaluation.runner import Target, run_cases
from tasks.evaluation.suite import Case, ScorerSpec, Suite, parse_dataset
from tests.tasks.providers.fakes import FakeProvider, error_body, openai_chat

CASES = [Case(f"c{i}", f"ticket {i}", "billing") for i in range(12)]
SCORERS = [ScorerSpec(type="exact_match")]
TARGET = Target("triage", 1, "d" * 64, ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06"))


def test_cache_hits_and_misses(openai_env: FakeProvider, tmp_path: Path) -> None:
    cache = ResponseCache(str(tmp_path / "cache"))
    first = run_cases(TARGET, CASES, SCORERS, repeats=2, concurrency=4, cache=cache)
    assert len(openai_env.requests) == 24 and not any(r.cached for r in first)
    again = run_cases(TARGET, CASES, SCORERS, repeats=2, concurrency=4, cache=ResponseCache(str(tmp_path / "cache")))
    assert len(openai_env.requests) == 24 and all(r.cached for r in again)  # no provider calls
    assert [r.scores for r in again] == [r.scores for r in first]
    other = Target("triage", 2, "e" * 64, TARGET.config)
    run_cases(other, CASES[:3], SCORERS, cache=cache)
    assert len(openai_env.requests) == 27  # another digest misses


def test_provider_failing_mid_run_is_recorded_not_raised(openai_env: FakeProvider) -> None:
    openai_env.script.extend([(200, openai_chat(), {}, 0.0)] * 5)
    openai_env.script.extend([(400, error_body("invalid_request_error", "context too long"), {}, 0.0)] * 3)
    results = run_cases(TARGET, CASES, SCORERS, concurrency=1)
    failed = [r for r in results if r.error]
    assert len(results) == 12 and len(failed) == 3
    assert all(r.error_type == "PermanentProviderError" and "triage@1" in (r.error or "") for r in failed)
    suite = Suite(name="s", dataset="d", scorers=[{"type": "exact_match"}])
    summary = summarize("triage@1", TARGET.digest, results, suite)
    assert summary.metrics["error_rate"].value == 0.25 and summary.metrics["exact_match"].n == 9


def test_cases_carry_template_variables(openai_env: FakeProvider, tmp_path: Path) -> None:
    config = ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06", system_prompt="You serve {{ team }}.",
                         prompt_template="Ticket from {{ customer }}: {{ text }}")
    target = Target("triage", 3, "f" * 64, config)
    rows = [{"id": "v1", "variables": {"team": "billing", "customer": "Ada", "text": "charged twice"},
             "expected": "billing"},
            {"id": "v2", "variables": {"team": "billing", "customer": "Bo"}, "expected": "billing"}]
    data = tmp_path / "cases.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cases = parse_dataset(data.read_bytes(), str(data))
    results = run_cases(target, cases, SCORERS, cache=ResponseCache(str(tmp_path / "cache")))
    assert results[0].scores == {"exact_match": 1.0} and results[0].error is None
    assert openai_env.requests[-1]["body"]["messages"] == [
        {"role": "system", "content": "You serve billing."}, {"role": "user", "content": "Ticket from Ada: charged twice"}]
    assert results[1].error_type == "InvalidInput" and "'text' is undefined" in (results[1].error or "")
    assert len(openai_env.requests) == 1  # the undefined variable never reached the provider


def test_a_running_event_loop_is_not_a_problem(openai_env: FakeProvider) -> None:
    async def inside() -> list:
        return run_cases(TARGET, CASES[:4], SCORERS, concurrency=2)

    assert [r.output for r in asyncio.run(inside())] == ["billing"] * 4


class _Outage:
    """A ``local`` provider (async only) that is warmed, answers, refuses one case, then is unreachable."""

    name = "local"
    supports_embeddings = False

    def __init__(self, failure: Exception) -> None:
        self.failure = failure
        self.warmed = 0
        self.calls: list[str] = []

    def warm_up(self, config: ModelConfig) -> None:
        assert not self.calls, "warmed before any timed call"
        self.warmed += 1

    def complete(self, config: ModelConfig, messages: list, pricing: object, ctx: object) -> object:
        raise AssertionError("the runner uses the async client")

    def embed(self, config: ModelConfig, texts: list[str], ctx: object) -> list[list[float]]:
        raise AssertionError("never called")

    async def acomplete(self, config: ModelConfig, messages: list, pricing: object, ctx: object) -> object:
        from tasks.providers import Completion, PermanentProviderError

        text = messages[-1]["content"]
        self.calls.append(text)
        if text == "ticket 1":
            raise PermanentProviderError("bad request for this case")
        if text == "ticket 3":
            raise self.failure
        await asyncio.sleep(0.05)
        return Completion(text="billing", input_tokens=1, output_tokens=1, latency_ms=1.0, cost_usd=0.0,
                          request_id="r", finish_reason="stop", model_id=config.model_id)


def test_an_unavailable_or_unreachable_provider_stops_the_async_run() -> None:
    import pytest

    from tasks import providers
    from tasks.providers import ProviderUnavailable, TransientProviderError

    local = Target("triage", 1, "f" * 64, ModelConfig(provider="local", model_id="lead-3-v1"))
    for failure in (ProviderUnavailable("OPENAI_API_KEY is not set"), TransientProviderError("503 after retries")):
        stub = _Outage(failure)
        previous = providers.register_provider(stub)  # type: ignore[arg-type]
        try:
            with pytest.raises(type(failure)):
                run_cases(local, CASES, SCORERS, concurrency=2, progress=False)
            assert stub.warmed == 1
            assert len(stub.calls) < len(CASES)  # the queued cases were cancelled, not called
            stub.failure = RuntimeError("a per-case failure")  # anything else is recorded on its case
            stub.calls.clear()
            results = run_cases(local, CASES, SCORERS, concurrency=2, progress=False)
            errors = {r.case_id: r.error_type for r in results if r.error}
            assert errors == {"c1": "PermanentProviderError", "c3": "RuntimeError"} and len(results) == 12
        finally:
            assert previous is not None
            providers.register_provider(previous)
