"""Write a request-log table with a week of history and a last day served by a worse version.

    python examples/monitor/history.py OUT.parquet [--model summarizer] [--now 2026-11-20T12:00:00Z]

Seven days of version 1 (quality about 0.80, 1% errors, ~300 ms), then 24 hours of version 2 with lower
quality, more errors and slower answers: ``modelctl monitor`` finds it degraded.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def days(rng: np.random.Generator, *, model: str, version: int, start: datetime, hours: float, users: int,
         per_user: int, quality: float, errors: float, latency: float) -> pa.Table:
    n = users * per_user
    feedback = rng.random(n) < 0.4
    q = np.clip(rng.normal(quality, 0.15, n), 0, 1)
    ts = np.datetime64(start.replace(tzinfo=None), "us") + (rng.uniform(0, hours * 3600e6, n)).astype(
        "timedelta64[us]")
    return pa.table({
        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")), "model": [model] * n, "version": [version] * n,
        "environment": ["production"] * n, "user_id": [f"user-{u}" for u in np.repeat(np.arange(users), per_user)],
        "latency_ms": rng.lognormal(np.log(latency), 0.4, n), "input_tokens": rng.integers(40, 120, n),
        "output_tokens": rng.integers(20, 60, n), "cost_usd": rng.gamma(4, 0.0005, n),
        "error": (rng.random(n) < errors).astype(np.int64),
        "quality_score": pa.array(q, mask=~feedback), "thumbs_up": pa.array(q > 0.5, mask=~feedback)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--model", default="summarizer")
    parser.add_argument("--now", default="2026-11-20T12:00:00+00:00")
    args = parser.parse_args()
    now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
    rng = np.random.default_rng(14)
    week = days(rng, model=args.model, version=1, start=now - timedelta(days=8), hours=7 * 24, users=300,
                per_user=20, quality=0.80, errors=0.01, latency=300)
    day = days(rng, model=args.model, version=2, start=now - timedelta(days=1), hours=24, users=300, per_user=4,
               quality=0.74, errors=0.03, latency=420)
    pq.write_table(pa.concat_tables([week, day]), args.out)
    print(f"wrote {week.num_rows + day.num_rows} requests to {args.out}")


if __name__ == "__main__":
    main()
