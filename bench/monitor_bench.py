"""Monitoring benchmark: the monitor over a 10,000,000-row request log across 50 versions (Parquet), and the
drift probe's calibration rates and its own overhead beside the provider calls it makes.

Run: ``.venv/bin/python bench/monitor_bench.py [--quick] [--rows N] [--runs N] [--engine duckdb|arrow|both]``.

The monitor runs in a fresh child process per engine so that its peak RSS (VmHWM) is its own; by default the
DuckDB engine is measured beside the Arrow reference (the previous path) and the ratio printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / ".bench"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MODELS, VERSIONS = 10, 5  # 50 (model, version) pairs


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(rows: int) -> Path:
    """Eight days of traffic of 10 models x 5 versions; the newest version of model 0 regresses (cached)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"monitor-{rows}.parquet"
    if path.exists():
        return path
    rng = np.random.default_rng(1)
    users = max(rows // 20, 10)
    user_names = pa.array([f"u{i}" for i in range(users)])
    models = pa.array([f"model-{m}" for m in range(MODELS)])
    start_us = int((NOW - timedelta(days=8)).timestamp() * 1e6)
    writer = None
    chunk = 1_000_000
    for first in range(0, rows, chunk):
        n = min(chunk, rows - first)
        model = rng.integers(0, MODELS, n)
        ts = start_us + rng.integers(0, 8 * 86400 * 10**6, n)
        day = (ts - start_us) // (86400 * 10**6)
        version = np.minimum(day * VERSIONS // 8 + 1, VERSIONS)  # a new version every day or two; all serve
        regress = (model == 0) & (version == VERSIONS)
        feedback = rng.random(n) < 0.3
        quality = np.clip(rng.normal(0.8 - 0.1 * regress, 0.15, n), 0, 1)
        table = pa.table({
            "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "model": pa.DictionaryArray.from_arrays(pa.array(model.astype(np.int32)), models),
            "version": version.astype(np.int64),
            "environment": pa.array(["production"] * n).dictionary_encode(),
            "user_id": pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, users, n).astype(np.int32)),
                                                      user_names),
            "latency_ms": rng.lognormal(6.0, 0.5, n) * (1 + 0.5 * regress),
            "input_tokens": rng.integers(50, 500, n), "output_tokens": rng.integers(10, 200, n),
            "cost_usd": rng.gamma(4.0, 0.0005, n),
            "error": (rng.random(n) < 0.01 + 0.02 * regress).astype(np.int8),
            "quality_score": pa.array(quality, mask=~feedback),
            "thumbs_up": pa.array(rng.random(n) < quality, mask=~feedback)})
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table, row_group_size=chunk)
    assert writer is not None
    writer.close()
    return path


def child(path: str, engine: str) -> None:
    from tasks.monitoring.monitor import run_monitor

    t0, c0 = time.perf_counter(), time.process_time()
    report = run_monitor(None, logs=path, window=timedelta(hours=24), baseline=timedelta(days=7), now=NOW,
                         engine=engine)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    versions = sum(len(m.series.versions) for m in report.models if m.series)
    degraded = sorted({f"{f['model']}@{f['version']}" for f in report.findings})
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_mb": peak_mb(), "versions": versions,
                      "degraded": degraded, "status": {f"{m.model}@{c.version}": c.status for m in report.models
                                                       for c in m.versions}}))


def run_child(path: Path, engine: str) -> dict[str, Any]:
    """One monitor run in a fresh process (its own peak RSS), with the load average when it ended."""
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--engine", engine], capture_output=True,
                         text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["load"] = os.getloadavg()[0]
    return result


def probe_overhead(runs: int) -> dict[str, float]:
    """The probe's own time per run (sampling loop + statistics) with an instant sampler, 20 inputs x 5."""
    import numpy as np

    from tasks.monitoring.probe import Sample, collect, compare, reference_document
    from tasks.monitoring.simulate import BASE, probe_inputs

    inputs = probe_inputs(20)
    rng = np.random.default_rng(0)
    canned = {t: [BASE.answer(t, rng) for _ in range(10)] for t in inputs}
    counters = dict.fromkeys(inputs, 0)

    def instant(text: str) -> Sample:
        counters[text] += 1
        return Sample(canned[text][counters[text] % 10], BASE.name, BASE.fingerprint, 30, 0.0)

    reference = reference_document(collect(inputs, 5, instant), model="m", version=1, digest="d" * 64,
                                   method="char-3gram-mmd", created_at="2026-01-01T00:00:00Z")
    t0 = time.perf_counter()
    for _ in range(runs):
        current = collect(inputs, 5, instant)
    sampling = (time.perf_counter() - t0) / runs
    t0 = time.perf_counter()
    for _ in range(runs):
        compare(reference, current)
    return {"sampling_ms": sampling * 1000, "statistics_ms": (time.perf_counter() - t0) / runs * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="Seeded probe runs per scenario (default 200)")
    parser.add_argument("--engine", choices=["duckdb", "arrow", "both"], default="both",
                        help="The monitor's engine (default both: DuckDB beside the Arrow reference)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.engine)
        return
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    t0 = time.perf_counter()
    path = build(rows)
    print(f"# Monitor over a {rows:,}-row request log, {MODELS * VERSIONS} versions "
          f"({path.stat().st_size / 1e6:.0f} MB Parquet; built or cached in {time.perf_counter() - t0:.1f} s)")
    engines = ["duckdb", "arrow"] if args.engine == "both" else [args.engine]
    results = {engine: run_child(path, engine) for engine in engines}
    for engine, m in results.items():
        label = "DuckDB (default)" if engine == "duckdb" else "Arrow (reference)"
        print(f"modelctl monitor, {label:<17} {m['seconds']:7.2f} s wall, {m['cpu_seconds']:.2f} s CPU   peak RSS "
              f"{m['peak_mb']:6.0f} MB   (target < 10 s, < 2 GB)  versions charted={m['versions']} "
              f"degraded={m['degraded']}   (load average {m['load']:.1f} on {os.cpu_count()} cores)")
    if len(results) == 2:
        duck, ref = results["duckdb"], results["arrow"]
        print(f"DuckDB / Arrow: wall x{float(duck['seconds']) / float(ref['seconds']):.2f}, "
              f"peak RSS x{float(duck['peak_mb']) / float(ref['peak_mb']):.2f}; "
              f"same statuses: {duck['status'] == ref['status']}")

    from tasks.monitoring.simulate import calibrate

    runs = args.runs if args.runs is not None else (50 if args.quick else 200)
    if not runs:
        return
    t0 = time.perf_counter()
    rates = calibrate(runs)
    print(f"# Drift probe calibration: {runs} seeded runs per scenario, 20 inputs x 5 samples, "
          f"in-process sampler ({time.perf_counter() - t0:.1f} s)")
    print(f"false alarms (same model)           {rates['same']:6.1%}   (target <= 5%)")
    print(f"detected: another model on 30%      {rates['switch']:6.1%}   (target >= 90%)")
    print(f"detected: output length x1.3        {rates['length']:6.1%}   (target >= 90%)")
    over = probe_overhead(5 if args.quick else 20)
    print(f"probe overhead per run (100 calls): sampling loop {over['sampling_ms']:.1f} ms, statistics "
          f"{over['statistics_ms']:.1f} ms; beside 100 provider calls at ~500 ms each (~50 s), "
          f"{(over['sampling_ms'] + over['statistics_ms']) / 50_000:.2%}")


if __name__ == "__main__":
    main()
