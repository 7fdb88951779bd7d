"""The runner: every (case, repeat) of a suite through the providers layer, concurrently.

Concurrency is bounded per provider by a process-wide semaphore, so batches run by parallel Prefect
tasks share one limit; the providers' retries and rate limits apply underneath. A failed case is
recorded with its error and counted in ``error_rate`` — it never stops the run.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from registry.entities import ModelConfig, Pricing
from tasks.evaluation.cache import ResponseCache
from tasks.evaluation.scorers import ScoringContext, score_case
from tasks.evaluation.suite import Case, ScorerSpec


@dataclass(frozen=True)
class Target:
    """A resolved version to evaluate."""

    name: str
    version: int
    digest: str
    config: ModelConfig
    pricing: Pricing | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class CaseResult:
    """One (case, repeat) of one version: the output or the error, its cost, and its scores."""

    case_id: str
    repeat: int
    output: str | None
    error: str | None
    error_type: str | None
    latency_ms: float
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cached: bool
    scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_semaphores: dict[str, threading.BoundedSemaphore] = {}
_semaphore_lock = threading.Lock()


def provider_slots(provider: str, concurrency: int) -> threading.BoundedSemaphore:
    """The process-wide concurrency limit of one provider."""
    key = f"{provider}:{concurrency}"
    with _semaphore_lock:
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(concurrency)
        return _semaphores[key]


def _call(target: Target, case: Case, repeat: int, cache: ResponseCache | None,
          slots: threading.BoundedSemaphore) -> tuple[dict[str, Any] | None, BaseException | None, bool]:
    from tasks.providers import ProviderUnavailable, TransientProviderError, complete

    if cache is not None:
        hit = cache.get(target.digest, case.input_key(), repeat)
        if hit is not None:
            return hit, None, True
    try:
        with slots:
            done = complete(target.config, case.messages(), pricing=target.pricing, model=target.name,
                            version=target.version)
    except (ProviderUnavailable, TransientProviderError):
        raise  # the provider cannot be called: the run stops, nothing is scored as quality
    except Exception as exc:  # recorded, counted in error_rate; never a crash of the run
        return None, exc, False
    value = {"text": done.text, "latency_ms": done.latency_ms, "input_tokens": done.input_tokens,
             "output_tokens": done.output_tokens, "cost_usd": done.cost_usd}
    if cache is not None:
        cache.put(target.digest, case.input_key(), repeat, value)
    return value, None, False


def run_one(target: Target, case: Case, repeat: int, scorers: list[ScorerSpec], cache: ResponseCache | None,
            slots: threading.BoundedSemaphore, ctx: ScoringContext) -> CaseResult:
    """Call (or read from the cache) and score one (case, repeat)."""
    value, error, cached = _call(target, case, repeat, cache, slots)
    if value is None:
        return CaseResult(case.id, repeat, None, str(error), type(error).__name__, 0.0, 0, 0, 0.0, False)
    try:
        scores = score_case(scorers, value["text"], case, ctx)
    except Exception as exc:
        return CaseResult(case.id, repeat, value["text"], f"scoring failed: {exc}", type(exc).__name__,
                          value["latency_ms"], value["input_tokens"], value["output_tokens"], value["cost_usd"],
                          cached)
    return CaseResult(case.id, repeat, value["text"], None, None, value["latency_ms"], value["input_tokens"],
                      value["output_tokens"], value["cost_usd"], cached, scores)


def run_cases(target: Target, cases: Iterable[Case], scorers: list[ScorerSpec], *, repeats: int = 1,
              concurrency: int = 16, cache: ResponseCache | None = None, ctx: ScoringContext | None = None,
              progress: bool | None = None) -> list[CaseResult]:
    """Run every (case, repeat) of ``cases`` against ``target``; results in input order.

    The provider is warmed up first (client built, artifact loaded) so a cold start is not model latency.

    Raises:
        ProviderUnavailable: no usable key; TransientProviderError: unreachable after every retry. The
        remaining calls are cancelled.
    """
    warm(target)
    work = [(case, r) for case in cases for r in range(repeats)]
    slots = provider_slots(target.config.provider, concurrency)
    ctx = ctx or ScoringContext()
    show = sys.stderr.isatty() if progress is None else progress
    pool = ThreadPoolExecutor(max_workers=concurrency)
    try:
        futures = [pool.submit(run_one, target, case, r, scorers, cache, slots, ctx) for case, r in work]
        if not show:
            return [f.result() for f in futures]
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"{target.ref}", total=len(futures))
            results = []
            for f in futures:
                results.append(f.result())
                bar.advance(task)
            return results
    except BaseException:  # Ctrl-C, or a provider that cannot be called: drop the queued cases
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=False)


def warm(target: Target) -> None:
    """Warm the target's provider; only "cannot be called at all" stops the run (a bad artifact fails per case)."""
    from tasks.providers import ProviderUnavailable, warm_up

    try:
        warm_up(target.config)
    except ProviderUnavailable:
        raise
    except Exception:  # noqa: S110 - the same error is recorded on every case that hits it
        pass


def batches(cases: list[Case], size: int) -> list[list[Case]]:
    """Split cases into batches: one Prefect task per batch, never one per case."""
    return [cases[i:i + size] for i in range(0, len(cases), max(1, size))]


def elapsed_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000
