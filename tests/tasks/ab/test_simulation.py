"""A/A simulations with a fixed seed: false-positive rates of the fixed and sequential modes."""

from __future__ import annotations

import numpy as np

from tasks import stats
from tasks.ab.analysis import analyze
from tasks.ab.data import ArmData


def arm(rng: np.random.Generator, users: int) -> ArmData:
    """Users with many correlated requests: a per-user quality level plus request noise."""
    n = rng.geometric(0.25, users).astype(float)
    level = rng.normal(0.7, 0.1, users)
    q_sum = n * level + rng.normal(0, 0.15, users) * np.sqrt(n)
    lat = n * rng.lognormal(6, 0.5, users)
    errors = rng.binomial(n.astype(int), 0.02).astype(float)
    return ArmData(users=np.arange(users).astype(str), n=n, latency=lat, cost=n * 0.002, errors=errors,
                   q_sum=q_sum, q_n=n, t_sum=np.minimum(n, np.round(n * level)), t_n=n,
                   latencies=rng.lognormal(6, 0.5, 50).astype(np.float32))


def test_aa_false_positive_rate_fixed_mode() -> None:
    rng = np.random.default_rng(20261123)
    runs, hits = 1000, 0
    for _ in range(runs):
        result = analyze({"control": arm(rng, 300), "treatment": arm(rng, 300)}, planned_split=0.5,
                         primary="quality_score")
        hits += result.metric("quality_score").significant
    rate = hits / runs
    assert 0.035 <= rate <= 0.065, rate


def test_naive_request_level_test_would_inflate() -> None:
    """Why the user is the unit: treating correlated requests as independent inflates false positives."""
    rng = np.random.default_rng(7)
    hits_naive = 0
    for _ in range(400):
        a, b = arm(rng, 300), arm(rng, 300)
        ra = np.repeat(a.q_sum / a.q_n, a.q_n.astype(int))
        rb = np.repeat(b.q_sum / b.q_n, b.q_n.astype(int))
        ones_a, ones_b = np.ones_like(ra), np.ones_like(rb)
        hits_naive += stats.welch(stats.ratio_stat(ra, ones_a), stats.ratio_stat(rb, ones_b)).p_value < 0.05
    assert hits_naive / 400 > 0.10


def test_sequential_mode_with_daily_looks_stays_under_alpha() -> None:
    rng = np.random.default_rng(99)
    runs, days, per_day, hits = 1000, 14, 40, 0
    for _ in range(runs):
        yc = np.zeros(0)
        xc = np.zeros(0)
        yt = np.zeros(0)
        xt = np.zeros(0)
        best = 1.0
        for _day in range(days):
            for which in ("c", "t"):
                n = rng.geometric(0.25, per_day).astype(float)
                y = n * rng.normal(0.7, 0.1, per_day) + rng.normal(0, 0.15, per_day) * np.sqrt(n)
                if which == "c":
                    yc, xc = np.concatenate([yc, y]), np.concatenate([xc, n])
                else:
                    yt, xt = np.concatenate([yt, y]), np.concatenate([xt, n])
            c, t = stats.ratio_stat(yc, xc), stats.ratio_stat(yt, xt)
            r = stats.welch(c, t)
            best = min(best, stats.msprt_p_value(r.diff, r.se, tau=0.01 * c.mean))
        hits += best < 0.05
    assert hits / runs <= 0.05, hits / runs


def arm_with_pre(rng: np.random.Generator, users: int) -> ArmData:
    """As ``arm``, with each user's pre-experiment sums (the same user level: what CUPED exploits)."""
    n = rng.geometric(0.25, users).astype(float)
    level = rng.normal(0.7, 0.1, users)
    speed = rng.lognormal(6, 0.5, users)
    out = ArmData(users=np.arange(users).astype(str), n=n, latency=n * speed * rng.lognormal(0, 0.3, users),
                  cost=n * 0.002, errors=rng.binomial(n.astype(int), 0.02).astype(float),
                  q_sum=n * level + rng.normal(0, 0.15, users) * np.sqrt(n), q_n=n,
                  t_sum=np.minimum(n, np.round(n * level)), t_n=n, latencies=np.ones(10, np.float32))
    n0 = rng.geometric(0.25, users).astype(float)
    out.pre = {"n": n0, "latency": n0 * speed * rng.lognormal(0, 0.3, users), "cost": n0 * 0.002,
               "errors": np.zeros(users), "q_sum": n0 * level + rng.normal(0, 0.15, users) * np.sqrt(n0), "q_n": n0,
               "t_sum": np.zeros(users), "t_n": np.zeros(users), "tok_sum": np.zeros(users), "tok_n": np.zeros(users)}
    return out


def test_aa_false_positive_rates_with_cuped_and_capping() -> None:
    rng = np.random.default_rng(20261124)
    runs, hits_q, hits_capped, hits_log, reduction = 1000, 0, 0, 0, []
    for _ in range(runs):
        arms = {"control": arm_with_pre(rng, 300), "treatment": arm_with_pre(rng, 300)}
        capped = analyze(arms, planned_split=0.5, primary="quality_score", estimators={"latency_ms": "capped"})
        hits_q += capped.metric("quality_score").significant
        hits_capped += capped.metric("latency_ms").p_value < 0.05
        reduction.append(capped.metric("quality_score").cuped["variance_reduction"])
        hits_log += analyze(arms, planned_split=0.5, primary="latency_ms").metric("latency_ms").significant
    for hits in (hits_q, hits_capped, hits_log):
        assert 0.035 <= hits / runs <= 0.065, (hits_q, hits_capped, hits_log)
    assert np.mean(reduction) > 0.15  # CUPED is working, not just harmless


def test_sequential_mode_with_cuped_and_daily_looks_stays_under_alpha() -> None:
    rng = np.random.default_rng(123)
    runs, days, per_day, hits = 500, 10, 40, 0
    for _ in range(runs):
        level = {w: np.zeros(0) for w in ("c", "t")}
        pre = {w: np.zeros(0) for w in ("c", "t")}
        best = 1.0
        for _day in range(days):
            for w in ("c", "t"):
                lv = rng.normal(0.7, 0.1, per_day)
                level[w] = np.concatenate([level[w], lv + rng.normal(0, 0.1, per_day)])
                pre[w] = np.concatenate([pre[w], lv + rng.normal(0, 0.1, per_day)])
            lc, lt = stats.mean_level(level["c"]), stats.mean_level(level["t"])
            adjusted = stats.cuped(lc, lt, pre["c"], pre["t"])
            c, t = adjusted.control, adjusted.treatment
            r = stats.welch(c, t)
            best = min(best, stats.msprt_p_value(r.diff, r.se, tau=0.01 * c.mean))
        hits += best < 0.05
    assert hits / runs <= 0.05, hits / runs
