"""Providers: one interface over OpenAI, Anthropic, Bedrock and the local offline backend.

``complete(config, messages)`` applies the version's whole configuration (system prompt, temperature,
max_tokens, top_p, stop, tools, response format, params) and returns a ``Completion`` with tokens,
latency, cost (from the version's pricing), the provider's request id, finish reason (``tool_call`` for
every provider's tool calls) and structured ``ToolCall``s. ``acomplete`` goes through the providers' async
clients; ``stream`` / ``astream`` yield text deltas and then one event with the whole ``Completion``.
Transient failures (429, 5xx, timeouts, connection errors) are retried with exponential backoff and
jitter, honouring Retry-After; other 4xx fail at once. A per-provider limiter (requests/min and
tokens/min from MODELCTL_CONFIG ``rate_limits``) is shared by every call in the process.
API keys come only from the providers' environment variables; they are never stored or logged.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from registry.entities import ModelConfig, Pricing
from tasks.providers.base import (
    CallContext,
    Completion,
    PermanentProviderError,
    ProviderError,
    ProviderUnavailable,
    StreamEvent,
    ToolCall,
    TransientProviderError,
    acquire_async,
    estimate_tokens,
    limiter_for,
)

_MODULES = {"openai": "tasks.providers.openai_provider", "anthropic": "tasks.providers.anthropic_provider",
            "bedrock": "tasks.providers.bedrock_provider", "local": "tasks.providers.local_provider"}

__all__ = ["CallContext", "Completion", "PermanentProviderError", "ProviderError", "ProviderUnavailable",
           "StreamEvent", "ToolCall", "TransientProviderError", "acomplete", "astream", "complete", "embed",
           "stream", "warm_up"]


def _module(config: ModelConfig) -> Any:
    return importlib.import_module(_MODULES[config.provider])


def complete(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
             model: str | None = None, version: int | None = None) -> Completion:
    """One completion from the version's provider."""
    limiter_for(config.provider).acquire(estimate_tokens(messages, config))
    return _module(config).complete(config, messages, pricing, CallContext(model, version))  # type: ignore[no-any-return]


async def acomplete(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
                    model: str | None = None, version: int | None = None) -> Completion:
    """One completion through the provider's async client."""
    await acquire_async(config.provider, estimate_tokens(messages, config))
    return await _module(config).acomplete(config, messages, pricing, CallContext(model, version))  # type: ignore[no-any-return]


def stream(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
           model: str | None = None, version: int | None = None) -> Iterator[StreamEvent]:
    """Text deltas as they arrive, then one event carrying the whole ``Completion`` (usage, tool calls).

    Closing the iterator early closes the provider's connection.
    """
    limiter_for(config.provider).acquire(estimate_tokens(messages, config))
    return _module(config).stream(config, messages, pricing, CallContext(model, version))  # type: ignore[no-any-return]


def astream(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
            model: str | None = None, version: int | None = None) -> AsyncIterator[StreamEvent]:
    """``stream`` through the provider's async client (the rate limit is taken on the first step)."""
    return _limited(config, messages, _module(config).astream(config, messages, pricing, CallContext(model, version)))


async def _limited(config: ModelConfig, messages: list[dict[str, Any]],
                   events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    await acquire_async(config.provider, estimate_tokens(messages, config))
    try:
        async for event in events:
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]


def embed(config: ModelConfig, texts: list[str], *, model: str | None = None,
          version: int | None = None) -> list[list[float]]:
    """Embedding vectors from the version's provider."""
    module = _module(config)
    if not hasattr(module, "embed"):
        raise PermanentProviderError(f"{config.provider} has no embedding API in modelctl")
    limiter_for(config.provider).acquire(sum(len(t) for t in texts) // 4)
    return module.embed(config, texts, CallContext(model, version))  # type: ignore[no-any-return]


def warm_up(config: ModelConfig) -> None:
    """Make what a first call would make (the SDK client, a loaded artifact) before anything is timed.

    Raises:
        ProviderUnavailable: the provider cannot be called (no API key), named with its variable.
    """
    hook = getattr(_module(config), "warm_up", None)
    if hook is not None:
        hook(config)
