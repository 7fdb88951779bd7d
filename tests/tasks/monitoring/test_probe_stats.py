"""The probe's tests: exact permutation p-values, BH, and the calibration over 200 seeded runs."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.monitoring import probe_stats as ps
from tasks.monitoring.simulate import BASE, calibrate


def test_permutation_p_values_are_exact_and_uniform_under_the_null() -> None:
    texts = ["the cat sat", "a dog ran", "the cat sat", "birds fly high", "fish swim", "the cat sat"]
    _, p, values = ps.mmd_permutation(ps.ngram_gram(texts), 3)
    assert len(values) == 20 and 0 < p <= 1 and p * 20 == pytest.approx(round(p * 20))
    rng = np.random.default_rng(0)
    ps_null = [ps.mmd_permutation(ps.ngram_gram([BASE.answer("x y z", rng) for _ in range(10)]), 5)[1]
               for _ in range(300)]
    assert abs(np.mean(np.array(ps_null) <= 0.05) - 0.05) < 0.04  # valid at the nominal level
    identical = ps.mmd_permutation(ps.exact_gram(["A"] * 10), 5)
    assert identical[1] == 1.0  # deterministic and unchanged: no evidence at all
    assert ps.mmd_permutation(ps.exact_gram(["A"] * 5 + ["B"] * 5), 5)[1] == pytest.approx(2 / 252)
    assert ps.chi_square_permutation(["billing"] * 5, ["shipping"] * 5)[1] == pytest.approx(2 / 252)


def test_benjamini_hochberg_matches_statsmodels() -> None:
    from statsmodels.stats.multitest import multipletests

    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.5, 1.0]
    assert ps.benjamini_hochberg(p) == pytest.approx(list(multipletests(p, method="fdr_bh")[1]), abs=1e-12)


def test_length_and_refusal_tests() -> None:
    same = [[100, 110, 90]] * 10
    assert ps.length_test(same, same) == (0.0, 1.0)
    ratio, p = ps.length_test(same, [[130, 140, 120]] * 10)
    assert ratio > 0.2 and p < 0.01
    assert ps.is_refusal("I'm sorry, but I can't help with that.") and not ps.is_refusal("Revenue rose 5%.")
    assert ps.refusal_test(0, 100, 20, 100) < 1e-5 and ps.refusal_test(0, 100, 0, 100) == 1.0


@pytest.mark.slow
def test_calibration_over_200_seeded_runs() -> None:
    rates = calibrate(200)
    assert rates["same"] <= 0.05  # false alarms
    assert rates["switch"] >= 0.90 and rates["length"] >= 0.90  # detections
