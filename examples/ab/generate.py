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
             experiment_id: str = "summarizer-exp-1", mean_requests: float = 5.0, start: str = "2026-11-01",
             days: float = 14, pre_days: float = 0, slow_outlier_ms: float = 0.0) -> pd.DataFrame:
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
    t0 = pd.Timestamp(start)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    ts = t0 + pd.to_timedelta(rng.integers(0, max(1, int(days * 86400)), n), unit="s")
    frame = pd.DataFrame({
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
    if slow_outlier_ms:  # one timed-out request in control: the heavy tail raw means cannot survive
        first_control = int(np.flatnonzero(frame["variant"].to_numpy() == "control")[0])
        frame.loc[first_control, "latency_ms"] = slow_outlier_ms
    if pre_days:  # the same users before the experiment, outside any arm (CUPED's pre-period)
        pre_n = rng.geometric(1 / mean_requests, users)
        pidx = np.repeat(np.arange(users), pre_n)
        m = len(pidx)
        pre_quality = np.clip(user_quality[pidx] / np.where(treated[pidx], 1 + lift, 1.0) + rng.normal(0, 0.15, m), 0, 1)
        pre_fb = rng.random(m) < 0.35
        pre = pd.DataFrame({
            "experiment_id": None, "variant": None, "user_id": user_ids[pidx],
            "timestamp": t0 - pd.to_timedelta(rng.integers(1, int(pre_days * 86400), m), unit="s"),
            "latency_ms": np.round(user_speed[pidx] / np.where(treated[pidx], 1 + latency_lift, 1.0)
                                   * rng.lognormal(np.log(400), 0.6, m), 2),
            "cost_usd": np.round(rng.gamma(4.0, 0.0005, m), 6),
            "quality_score": np.where(pre_fb, np.round(pre_quality, 3), np.nan),
            "thumbs_up": np.where(pre_fb, (rng.random(m) < pre_quality).astype(float), np.nan),
            "error": (rng.random(m) < 0.01).astype(int),
        })
        frame = pd.concat([pre, frame], ignore_index=True)
    return frame


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
