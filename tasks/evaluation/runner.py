"""The runner: every (case, repeat) of a suite through the providers layer, concurrently.

Calls go through the providers' async clients on one event loop (a coroutine per call, not a thread),
so client CPU is not the ceiling. Concurrency is bounded per run by an asyncio semaphore and per
provider by a process-wide semaphore, so batches run by parallel Prefect tasks share one limit; the
providers' retries and rate limits apply underneath. A case's ``variables`` fill the version's
templates. A failed case is recorded with its error and counted in ``error_rate`` — it never stops
the run; a provider that cannot be called (``ProviderUnavailable``, or ``TransientProviderError`` after
every retry) does: the remaining calls are cancelled and the error raised.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from registry.entities import ModelConfig, Pricing
from registry.templates import render_request
from tasks.evaluation.cache import ResponseCache
from tasks.evaluation.scorers import MODEL_BACKED, ScoringContext, score_case
from tasks.evaluation.slots import SharedSlots
from tasks.evaluation.suite import Case, ScorerSpec

T = TypeVar("T")


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


_slots: dict[str, SharedSlots] = {}
_slots_lock = threading.Lock()


def provider_slots(provider: str, concurrency: int) -> SharedSlots:
    """The process-wide concurrency limit of one provider (shared by every event loop of the process)."""
    key = f"{provider}:{concurrency}"
    with _slots_lock:
        if key not in _slots:
            _slots[key] = SharedSlots(concurrency)
        return _slots[key]


async def _call(target: Target, case: Case, repeat: int, cache: ResponseCache | None,
                slots: SharedSlots, limit: asyncio.Semaphore,
                ) -> tuple[dict[str, Any] | None, BaseException | None, bool]:
    from tasks.providers import ProviderUnavailable, TransientProviderError, acomplete

    if cache is not None:
        hit = cache.get(target.digest, case.input_key(), repeat)
        if hit is not None:
            return hit, None, True
    try:
        config, messages = render_request(target.config, case.messages(), case.variables)
        async with limit, slots:
            done = await acomplete(config, messages, pricing=target.pricing, model=target.name,
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


def _score(value: dict[str, Any], case: Case, repeat: int, cached: bool, scorers: list[ScorerSpec],
           ctx: ScoringContext) -> CaseResult:
    try:
        scores = score_case(scorers, value["text"], case, ctx)
    except Exception as exc:
        return CaseResult(case.id, repeat, value["text"], f"scoring failed: {exc}", type(exc).__name__,
                          value["latency_ms"], value["input_tokens"], value["output_tokens"], value["cost_usd"],
                          cached)
    return CaseResult(case.id, repeat, value["text"], None, None, value["latency_ms"], value["input_tokens"],
                      value["output_tokens"], value["cost_usd"], cached, scores)


async def run_one(target: Target, case: Case, repeat: int, scorers: list[ScorerSpec], cache: ResponseCache | None,
                  slots: SharedSlots, limit: asyncio.Semaphore, ctx: ScoringContext) -> CaseResult:
    """Call (or read from the cache) and score one (case, repeat)."""
    value, error, cached = await _call(target, case, repeat, cache, slots, limit)
    if value is None:
        return CaseResult(case.id, repeat, None, str(error), type(error).__name__, 0.0, 0, 0, 0.0, False)
    if any(spec.type in MODEL_BACKED for spec in scorers):  # a judge calls a model: keep the loop free
        return await asyncio.to_thread(_score, value, case, repeat, cached, scorers, ctx)
    return _score(value, case, repeat, cached, scorers, ctx)


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
    return run_coroutine(arun_cases(target, cases, scorers, repeats=repeats, concurrency=concurrency, cache=cache,
                                    ctx=ctx, progress=progress))


async def arun_cases(target: Target, cases: Iterable[Case], scorers: list[ScorerSpec], *, repeats: int = 1,
                     concurrency: int = 16, cache: ResponseCache | None = None, ctx: ScoringContext | None = None,
                     progress: bool | None = None) -> list[CaseResult]:
    """``run_cases`` on the running event loop."""
    work = [(case, r) for case in cases for r in range(repeats)]
    slots = provider_slots(target.config.provider, concurrency)
    limit = asyncio.Semaphore(concurrency)
    ctx = ctx or ScoringContext()
    show = sys.stderr.isatty() if progress is None else progress
    tasks = [asyncio.ensure_future(run_one(target, case, r, scorers, cache, slots, limit, ctx)) for case, r in work]
    try:
        if not show:
            return list(await asyncio.gather(*tasks))
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task(f"{target.ref}", total=len(tasks))
            for t in tasks:
                t.add_done_callback(lambda _: bar.advance(task))
            return list(await asyncio.gather(*tasks))
    except BaseException:  # Ctrl-C, or a provider that cannot be called: cancel the queued cases
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end on a fresh event loop (in a fresh thread when this one already runs a
    loop); the loop's provider clients are closed before it ends."""
    from tasks.providers.base import aclose_loop_clients

    async def run_and_close() -> T:
        try:
            return await coro
        finally:
            await aclose_loop_clients()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_and_close())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run_and_close()).result()


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
