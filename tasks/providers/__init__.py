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

import asyncio
import importlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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

__all__ = ["CallContext", "Completion", "PermanentProviderError", "Provider", "ProviderError", "ProviderUnavailable",
           "StreamEvent", "ToolCall", "TransientProviderError", "acomplete", "astream", "complete", "embed",
           "provider_for", "register_provider", "stream", "warm_up"]


@runtime_checkable
class Provider(Protocol):
    """One provider backend: chat completions and, when ``supports_embeddings``, embeddings.

    Optional methods, looked up with ``getattr``: ``warm_up(config)``; ``acomplete``, ``stream`` and
    ``astream`` (same arguments as ``complete``) for the async client and streaming. A provider without
    them is called through ``complete`` (in a worker thread for ``acomplete``; one delta for a stream).
    """

    @property
    def name(self) -> str:
        """The provider name used in configurations (``openai``, ``local``, ...)."""
        ...

    @property
    def supports_embeddings(self) -> bool:
        """Whether ``embed`` may be called."""
        ...

    def complete(self, config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                 ctx: CallContext) -> Completion:
        """One completion under the version's whole configuration."""
        ...

    def embed(self, config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
        """Embedding vectors (only called when ``supports_embeddings``)."""
        ...


_LOADED: dict[str, Any] = {}  # provider modules whose import has completed


@dataclass(frozen=True)
class _ModuleProvider:
    """A built-in provider implemented by a module of plain functions (imported on first use, so that an
    SDK is only loaded when a version of its provider is called)."""

    name: str
    module: str
    supports_embeddings: bool

    def _impl(self) -> Any:
        # Not sys.modules.get: while another thread imports the module it is already there, half
        # initialised; import_module waits on the module's import lock and returns it complete.
        loaded = _LOADED.get(self.module)
        if loaded is None:
            loaded = _LOADED[self.module] = importlib.import_module(self.module)
        return loaded

    def complete(self, config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                 ctx: CallContext) -> Completion:
        return self._impl().complete(config, messages, pricing, ctx)  # type: ignore[no-any-return]

    def embed(self, config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
        return self._impl().embed(config, texts, ctx)  # type: ignore[no-any-return]

    async def acomplete(self, config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                        ctx: CallContext) -> Completion:
        return await self._impl().acomplete(config, messages, pricing, ctx)  # type: ignore[no-any-return]

    def stream(self, config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
               ctx: CallContext) -> Iterator[StreamEvent]:
        return self._impl().stream(config, messages, pricing, ctx)  # type: ignore[no-any-return]

    def astream(self, config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                ctx: CallContext) -> AsyncIterator[StreamEvent]:
        return self._impl().astream(config, messages, pricing, ctx)  # type: ignore[no-any-return]

    def warm_up(self, config: ModelConfig) -> None:
        hook = getattr(self._impl(), "warm_up", None)
        if hook is not None:
            hook(config)


_PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    _ModuleProvider("openai", "tasks.providers.openai_provider", supports_embeddings=True),
    _ModuleProvider("anthropic", "tasks.providers.anthropic_provider", supports_embeddings=False),
    _ModuleProvider("bedrock", "tasks.providers.bedrock_provider", supports_embeddings=True),
    _ModuleProvider("local", "tasks.providers.local_provider", supports_embeddings=True),
)}


def register_provider(provider: Provider) -> Provider | None:
    """Install ``provider`` under its name (e.g. a stub in tests); returns the one it replaces."""
    if not isinstance(provider, Provider):
        raise TypeError(f"{provider!r} does not implement the Provider protocol")
    previous = _PROVIDERS.get(provider.name)
    _PROVIDERS[provider.name] = provider
    return previous


def provider_for(name: str) -> Provider:
    """The implementation of a provider name."""
    try:
        return _PROVIDERS[name]
    except KeyError:
        raise PermanentProviderError(f"unknown provider {name!r}; one of {', '.join(sorted(_PROVIDERS))}") from None


