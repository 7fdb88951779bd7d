"""Generate a realistic A/B request-log table (deterministic for a seed).

    python examples/ab/generate.py OUT.{csv,parquet,jsonl} [--users N] [--split 0.1] [--lift 0.05] [--seed 1]

Users make many requests (a geometric number), latency is log-normal (heavy-tailed) with a per-user
factor, about a third of requests get feedback (quality_score, thumbs_up), errors are rare.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd


def generate(users: int = 4000, split: float = 0.1, lift: float = 0.0, latency_lift: float = 0.0, seed: int = 1,
             experiment_id: str = "summarizer-exp-1", mean_requests: float = 5.0) -> pd.DataFrame:
    """One row per request with the A/B input columns."""
    rng = np.random.default_rng(seed)
    user_ids = np.array([f"u{seed}-{i:07d}" for i in range(users)])
    treated = rng.random(users) < split
    per_user = rng.geometric(1 / mean_requests, users)
    user_quality = rng.normal(0.70, 0.08, users) * np.where(treated, 1 + lift, 1.0)
    user_speed = rng.lognormal(0.0, 0.3, users) * np.where(treated, 1 + latency_lift, 1.0)
    idx = np.repeat(np.arange(users), per_user)
    n = len(idx)
    has_feedback = rng.random(n) < 0.35
    quality = np.clip(user_quality[idx] + rng.normal(0, 0.15, n), 0, 1)
    thumbs = (rng.random(n) < quality).astype(float)
    ts = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 14 * 86400, n), unit="s")
    return pd.DataFrame({
        "experiment_id": experiment_id,
        "variant": np.where(treated[idx], "treatment", "control"),
        "user_id": user_ids[idx],
        "timestamp": ts,
        "latency_ms": np.round(user_speed[idx] * rng.lognormal(np.log(400), 0.6, n), 2),
        "cost_usd": np.round(rng.gamma(4.0, 0.0005, n), 6),
        "quality_score": np.where(has_feedback, np.round(quality, 3), np.nan),
        "thumbs_up": np.where(has_feedback, thumbs, np.nan),
        "error": (rng.random(n) < 0.01).astype(int),
    })


def write(frame: pd.DataFrame, out: str) -> None:
    path = Path(out)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        frame.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--split", type=float, default=0.1)
    parser.add_argument("--lift", type=float, default=0.0)
    parser.add_argument("--latency-lift", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    write(generate(args.users, args.split, args.lift, args.latency_lift, args.seed), args.out)


if __name__ == "__main__":
    main()
