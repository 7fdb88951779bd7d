"""Fine-tune data benchmark: collect + validate + split of a 1,000,000-record request log, and local
training on 50,000 examples.

Run: ``.venv/bin/python bench/finetune_bench.py [--quick] [--rows N] [--train-rows N]``.

The log is written once (cached under ``.bench/``) in the request log's own layout with closed days
compacted to Parquet; 30% of requests have feedback, 80% of that verified. Printed beside: a plain
pandas read of the same request files in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "datasets"))
CACHE = ROOT / ".bench"
SUITE = ROOT / "examples" / "suites" / "ticket-triage" / "suite.yaml"
DAYS = 10


def tickets(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` distinct ticket texts (the generator's tickets with a reference number) and their labels."""
    from make_tickets import generate

    base = generate(seed=seed, n=2000, exclude=set(), prefix="b")
    texts = [f"{base[i % len(base)]['input']} (ref {i:07d})" + (f" mail me at user{i}@example.com" if i % 50 == 0 else "")
             for i in range(n)]
    return texts, [base[i % len(base)]["expected"] for i in range(n)]


def build_log(rows: int) -> Path:
    """A request log of ``rows`` records of model ``tickets`` over 10 days, Parquet per day (cached)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tasks.request_log import FEEDBACK_SCHEMA, REQUEST_SCHEMA

    root = CACHE / f"finetune-log-v2-{rows}"
    if (root / "done").exists():
        return root
    rng = np.random.default_rng(0)
    texts, labels = tickets(rows, seed=5)
    ids = [f"req-{i:08d}" for i in range(rows)]
    per_day = rows // DAYS
    for day in range(DAYS):
        lo, hi = day * per_day, rows if day == DAYS - 1 else (day + 1) * per_day
        n = hi - lo
        stamp = pa.array(np.full(n, np.datetime64(f"2026-10-{day + 1:02d}T12:00:00", "us")), pa.timestamp("us", tz="UTC"))
        requests = pa.table({
            "timestamp": stamp, "request_id": ids[lo:hi], "model": ["tickets"] * n, "model_id": ["tfidf-logreg-v1"] * n,
            "version": np.ones(n, dtype=np.int64), "digest": ["0" * 64] * n, "environment": ["production"] * n,
            "experiment_id": [None] * n, "variant": [None] * n, "user_id": [f"u{i % 5000}" for i in range(lo, hi)],
            "latency_ms": rng.gamma(2, 40, n), "input_tokens": np.full(n, 20), "output_tokens": np.ones(n, dtype=np.int64),
            "cost_usd": np.zeros(n), "error": np.zeros(n, dtype=np.int64), "error_type": [None] * n,
            "input_text": texts[lo:hi], "output_text": labels[lo:hi]}).cast(REQUEST_SCHEMA)
        has = rng.random(n) < 0.30
        picked = np.flatnonzero(has)
        verified = rng.random(len(picked)) < 0.80
        feedback = pa.table({
            "timestamp": stamp.take(pa.array(picked)), "request_id": [ids[lo + i] for i in picked],
            "quality_score": np.ones(len(picked)), "thumbs_up": np.ones(len(picked), dtype=bool),
            "label": [labels[lo + i] for i in picked],
            "verified_by": ["agent-1" if v else None for v in verified]}).cast(FEEDBACK_SCHEMA)
        for kind, table in (("requests", requests), ("feedback", feedback)):
            folder = root / kind / f"date=2026-10-{day + 1:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, folder / "compacted-bench.parquet", compression="zstd")
    (root / "done").write_text("ok")
    return root


def bench_collect(log: Path) -> dict[str, float]:
    from tasks.request_log import redactor
    from tasks.training.collect import collect
    from tasks.training.split import split_rows
    from tasks.training.validate import validate

    start = time.perf_counter()
    got = collect(model="tickets", data=None, log_uri=str(log), capture_content=True, suite_path=str(SUITE),
                  redact=redactor())
    t_collect = time.perf_counter() - start
    report = validate(got.frame, str(log), min_samples=5000, limit=65_536, classifier=True)
    t_validate = time.perf_counter() - start - t_collect
    result = split_rows(got.frame, seed=0, ratios=(0.8, 0.1, 0.1), stratify=True)
    total = time.perf_counter() - start
    print(f"  collect {t_collect:.2f} s ({got.read:,} with feedback -> {got.rows:,} kept; dropped {got.dropped})")
    print(f"  validate {t_validate:.2f} s ({report.rows:,} examples, max {report.max_tokens} tokens)")
    print(f"  split {total - t_collect - t_validate:.2f} s ({result.counts}; sha256 {result.sha256[:12]})")
    return {"total": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 records and 10,000 training examples")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--train-rows", type=int, default=50_000)
    args = parser.parse_args()
    rows, train_rows = (100_000, 10_000) if args.quick else (args.rows, args.train_rows)

    t0 = time.perf_counter()
    log = build_log(rows)
    print(f"request log: {rows:,} records in {DAYS} Parquet day partitions ({time.perf_counter() - t0:.1f} s to build/find)")

    import pandas as pd

    start = time.perf_counter()
    plain = pd.concat([pd.read_parquet(p) for p in sorted((log / "requests").rglob("*.parquet"))])
    t_pandas = time.perf_counter() - start
    print(f"plain pandas read of the request files: {t_pandas:.2f} s ({len(plain):,} rows, no feedback join)")
    del plain

    print("collect + validate + split (request log, verified feedback, redaction, decontamination):")
    figures = bench_collect(log)
    verdict = "PASS" if figures["total"] < 10 or rows < 1_000_000 else "FAIL"
    print(f"collect + validate + split of {rows:,} records: {figures['total']:.2f} s (target < 10 s) {verdict}")

    from tasks import local_models

    texts, labels = tickets(train_rows, seed=9)
    start = time.perf_counter()
    data = local_models.classifier_artifact(texts, labels, c=4.0, max_iter=2000,
                                            trained_on={"rows": train_rows})
    t_train = time.perf_counter() - start
    verdict = "PASS" if t_train < 60 or train_rows < 50_000 else "FAIL"
    print(f"local training (TF-IDF + logistic regression) on {train_rows:,} examples: {t_train:.2f} s "
          f"(artifact {len(data) / 1e6:.1f} MB; target < 60 s) {verdict}")


if __name__ == "__main__":
    main()
