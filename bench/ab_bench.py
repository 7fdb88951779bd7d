"""A/B analysis benchmark: ``run_analysis`` (what ``modelctl ab analyze EXP --logs FILE`` runs) over a
10,000,000-row request log (Parquet): checks, per-user reduction and per-arm sums in DuckDB, then every metric.

Run: ``.venv/bin/python bench/ab_bench.py [--quick] [--rows N] [--big]`` (``--big``: 100,000,000 rows,
also ``make bench BENCH_ARGS=--big``).

Each measurement runs in a fresh child process so its peak RSS (VmHWM) is its own. Printed beside:
the plain DuckDB query (per-user sums, nothing else, same filter and DuckDB settings) in the same run
with the ratio, the Arrow reference engine, a naive pandas groupby, the same analysis from CSV, and ``load_requests`` over
1,000,000 logged records (JSONL and Parquet) against the previous Arrow/pandas reader.
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


def build(rows: int, *, with_csv: bool = True) -> tuple[Path, Path]:
    """A Parquet (and CSV) log of ``rows`` requests from rows/5 users, 10% treatment (cached)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    CACHE.mkdir(exist_ok=True)
    parquet, csv = CACHE / f"ab-{rows}.parquet", CACHE / f"ab-{rows}.csv"
    if parquet.exists() and (csv.exists() or not with_csv):
        return parquet, csv
    rng = np.random.default_rng(1)
    users = max(rows // 5, 10)
    writer = csv_writer = None
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
            if with_csv:
                csv_writer = pcsv.CSVWriter(csv, table.schema.set(0, pa.field("experiment_id", pa.string()))
                                            .set(1, pa.field("variant", pa.string())))
        writer.write_table(table, row_group_size=chunk)
        if csv_writer is not None:
            csv_writer.write_table(table.set_column(0, "experiment_id", table["experiment_id"].cast(pa.string()))
                                   .set_column(1, "variant", table["variant"].cast(pa.string())))
    assert writer is not None
    writer.close()
    if csv_writer is not None:
        csv_writer.close()
    return parquet, csv


# The peer: one SQL statement from the Parquet file to per-user sufficient statistics, with the same filter
# (the experiment) and DuckDB settings (threads, memory limit) as modelctl's engine, fetched as Arrow.
PLAIN_SQL = """SELECT variant, user_id, COUNT(*) AS n, SUM(latency_ms) AS latency, SUM(cost_usd) AS cost,
       SUM(error) AS errors, SUM(quality_score) AS q_sum, COUNT(quality_score) AS q_n,
       SUM(CAST(thumbs_up AS DOUBLE)) AS t_sum, COUNT(thumbs_up) AS t_n
FROM read_parquet('{path}') WHERE experiment_id = 'summarizer-exp-1' GROUP BY variant, user_id"""


def child(op: str, path: str) -> None:
    t0 = time.perf_counter()  # imports excluded, for every path
    if op == "analyze":  # what `modelctl ab analyze EXP --logs FILE` runs
        from tasks.ab import run_analysis

        t0 = time.perf_counter()
        result = run_analysis(None, "summarizer-exp-1", logs=path, planned_split=0.1, primary="quality_score",
                              guardrails={"latency_ms": 0.05, "error_rate": 0.0})
        extra = {"decision": result.decision, "users": result.users}
    elif op == "arrow":
        from tasks.ab import analyze, load_arms

        t0 = time.perf_counter()
        arms = load_arms(path, "summarizer-exp-1", engine="arrow")
        result = analyze(arms, planned_split=0.1, primary="quality_score",
                         guardrails={"latency_ms": 0.05, "error_rate": 0.0})
        extra = {"decision": result.decision, "users": result.users}
    elif op == "plain":
        import duckdb

        from tasks.ab.engine import MEMORY_LIMIT, THREADS

        t0 = time.perf_counter()
        con = duckdb.connect()
        con.execute(f"SET threads = {THREADS}")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        groups = con.sql(PLAIN_SQL.format(path=path)).to_arrow_table().num_rows
        extra = {"groups": groups, "threads": THREADS}
    elif op.startswith("log-"):
        from tasks.request_log import load_requests, load_requests_arrow

        reader = load_requests if op == "log-duckdb" else load_requests_arrow
        t0 = time.perf_counter()
        extra = {"rows": len(reader(path))}
    else:
        import pandas as pd

        t0 = time.perf_counter()
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


def build_log(records: int) -> tuple[Path, Path]:
    """A request log of ``records`` requests as JSONL and as compacted Parquet (cached), with feedback."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.request_log import FEEDBACK_SCHEMA, REQUEST_SCHEMA

    roots = CACHE / f"log-{records}-jsonl", CACHE / f"log-{records}-parquet"
    if all((r / "done").exists() for r in roots):
        return roots
    rng = np.random.default_rng(2)
    start = np.datetime64("2026-11-01T00:00:00", "us")
    ts = start + np.sort(rng.integers(0, 86_400_000_000, records)).astype("timedelta64[us]")
    ids = pa.array([f"req-{i:09d}" for i in range(records)])
    requests = pa.table({
        "timestamp": pa.array(ts).cast(pa.timestamp("us", tz="UTC")), "request_id": ids,
        "model": pa.array(np.where(rng.random(records) < 0.8, "summarizer", "triage")),
        "model_id": pa.array(["claude-sonnet-4-5"] * records), "version": pa.array(rng.integers(1, 4, records)),
        "digest": pa.array(["ab" * 32] * records), "environment": pa.array(["production"] * records),
        "experiment_id": pa.array(["summarizer-exp-1"] * records), "variant": pa.array(
            np.where(rng.random(records) < 0.1, "treatment", "control")),
        "user_id": pa.array([f"{u:032x}" for u in rng.integers(0, records // 5, records)]),
        "latency_ms": rng.lognormal(6, 0.6, records).round(3), "input_tokens": rng.integers(10, 900, records),
        "output_tokens": rng.integers(1, 400, records), "cost_usd": rng.gamma(4.0, 0.0005, records).round(6),
        "error": (rng.random(records) < 0.01).astype(np.int64), "error_type": pa.nulls(records, pa.string()),
        "input_text": pa.nulls(records, pa.string()), "output_text": pa.nulls(records, pa.string()),
        "ttft_ms": pa.nulls(records, pa.float64()), "abandoned": pa.nulls(records, pa.int64()),
        "tool_names": pa.nulls(records, pa.string())},
        schema=REQUEST_SCHEMA)
    picked = np.flatnonzero(rng.random(records) < 0.3)
    feedback = pa.table({
        "timestamp": requests["timestamp"].take(pa.array(picked)), "request_id": ids.take(pa.array(picked)),
        "quality_score": rng.random(len(picked)).round(3), "thumbs_up": rng.random(len(picked)) < 0.7,
        "label": pa.nulls(len(picked), pa.string()), "verified_by": pa.nulls(len(picked), pa.string())},
        schema=FEEDBACK_SCHEMA)
    for root in roots:
        for kind, table in (("requests", requests), ("feedback", feedback)):
            folder = root / kind / "date=2026-11-01"
            folder.mkdir(parents=True, exist_ok=True)
            if root.name.endswith("parquet"):
                pq.write_table(table, folder / "compacted-bench.parquet", compression="zstd")
            else:
                frame = table.to_pandas()
                frame["timestamp"] = frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                frame.to_json(folder / "part-bench.jsonl", orient="records", lines=True)
        (root / "done").write_text("")
    return roots


def bench_log(records: int) -> None:
    jsonl, parquet = build_log(records)
    print(f"# load_requests over {records:,} logged requests (30% with feedback), filter + join in DuckDB")
    for label, root in (("JSONL", jsonl), ("Parquet", parquet)):
        new, old = run_child("log-duckdb", root), run_child("log-arrow", root)
        print(f"load_requests, {label:<8} DuckDB {new['seconds']:6.2f} s  peak {new['peak_mb']:5.0f} MB   "
              f"baseline: previous Arrow/pandas reader {old['seconds']:6.2f} s  peak {old['peak_mb']:5.0f} MB   "
              f"{old['seconds'] / new['seconds']:.1f}x faster (target >= 2x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--big", action="store_true", help="also the 100,000,000-row run")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print("# timings on a shared 2-core machine: compare figures within one run, not across runs")
    sizes = [args.rows or (1_000_000 if args.quick else 10_000_000)]
    if args.big:
        sizes.append(100_000_000)
    timed = {rows: bench_ab(rows, with_csv=rows <= 10_000_000, with_reference=rows <= 10_000_000) for rows in sizes}
    if len(timed) > 1:
        (small, t_small), (big, t_big) = sorted(timed.items())
        print(f"scaling: {big // small}x the rows took {t_big / t_small:.1f}x the time (linear: {big // small}x)")
    bench_log(100_000 if args.quick else 1_000_000)
    cuped(20_000 if args.quick else 200_000)


def bench_ab(rows: int, *, with_csv: bool, with_reference: bool) -> float:
    t0 = time.perf_counter()
    parquet, csv = build(rows, with_csv=with_csv)
    csv_size = f", {csv.stat().st_size / 1e6:.0f} MB CSV" if with_csv else ""
    print(f"# A/B analysis of a {rows:,}-row request log ({parquet.stat().st_size / 1e6:.0f} MB Parquet{csv_size}; "
          f"built or cached in {time.perf_counter() - t0:.1f} s)")
    ours = run_child("analyze", parquet)  # load + every metric's analysis (imports excluded)
    plain = run_child("plain", parquet)
    ratio = ours["seconds"] / plain["seconds"]
    print(f"modelctl analysis (DuckDB), Parquet  {ours['seconds']:7.2f} s   peak RSS {ours['peak_mb']:6.0f} MB   "
          f"(target within 1.2x of the plain query, < 1 GB)  decision={ours['decision']} users={ours['users']}")
    print(f"peer: plain DuckDB query, same run   {plain['seconds']:7.2f} s   peak RSS {plain['peak_mb']:6.0f} MB   "
          f"ratio {ratio:.2f}x  ({plain['threads']} DuckDB thread(s) each)")
    if with_reference:
        ref = run_child("arrow", parquet)
        print(f"baseline: Arrow reference engine     {ref['seconds']:7.2f} s   peak RSS {ref['peak_mb']:6.0f} MB")
        naive = run_child("naive", parquet)
        print(f"baseline: naive pandas groupby       {naive['seconds']:7.2f} s   peak RSS {naive['peak_mb']:6.0f} MB")
    if with_csv:
        from_csv = run_child("analyze", csv)
        print(f"modelctl analysis (DuckDB), CSV      {from_csv['seconds']:7.2f} s   peak RSS "
              f"{from_csv['peak_mb']:6.0f} MB")
    return float(ours["seconds"])


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
