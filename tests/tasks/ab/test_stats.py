"""Every statistic against scipy/statsmodels on the same data (to 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from tasks import stats

RNG = np.random.default_rng(42)


def test_delta_method_welch_equals_scipy_with_one_request_per_user() -> None:
    a, b = RNG.normal(0.70, 0.2, 300), RNG.normal(0.73, 0.25, 120)
    ones_a, ones_b = np.ones_like(a), np.ones_like(b)
    result = stats.welch(stats.ratio_stat(a, ones_a), stats.ratio_stat(b, ones_b))
    expected = sp.ttest_ind(b, a, equal_var=False)
    assert result.p_value == pytest.approx(expected.pvalue, abs=1e-9)
    assert result.diff == pytest.approx(b.mean() - a.mean(), abs=1e-12)
    ci = expected.confidence_interval(0.95)
    assert result.ci == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_delta_variance_matches_a_brute_force_bootstrap() -> None:
    n = RNG.geometric(0.2, 2000).astype(float)
    y = n * RNG.normal(400, 100, 2000) * RNG.lognormal(0, 0.3, 2000)
    est = stats.ratio_stat(y, n)
    idx = RNG.integers(0, 2000, size=(4000, 2000))
    boot = y[idx].sum(axis=1) / n[idx].sum(axis=1)
    assert est.mean == pytest.approx(y.sum() / n.sum())
    assert est.var == pytest.approx(boot.var(), rel=0.1)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), [(120, 1000, 150, 1000), (3, 50, 9, 60), (400, 800, 380, 820)])
def test_proportion_tests(x1: int, n1: int, x2: int, n2: int) -> None:
    assert stats.two_proportion_z(x1, n1, x2, n2) == pytest.approx(
        proportions_ztest([x2, x1], [n2, n1])[1], abs=1e-9)
    assert stats.fisher_exact(x1, n1, x2, n2) == pytest.approx(
        sp.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue, abs=1e-12)


def test_holm_srm_and_mann_whitney() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.2]
    assert stats.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-12)
    assert stats.srm_p_value((9100, 900), 0.1) == pytest.approx(sp.chisquare([9100, 900], [9000, 1000]).pvalue)
    a, b = RNG.lognormal(6, 0.6, 200), RNG.lognormal(6.1, 0.6, 150)
    assert stats.mann_whitney(a, b) == pytest.approx(sp.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def test_z_test_and_relative_ci() -> None:
    c, t = stats.ArmStat(0.5, 0.0004, 1000), stats.ArmStat(0.55, 0.0005, 1000)
    r = stats.z_test(c, t)
    assert r.p_value == pytest.approx(2 * sp.norm.sf(0.05 / np.sqrt(0.0009)), abs=1e-12)
    half = sp.norm.ppf(0.975) * np.sqrt(0.0005 / 0.25 + 0.55**2 * 0.0004 / 0.5**4)
    assert r.rel == pytest.approx(0.1) and r.rel_ci == pytest.approx((0.1 - half, 0.1 + half))


def test_power_formulae() -> None:
    assert stats.mde(0.01) == pytest.approx((sp.norm.ppf(0.975) + sp.norm.ppf(0.8)) * 0.01)
    n = stats.users_needed(1.0, 1.0, 0.1)
    assert n == int(np.ceil((sp.norm.ppf(0.975) + sp.norm.ppf(0.8)) ** 2 * 2 / 0.01))


@pytest.mark.parametrize(("n1", "n2", "kind"), [
    (9, 9, "continuous"), (20, 1000, "continuous"), (500, 700, "ties"), (50_000, 400_000, "continuous"),
    (3000, 3000, "constant"), (50, 60, "ties"), (4, 30, "continuous"), (9, 12, "nan")])
def test_mann_whitney_equals_scipy_on_ties_constants_small_and_large_samples(n1: int, n2: int, kind: str) -> None:
    """The sort-and-search ranks give scipy's p-value (its exact method below 9 values, NaN propagated)."""
    rng = np.random.default_rng(n1 + n2)
    if kind == "ties":
        a, b = rng.integers(0, 5, n1).astype(float), rng.integers(0, 6, n2).astype(float)
    elif kind == "constant":
        a, b = np.ones(n1), np.ones(n2)
    else:
        a, b = rng.lognormal(0, 1, n1), rng.lognormal(0.01, 1, n2)
    if kind == "nan":
        a[3] = np.nan
    expected = float(sp.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    got = stats.mann_whitney(a, b)
    assert (np.isnan(expected) and np.isnan(got)) or got == pytest.approx(expected, rel=1e-9, abs=1e-300)
