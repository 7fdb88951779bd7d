"""Evaluate a trained (not yet registered) candidate against production on the model's suite."""

from __future__ import annotations

from typing import Any

from registry.entities import ModelConfig
from registry.service import open_registry
from tasks.evaluation import ResponseCache, Target, load_suite, recommend, run_cases, summarize
from tasks.evaluation.scorers import ScoringContext
from tasks.training.params import Evaluation, Plan, Prepared
from tasks.training.register import candidate_spec
from tasks.training.train import TrainResult


def candidate_target(p: Plan, trained: TrainResult, prepared: Prepared) -> Target:
    """The candidate as an evaluation target (version 0: not registered yet)."""
    spec = candidate_spec(p, trained, prepared, None)
    return Target(name=p.model, version=0, digest=spec.config().digest(), config=spec.config(),
                  pricing=spec.pricing)


def evaluate(p: Plan, trained: TrainResult, prepared: Prepared, *, cache_uri: str | None = None,
             concurrency: int = 16) -> Evaluation:
    """Run the suite on the candidate and on production, and decide with the suite's gates and margins."""
    loaded = load_suite(p.suite)
    candidate = candidate_target(p, trained, prepared)
    baseline: Target | None = None
    if p.production is not None:
        version = open_registry(p.registry).get_version(p.model, p.production)
        if version.digest != candidate.digest:
            baseline = Target(name=p.model, version=version.number, digest=version.digest,
                              config=ModelConfig(**version.config.model_dump()), pricing=version.pricing)
    expected = {c.id: c.expected for c in loaded.cases}
    ctx = ScoringContext(registry_uri=p.registry)

    def run(target: Target) -> Any:
        cache = ResponseCache(cache_uri) if cache_uri else None
        results = run_cases(target, loaded.cases, loaded.suite.scorers, repeats=loaded.suite.repeats,
                            concurrency=concurrency, cache=cache, ctx=ctx, progress=False)
        return summarize(f"{target.name}@{target.version or 'candidate'}", target.digest, results, loaded.suite,
                         expected)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:  # side by side: both see the same load on the machine
        cand_future = pool.submit(run, candidate)
        base_future = pool.submit(run, baseline) if baseline else None
        cand, base = cand_future.result(), base_future.result() if base_future else None
    rec = recommend(cand, base, loaded.suite)
    scores = {m.metric: m.value for m in cand.metrics.values() if m.value is not None}
    gates = {c.metric: {"gate": c.gate, "passed": c.gate_passed, "value": c.candidate}
             for c in rec.metrics if c.gate is not None}
    return Evaluation(decision=rec.decision, reasons=list(rec.reasons), suite=loaded.suite.name,
                      suite_digest=loaded.digest, scores=scores, gates=gates,
                      baseline=f"{p.model}@{baseline.version}" if baseline else None)