def complete(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
             model: str | None = None, version: int | None = None) -> Completion:
    """One completion from the version's provider."""
    provider = provider_for(config.provider)
    _acquire(config, messages)
    return provider.complete(config, messages, pricing, CallContext(model, version))


async def _acquire_async(config: ModelConfig, messages: list[dict[str, Any]]) -> None:
    """``_acquire`` from a coroutine (waits in a thread only when limits are configured)."""
    limiter = limiter_for(config.provider)
    if limiter.rpm or limiter.tpm:
        await acquire_async(config.provider, estimate_tokens(messages, config))


def _acquire(config: ModelConfig, messages: list[dict[str, Any]]) -> None:
    """The provider's rate limit (the token estimate is only made when limits are configured)."""
    limiter = limiter_for(config.provider)
    if limiter.rpm or limiter.tpm:
        limiter.acquire(estimate_tokens(messages, config))


async def acomplete(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
                    model: str | None = None, version: int | None = None) -> Completion:
    """One completion through the provider's async client (``complete`` in a worker thread for a provider
    without one)."""
    provider = provider_for(config.provider)
    await _acquire_async(config, messages)
    ctx = CallContext(model, version)
    method = getattr(provider, "acomplete", None)
    if method is None:
        return await asyncio.to_thread(provider.complete, config, messages, pricing, ctx)
    return await method(config, messages, pricing, ctx)  # type: ignore[no-any-return]


def stream(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
           model: str | None = None, version: int | None = None) -> Iterator[StreamEvent]:
    """Text deltas as they arrive, then one event carrying the whole ``Completion`` (usage, tool calls).

    Closing the iterator early closes the provider's connection.
    """
    provider = provider_for(config.provider)
    _acquire(config, messages)
    ctx = CallContext(model, version)
    method = getattr(provider, "stream", None)
    if method is None:
        return _whole(provider.complete(config, messages, pricing, ctx))
    return method(config, messages, pricing, ctx)  # type: ignore[no-any-return]


def _whole(completion: Completion) -> Iterator[StreamEvent]:
    if completion.text:
        yield StreamEvent(text=completion.text)
    yield StreamEvent(completion=completion)


def astream(config: ModelConfig, messages: list[dict[str, Any]], *, pricing: Pricing | None = None,
            model: str | None = None, version: int | None = None) -> AsyncIterator[StreamEvent]:
    """``stream`` through the provider's async client (the rate limit is taken on the first step)."""
    provider = provider_for(config.provider)
    ctx = CallContext(model, version)
    method = getattr(provider, "astream", None)
    if method is None:
        return _limited(config, messages, _awhole(provider, config, messages, pricing, ctx))
    return _limited(config, messages, method(config, messages, pricing, ctx))


async def _awhole(provider: Provider, config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                  ctx: CallContext) -> AsyncIterator[StreamEvent]:
    for event in _whole(await asyncio.to_thread(provider.complete, config, messages, pricing, ctx)):
        yield event


async def _limited(config: ModelConfig, messages: list[dict[str, Any]],
                   events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    await _acquire_async(config, messages)
    try:
        async for event in events:
            yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]


def embed(config: ModelConfig, texts: list[str], *, model: str | None = None,
          version: int | None = None) -> list[list[float]]:
    """Embedding vectors from the version's provider."""
    provider = provider_for(config.provider)
    if not provider.supports_embeddings:
        raise PermanentProviderError(f"{config.provider} has no embedding API in modelctl")
    limiter_for(config.provider).acquire(sum(len(t) for t in texts) // 4)
    return provider.embed(config, texts, CallContext(model, version))


def warm_up(config: ModelConfig) -> None:
    """Make what a first call would make (the SDK client, a loaded artifact) before anything is timed.

    A provider may define ``warm_up(config)``; it is optional in the protocol.

    Raises:
        ProviderUnavailable: the provider cannot be called (no API key), named with its variable.
    """
    hook = getattr(provider_for(config.provider), "warm_up", None)
    if hook is not None:
        hook(config)
