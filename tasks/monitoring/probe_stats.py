"""Two-sample tests for drift probes: pure numpy/scipy, each valid by exchangeability under "no change".

Per input, the reference samples and the current samples are compared with a permutation test on a
kernel two-sample statistic (MMD², as in "Model Equality Testing", Gao, Liang & Guestrin, ICLR 2025):

- ``char-3gram-mmd``: cosine similarity of character 3-gram counts, for free text;
- ``exact-match``: the delta kernel (outputs equal or not), for deterministic settings (temperature 0);
- ``chi-square``: Pearson's chi-square over answer categories, for classifiers.

Small samples are enumerated exactly (5 + 5 samples: 252 splits); larger ones use seeded random
permutations. Output length is tested across inputs (Wilcoxon signed-rank on per-input log length
ratios) and refusals by Fisher's exact test; all p-values are combined with Benjamini–Hochberg.
"""

from __future__ import annotations

import itertools
import math
import re
from functools import lru_cache

import numpy as np
from scipy import stats

MAX_EXACT_SPLITS = 5000
RANDOM_PERMUTATIONS = 1999
REFUSAL = re.compile(r"\b(i can(?:'|’|no)t (?:help|assist|comply|do that)|i'?m sorry|i am sorry|i'?m unable|"
                     r"i am unable|as an ai\b)", re.IGNORECASE)


def ngram_gram(texts: list[str], n: int = 3) -> np.ndarray:
    """Cosine similarity of character ``n``-gram count profiles: 1 for identical texts, 0 for disjoint ones."""
    codes, rows = [], []
    for row, text in enumerate(texts):
        b = np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int64)
        if len(b) < n:
            b = np.concatenate([b, np.zeros(n - len(b), np.int64)])
        c = b[: len(b) - n + 1].copy()
        for i in range(1, n):
            c = (c << 8) | b[i: len(b) - n + 1 + i]
        codes.append(c)
        rows.append(np.full(len(c), row))
    vocab, column = np.unique(np.concatenate(codes), return_inverse=True)
    m = np.zeros((len(texts), len(vocab)))
    np.add.at(m, (np.concatenate(rows), column), 1.0)
    norms = np.sqrt((m * m).sum(axis=1))
    m /= np.where(norms > 0, norms, 1)[:, None]
    return np.asarray(np.clip(m @ m.T, -1.0, 1.0))


def exact_gram(texts: list[str]) -> np.ndarray:
    """The delta kernel: 1 where two outputs are identical."""
    codes = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    c = np.array([codes[t] for t in texts])
    return (c[:, None] == c[None, :]).astype(np.float64)


@lru_cache(maxsize=32)
def _all_splits(total: int, first: int) -> np.ndarray:
    rows = np.zeros((math.comb(total, first), total), bool)
    for r, chosen in enumerate(itertools.combinations(range(total), first)):
        rows[r, list(chosen)] = True
    rows.flags.writeable = False
    return rows


def _splits(total: int, first: int, seed: int) -> np.ndarray:
    """Indicator rows of the first group for every split (the observed one among them), or the observed
    split and seeded random ones."""
    observed = np.zeros(total, bool)
    observed[:first] = True
    if math.comb(total, first) <= MAX_EXACT_SPLITS:
        return _all_splits(total, first)
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((RANDOM_PERMUTATIONS, total)), axis=1) < first
    return np.vstack([observed, perms])


def mmd_permutation(gram: np.ndarray, n_ref: int, seed: int = 0) -> tuple[float, float, np.ndarray]:
    """(MMD² of the observed split, its permutation p-value, the statistic over every split, observed first);
    the first ``n_ref`` rows are the reference."""
    total = len(gram)
    n_cur = total - n_ref
    if n_ref < 1 or n_cur < 1:
        return 0.0, 1.0, np.zeros(1)
    rows = _splits(total, n_ref, seed)
    a = np.where(rows, 1.0 / n_ref, -1.0 / n_cur)
    values = np.einsum("st,tu,su->s", a, gram, a)
    stat = float(values[0])
    return stat, float((values >= stat - 1e-12).mean()), values


def combined_permutation(null_values: list[np.ndarray], seed: int = 0,
                         draws: int = RANDOM_PERMUTATIONS) -> tuple[float, float]:
    """A global test across inputs: the sum of each input's standardised statistic, against the sums of
    independently permuted inputs (observed values first in each array). Powerful when many inputs
    change a little; the per-input tests say which."""
    usable = [v for v in null_values if len(v) > 1 and float(v.std()) > 1e-12]
    if not usable:
        return 0.0, 1.0
    rng = np.random.default_rng(seed)
    total = np.zeros(draws)
    observed = 0.0
    for v in usable:
        z = (v - v.mean()) / v.std()
        observed += float(z[0])
        total += z[rng.integers(len(z), size=draws)]
    return observed, float((1 + (total >= observed - 1e-9).sum()) / (draws + 1))


def chi_square_permutation(ref: list[str], cur: list[str], seed: int = 0) -> tuple[float, float, np.ndarray]:
    """(Pearson chi-square over answer categories, its permutation p-value, the statistic over every split)."""
    labels = ref + cur
    cats = {c: i for i, c in enumerate(dict.fromkeys(labels))}
    if len(cats) < 2:
        return 0.0, 1.0, np.zeros(1)
    onehot = np.zeros((len(labels), len(cats)))
    onehot[np.arange(len(labels)), [cats[x] for x in labels]] = 1
    rows = _splits(len(labels), len(ref), seed).astype(np.float64)
    first = rows @ onehot
    totals = onehot.sum(axis=0)
    second = totals - first
    n1, n2, n = len(ref), len(cur), len(labels)
    e1, e2 = totals * n1 / n, totals * n2 / n
    values = (((first - e1) ** 2) / e1 + ((second - e2) ** 2) / e2).sum(axis=1)
    stat = float(values[0])
    return stat, float((values >= stat - 1e-12).mean()), values


def length_test(ref: list[list[int]], cur: list[list[int]]) -> tuple[float, float]:
    """(median per-input log length ratio, Wilcoxon signed-rank p) across inputs."""
    ratios = np.array([math.log((np.mean(c) + 1) / (np.mean(r) + 1)) for r, c in zip(ref, cur, strict=True)
                       if len(r) and len(c)])
    if len(ratios) < 2 or not np.any(np.abs(ratios) > 1e-12):
        return 0.0, 1.0
    return float(np.median(ratios)), float(stats.wilcoxon(ratios, zero_method="zsplit").pvalue)


def refusal_test(ref_refusals: int, ref_n: int, cur_refusals: int, cur_n: int) -> float:
    """Fisher's exact p-value for a change in the refusal rate."""
    if ref_refusals + cur_refusals == 0 or ref_n == 0 or cur_n == 0:
        return 1.0
    table = [[ref_refusals, ref_n - ref_refusals], [cur_refusals, cur_n - cur_refusals]]
    return float(stats.fisher_exact(table).pvalue)


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (q-values), monotone and capped at 1."""
    m = len(p_values)
    if not m:
        return []
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [1.0] * m
    running = 1.0
    for rank, i in zip(range(m, 0, -1), order, strict=True):
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def is_refusal(text: str) -> bool:
    """A refusal-like answer ("I can't help with that", "I'm sorry", "As an AI ...")."""
    return bool(REFUSAL.search(text[:300]))
