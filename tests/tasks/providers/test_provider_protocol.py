"""Providers are implementations of one protocol in a small registry, not modules found by string."""

from __future__ import annotations

import pytest

from registry.entities import ModelConfig, Pricing
from tasks import providers
from tasks.providers import CallContext, Completion, PermanentProviderError, Provider


class Stub:
    name = "local"
    supports_embeddings = False

    def complete(self, config: ModelConfig, messages: list, pricing: Pricing | None, ctx: CallContext) -> Completion:
        return Completion(text="stub", input_tokens=1, output_tokens=1, latency_ms=0.0, cost_usd=0.0,
                          request_id="r", finish_reason="stop", model_id=config.model_id)

    def embed(self, config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
        raise AssertionError("never called: supports_embeddings is False")


def test_built_in_providers_implement_the_protocol() -> None:
    for name in ("openai", "anthropic", "bedrock", "local"):
        assert isinstance(providers.provider_for(name), Provider)
    assert not providers.provider_for("anthropic").supports_embeddings


def test_a_registered_implementation_is_used_and_capabilities_are_declared() -> None:
    config = ModelConfig(provider="local", model_id="lead-3-v1")
    previous = providers.register_provider(Stub())
    try:
        assert providers.complete(config, [{"role": "user", "content": "x"}]).text == "stub"
        with pytest.raises(PermanentProviderError, match="no embedding API"):
            providers.embed(config, ["x"])
    finally:
        assert previous is not None
        providers.register_provider(previous)
    assert providers.complete(config, [{"role": "user", "content": "One. Two."}]).text == "One. Two."


def test_not_a_provider_is_refused() -> None:
    with pytest.raises(TypeError):
        providers.register_provider(object())  # type: ignore[arg-type]


def test_async_and_stream_delegate_to_the_module_and_fall_back_to_complete() -> None:
    import asyncio

    config = ModelConfig(provider="local", model_id="lead-3-v1")
    messages = [{"role": "user", "content": "One. Two."}]
    built_in = providers.provider_for("local")
    assert all(callable(getattr(built_in, m, None)) for m in ("acomplete", "stream", "astream", "warm_up"))

    async def collect() -> list[providers.StreamEvent]:
        return [e async for e in providers.astream(config, messages)]

    previous = providers.register_provider(Stub())  # complete only: no async or streaming methods
    try:
        assert asyncio.run(providers.acomplete(config, messages)).text == "stub"
        events = list(providers.stream(config, messages))
        assert [e.text for e in events[:-1]] == ["stub"] and events[-1].completion is not None
        events = asyncio.run(collect())
        assert [e.text for e in events[:-1]] == ["stub"] and events[-1].completion is not None
        providers.warm_up(config)  # optional hook: absent is fine
    finally:
        assert previous is not None
        providers.register_provider(previous)
    assert asyncio.run(providers.acomplete(config, messages)).text == "One. Two."
    streamed = list(providers.stream(config, messages))
    assert "".join(e.text for e in streamed) == "One. Two." and streamed[-1].completion is not None
