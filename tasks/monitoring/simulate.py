"""Seeded stand-ins for a stochastic text model, to calibrate the drift probe (tests, bench, loopback server).

A model answers an input with a variable number of words, half taken from the input (the topic) and
half from its own style vocabulary. "Another model" has its own style vocabulary and copies less (or more) of the input; a length change
keeps the vocabulary and scales the number of words.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "so", "vi", "de", "po", "za", "fe", "gu", "hi", "ja", "be",
             "ci", "do", "ex", "yo", "an", "el", "in", "or", "us", "ar", "en", "il", "on", "ur"]


@lru_cache(maxsize=64)
def _vocabulary(seed: int, size: int = 300) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))) for _ in range(size)]


@lru_cache(maxsize=8)
def _zipf_cdf(size: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, size + 1)
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return cdf


def probe_inputs(count: int = 20, seed: int = 7) -> list[str]:
    """``count`` fixed probe inputs (short pseudo-documents)."""
    vocab = _vocabulary(10_000 + seed, 500)
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(vocab, size=int(rng.integers(15, 40)))) for _ in range(count)]


@dataclass(frozen=True)
class SimulatedModel:
    """A stochastic text model: ``style`` picks its vocabulary, ``length_scale`` its answer lengths."""

    name: str = "sim-model-2025-01-01"
    style: int = 1
    length_scale: float = 1.0
    fingerprint: str = "fp_sim_a"
    topic_share: float = 0.5

    def answer(self, text: str, rng: np.random.Generator) -> str:
        """One sampled answer to ``text``."""
        topic = text.split() or ["empty"]
        vocab = _vocabulary(self.style)
        mean = (12 + zlib.crc32(text.encode()) % 25) * self.length_scale
        words = max(3, int(round(rng.normal(mean, 0.2 * mean))))
        from_topic = rng.random(words) < self.topic_share
        topic_pick = rng.integers(len(topic), size=words)
        style_pick = np.searchsorted(_zipf_cdf(len(vocab)), rng.random(words))
        return " ".join(topic[int(i)] if t else vocab[int(j)]
                        for t, i, j in zip(from_topic, topic_pick, style_pick, strict=True)) + "."


def switched_inputs(inputs: list[str], share: float, seed: int) -> set[str]:
    """The inputs (exactly ``round(share * len)``, chosen by ``seed``) silently served by another model."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(inputs), size=int(round(share * len(inputs))), replace=False)
    return {inputs[int(i)] for i in chosen}


BASE = SimulatedModel()
OTHER = SimulatedModel(style=2, topic_share=0.3)  # another model that reports the same identity
LONGER = SimulatedModel(length_scale=1.3)  # only the answer lengths change


def _sampler(pick: Callable[[str], SimulatedModel], seed: int) -> Callable[[str], Any]:
    """A probe sampler answering each input with the model ``pick`` chooses for it."""
    from tasks.monitoring.probe import Sample

    rng = np.random.default_rng(seed)
    return lambda text: Sample(pick(text).answer(text, rng), BASE.name, BASE.fingerprint)


def calibrate(runs: int = 200, inputs_count: int = 20, samples: int = 5, share: float = 0.3) -> dict[str, float]:
    """Drift rates of the probe over seeded runs: the same model (false alarms), another model on ``share``
    of the inputs, and a length change (detections). One reference per seed serves the three scenarios."""
    from tasks.monitoring.probe import collect, compare, reference_document

    inputs = probe_inputs(inputs_count)
    hits = {"same": 0, "switch": 0, "length": 0}
    for seed in range(runs):
        reference = reference_document(collect(inputs, samples, _sampler(lambda t: BASE, 2 * seed)), model="m",
                                       version=1, digest="d" * 64, method="char-3gram-mmd",
                                       created_at="2026-01-01T00:00:00Z")
        switched = switched_inputs(inputs, share, seed)
        scenarios: dict[str, Callable[[str], SimulatedModel]] = {
            "same": lambda t: BASE, "switch": lambda t, s=switched: OTHER if t in s else BASE,  # type: ignore[misc]
            "length": lambda t: LONGER}
        for offset, (name, pick) in enumerate(scenarios.items()):
            current = collect(inputs, samples, _sampler(pick, 10_000 + 3 * seed + offset))
            hits[name] += compare(reference, current).status == "drift"
    return {k: v / runs for k, v in hits.items()}
