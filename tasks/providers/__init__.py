"""Providers: one interface over OpenAI, Anthropic, Bedrock and the local offline backend.

``complete(config, messages)`` applies the version's whole configuration (system prompt, temperature,
max_tokens, top_p, stop, tools, response format, params) and returns a ``Completion`` with tokens,
latency, cost (from the version's pricing), the provider's request id and finish reason.
Transient failures (429, 5xx, timeouts, connection errors) are retried with exponential backoff and
jitter, honouring Retry-After; other 4xx fail at once. A per-provider limiter (requests/min and
tokens/min from MODELCTL_CONFIG ``rate_limits``) is shared by every call in the process.
API keys come only from the providers' environment variables; they are never stored or logged.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from registry.entities import ModelConfig, Pricing
from tasks.providers.base import (
    CallContext,
    Completion,
    PermanentProviderError,
    ProviderError,
    ProviderUnavailable,
    TransientProviderError,
    estimate_tokens,
    limiter_for,
)

__all__ = ["CallContext", "Completion", "PermanentProviderError", "Provider", "ProviderError", "ProviderUnavailable",
           "TransientProviderError", "complete", "embed", "provider_for", "register_provider", "warm_up"]


@runtime_checkable
class Provider(Protocol):
    """One provider backend: chat completions and, when ``supports_embeddings``, embeddings."""

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


@dataclass(frozen=True)
class _ModuleProvider:
    """A built-in provider implemented by a module of plain functions (imported on first use, so that an
    SDK is only loaded when a version of its provider is called)."""

    name: str
    module: str
    supports_embeddings: bool

    def _impl(self) -> Any:
        return importlib.import_module(self.module)

    def complete(self, config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                 ctx: CallContext) -> Completion:
        return self._impl().complete(config, messages, pricing, ctx)  # type: ignore[no-any-return]

    def embed(self, config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
        return self._impl().embed(config, texts, ctx)  # type: ignore[no-any-return]

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
    limiter_for(config.provider).acquire(estimate_tokens(messages, config))
    return provider.complete(config, messages, pricing, CallContext(model, version))


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
