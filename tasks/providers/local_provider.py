"""Provider ``local``: the offline models of ``tasks.local_models``, selected by model_id."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from registry.entities import ModelConfig, Pricing
from tasks import local_models
from tasks.providers.base import CallContext, Completion, PermanentProviderError, StreamEvent, cost_of

MODELS = ("lead-3-v1", "hashing-embed-v1", "tfidf-logreg-v1")


def _user_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role", "user") == "user")


def _int_param(config: ModelConfig, name: str, default: int) -> int:
    value = (config.params or {}).get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PermanentProviderError(f"local model {config.model_id}: params.{name} must be a positive integer, "
                                     f"got {value!r}")
    return value


def _delay(config: ModelConfig) -> float:
    """The simulated latency in seconds (checked: a number of milliseconds >= 0)."""
    delay = (config.params or {}).get("simulated_latency_ms")
    if not delay:
        return 0.0
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 3_600_000:
        raise PermanentProviderError(f"local model {config.model_id}: params.simulated_latency_ms must be a "
                                     f"number of milliseconds >= 0, got {delay!r}")
    return float(delay) / 1000


def _sleep(config: ModelConfig) -> None:
    if delay := _delay(config):
        time.sleep(delay)


def warm_up(config: ModelConfig) -> None:
    """Load (and verify) a classifier artifact before the first timed call."""
    params = config.params or {}
    if config.model_id == "tfidf-logreg-v1" and params.get("artifact_uri") and params.get("artifact_sha256"):
        local_models.load_classifier(str(params["artifact_uri"]), str(params["artifact_sha256"]))


def _answer(config: ModelConfig, messages: list[dict[str, Any]], ctx: CallContext) -> tuple[str, str]:
    """The user's text and the model's output (before any simulated latency)."""
    params = config.params or {}
    text = _user_text(messages)
    if config.model_id == "lead-3-v1":
        output = local_models.lead_sentences(text, _int_param(config, "sentences", 3))
    elif config.model_id == "tfidf-logreg-v1":
        uri, sha = params.get("artifact_uri"), params.get("artifact_sha256")
        if not uri or not sha:
            raise PermanentProviderError(f"{ctx.describe(config)}: params.artifact_uri and params.artifact_sha256 "
                                         "are required")
        output = local_models.load_classifier(str(uri), str(sha)).predict([text])[0]
    else:
        raise PermanentProviderError(f"{ctx.describe(config)}: unknown local model (one of {', '.join(MODELS)})")
    if config.max_tokens is not None:
        output = " ".join(output.split()[: config.max_tokens])
    return text, output


def _completion(config: ModelConfig, text: str, output: str, pricing: Pricing | None, start: float) -> Completion:
    tin = local_models.count_tokens((config.system_prompt or "") + " " + text)
    tout = local_models.count_tokens(output)
    return Completion(text=output, input_tokens=tin, output_tokens=tout,
                      latency_ms=(time.perf_counter() - start) * 1000, cost_usd=cost_of(pricing, tin, tout),
                      request_id=f"local-{uuid.uuid4().hex[:16]}", finish_reason="stop", model_id=config.model_id)


def complete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
             ctx: CallContext) -> Completion:
    """Summarize or classify the user's text."""
    start = time.perf_counter()
    text, output = _answer(config, messages, ctx)
    _sleep(config)
    return _completion(config, text, output, pricing, start)


async def acomplete(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                    ctx: CallContext) -> Completion:
    """``complete`` with the simulated latency awaited, not slept."""
    start = time.perf_counter()
    text, output = _answer(config, messages, ctx)
    if delay := _delay(config):
        await asyncio.sleep(delay)
    return _completion(config, text, output, pricing, start)


def _chunks(output: str) -> list[str]:
    """The output cut into word-sized chunks (the whitespace kept, so they join back exactly)."""
    return [c for c in re.split(r"(?<=\s)(?=\S)", output) if c]


def stream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
           ctx: CallContext) -> Iterator[StreamEvent]:
    """The output in word chunks after the simulated latency (as time to first token), then the Completion."""
    start = time.perf_counter()
    text, output = _answer(config, messages, ctx)
    _sleep(config)
    for chunk in _chunks(output):
        yield StreamEvent(chunk)
    yield StreamEvent(completion=_completion(config, text, output, pricing, start))


async def astream(config: ModelConfig, messages: list[dict[str, Any]], pricing: Pricing | None,
                  ctx: CallContext) -> AsyncIterator[StreamEvent]:
    """``stream`` for coroutines."""
    start = time.perf_counter()
    text, output = _answer(config, messages, ctx)
    if delay := _delay(config):
        await asyncio.sleep(delay)
    for chunk in _chunks(output):
        yield StreamEvent(chunk)
    yield StreamEvent(completion=_completion(config, text, output, pricing, start))


def embed(config: ModelConfig, texts: list[str], ctx: CallContext) -> list[list[float]]:
    """Hashing-vectorizer embeddings."""
    if config.model_id != "hashing-embed-v1":
        raise PermanentProviderError(f"{ctx.describe(config)}: not a local embedding model (use hashing-embed-v1)")
    _sleep(config)
    return local_models.hashing_embed(texts, _int_param(config, "dimension", 256))
