"""Synthetic request-log tables for the monitor's tests (seeded, vectorised)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def traffic(*, model: str = "summarizer", version: int = 1, users: int = 400, per_user: int = 5,
            start: datetime, hours: float, seed: int, quality: float = 0.8, error_rate: float = 0.01,
            latency_ms: float = 300.0, cost_usd: float = 0.002, feedback: float = 0.5,
            user_prefix: str = "u") -> pa.Table:
    """``users`` users with ``per_user`` requests each, spread uniformly over ``hours`` from ``start``."""
    rng = np.random.default_rng(seed)
    n = users * per_user
    user = np.repeat(np.arange(users), per_user)
    offset = rng.uniform(0, hours * 3600e6, n).astype(np.int64)
    ts = np.int64((start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)) + offset
    has_fb = rng.random(n) < feedback
    q = np.clip(rng.normal(quality, 0.15, n), 0, 1)
    return pa.table({
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")), "model": [model] * n, "version": [version] * n,
        "environment": ["production"] * n, "user_id": [f"{user_prefix}{u}" for u in user],
        "latency_ms": rng.lognormal(np.log(latency_ms), 0.4, n), "input_tokens": rng.integers(50, 150, n),
        "output_tokens": rng.integers(20, 60, n), "cost_usd": rng.gamma(4, cost_usd / 4, n),
        "error": (rng.random(n) < error_rate).astype(np.int64),
        "quality_score": pa.array(np.where(has_fb, q, np.nan), from_pandas=True),
        "thumbs_up": pa.array(np.where(has_fb, (q > 0.5).astype(float), np.nan), from_pandas=True)})


def week_and_day(seed: int, *, version_today: int = 1, **today: float) -> pa.Table:
    """Seven days of baseline traffic of version 1, then a day of ``version_today`` with ``today``'s changes."""
    base = traffic(start=NOW - timedelta(days=8), hours=7 * 24, seed=seed, per_user=10)
    cur = traffic(start=NOW - timedelta(days=1), hours=24, seed=seed + 1, version=version_today,
                  **today)  # type: ignore[arg-type]
    return pa.concat_tables([base, cur])
