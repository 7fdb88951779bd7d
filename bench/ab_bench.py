"""A/B analysis benchmark: a 10,000,000-row request log (Parquet), streamed and reduced per user.

Run: ``.venv/bin/python bench/ab_bench.py [--quick] [--rows N]``.

Each measurement runs in a fresh child process so its peak RSS (VmHWM) is its own. Printed beside:
a naive pandas groupby over the whole file, and the same analysis from CSV.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / ".bench"


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(rows: int) -> tuple[Path, Path]:
    """A Parquet (and CSV) log of ``rows`` requests from rows/5 users, 10% treatment (cached)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    CACHE.mkdir(exist_ok=True)
    parquet, csv = CACHE / f"ab-{rows}.parquet", CACHE / f"ab-{rows}.csv"
    if parquet.exists() and csv.exists():
        return parquet, csv
    rng = np.random.default_rng(1)
    users = max(rows // 5, 10)
    writer = None
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        user = rng.integers(0, users, n)
        treated = (user * 2654435761 % 1000) < 100
        feedback = rng.random(n) < 0.35
        quality = np.clip(rng.normal(0.7, 0.15, n) + treated * 0.01, 0, 1)
        table = pa.table({
            "experiment_id": pa.array(["summarizer-exp-1"] * n).dictionary_encode(),
            "variant": pa.array(np.where(treated, "treatment", "control")).dictionary_encode(),
            "user_id": pc.binary_join_element_wise("u", pc.cast(pa.array(user), pa.string()), ""),
            "timestamp": pa.array(np.datetime64("2026-11-01") + rng.integers(0, 14 * 86400, n).astype("timedelta64[s]")),
            "latency_ms": rng.lognormal(6.0, 0.6, n),
            "cost_usd": rng.gamma(4.0, 0.0005, n),
            "quality_score": pa.array(quality, mask=~feedback),
            "thumbs_up": pa.array(rng.random(n) < quality, mask=~feedback),
            "error": (rng.random(n) < 0.01).astype(np.int8),
        })
        if writer is None:
            writer = pq.ParquetWriter(parquet, table.schema, compression="zstd")
            csv_writer = pcsv.CSVWriter(csv, table.schema.set(0, pa.field("experiment_id", pa.string()))
                                        .set(1, pa.field("variant", pa.string())))
        writer.write_table(table, row_group_size=chunk)
        csv_writer.write_table(table.set_column(0, "experiment_id", table["experiment_id"].cast(pa.string()))
                               .set_column(1, "variant", table["variant"].cast(pa.string())))
    assert writer is not None
    writer.close()
    csv_writer.close()
    return parquet, csv


def child(op: str, path: str) -> None:
    import pandas as pd

    from tasks.ab import analyze, load_arms

    t0 = time.perf_counter()  # imports excluded, for both paths
    if op == "analyze":
        result = analyze(load_arms(path, "summarizer-exp-1"), planned_split=0.1, primary="quality_score",
                         guardrails={"latency_ms": 0.05, "error_rate": 0.0})
        extra = {"decision": result.decision, "users": result.users}
    else:
        frame = pd.read_parquet(path)
        frame["thumbs"] = frame["thumbs_up"].astype("float64")
        agg = frame.groupby(["variant", "user_id"], observed=True).agg(
            n=("latency_ms", "size"), latency=("latency_ms", "sum"), cost=("cost_usd", "sum"),
            errors=("error", "sum"), q_sum=("quality_score", "sum"), q_n=("quality_score", "count"),
            t_sum=("thumbs", "sum"), t_n=("thumbs", "count"))
        extra = {"groups": len(agg)}
    print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": peak_mb(), **extra}))


def run_child(op: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", op, str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    t0 = time.perf_counter()
    parquet, csv = build(rows)
    print(f"# A/B analysis of a {rows:,}-row request log ({parquet.stat().st_size / 1e6:.0f} MB Parquet, "
          f"{csv.stat().st_size / 1e6:.0f} MB CSV; built or cached in {time.perf_counter() - t0:.1f} s)")
    ours = run_child("analyze", parquet)
    print(f"modelctl analysis, Parquet        {ours['seconds']:7.2f} s   peak RSS {ours['peak_mb']:6.0f} MB   "
          f"(target < 10 s, < 2 GB)  decision={ours['decision']} users={ours['users']}")
    naive = run_child("naive", parquet)
    print(f"baseline: naive pandas groupby    {naive['seconds']:7.2f} s   peak RSS {naive['peak_mb']:6.0f} MB")
    from_csv = run_child("analyze", csv)
    print(f"modelctl analysis, CSV            {from_csv['seconds']:7.2f} s   peak RSS {from_csv['peak_mb']:6.0f} MB")
    cuped(20_000 if args.quick else 200_000)


def cuped(users: int) -> None:
    """CUPED on a simulated log with a 14-day pre-period: the variance it removes, and what it costs."""
    sys.path.insert(0, str(ROOT / "examples" / "ab"))
    from generate import generate, write

    from tasks.ab import analyze, load_arms

    path = CACHE / f"ab-pre-{users}.parquet"
    if not path.exists():
        write(generate(users=users, split=0.5, lift=0.01, seed=5, pre_days=14, mean_requests=10), str(path))
    arms = load_arms(str(path), "summarizer-exp-1")
    timings = {}
    for on in (True, False):
        t0 = time.perf_counter()
        result = analyze(arms, planned_split=0.5, cuped=on)
        timings[on] = (time.perf_counter() - t0, result)
    with_cuped, without = timings[True][1], timings[False][1]
    print(f"# CUPED on a simulated log: {users:,} users, 14-day pre-period, ~10 requests per user")
    for name in ("quality_score", "latency_ms", "thumbs_up"):
        m, base = with_cuped.metric(name), without.metric(name)
        cut = (m.cuped or {}).get("variance_reduction", 0.0)
        print(f"{name:<14} variance -{cut:5.1%}   SE {m.scale['se']:.3g} (baseline without CUPED {base.scale['se']:.3g})   "
              f"lift {m.rel_diff:+.2%} vs {base.rel_diff:+.2%}")
    print(f"analysis time with CUPED {timings[True][0]:.2f} s (baseline without CUPED {timings[False][0]:.2f} s)")


if __name__ == "__main__":
    main()
