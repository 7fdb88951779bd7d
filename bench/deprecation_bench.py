"""Deprecation matching benchmark: 10,000 registry versions against 5,000 notices, index vs nested loop.

Run: ``.venv/bin/python bench/deprecation_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.deprecations.matching import VersionIndex, VersionRef, nested_loop  # noqa: E402

FAMILIES = ["claude-sonnet-4-5", "claude-3-5-sonnet", "claude-opus-4-1", "gpt-4o", "gpt-4o-mini", "gpt-4.1",
            "o3-mini", "text-embedding-3-small", "llama3-70b", "mistral-large"]


def workload(versions: int, notices: int, seed: int = 1) -> tuple[list[VersionRef], list[str]]:
    rng = random.Random(seed)
    snapshots = [f"{f}-{2023 + i % 4}{(i % 12) + 1:02d}{(i % 28) + 1:02d}" for f in FAMILIES for i in range(600)]
    refs = []
    for i in range(versions):
        r = rng.random()
        model_id = (rng.choice(snapshots) if r < 0.85 else rng.choice(FAMILIES) if r < 0.95
                    else rng.choice(FAMILIES) + "-*" if r < 0.98 else "us.anthropic." + rng.choice(snapshots) + "-v1:0")
        base = rng.choice(FAMILIES) if rng.random() < 0.1 else None
        refs.append(VersionRef(f"model-{i // 10}", i % 10 + 1, "production", "anthropic", model_id, base))
    ids = [rng.choice(snapshots) for _ in range(notices)]
    return refs, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    versions, notices = (2000, 1000) if args.quick else (10_000, 5_000)
    refs, ids = workload(versions, notices)
    t0 = time.perf_counter()
    index = VersionIndex(refs)
    found = {n: index.lookup(n) for n in ids}
    indexed = time.perf_counter() - t0
    sample = ids[: max(1, len(ids) // 10)]  # the full nested loop takes minutes: time a 10% sample
    t0 = time.perf_counter()
    expected = nested_loop(sample, refs)
    nested = (time.perf_counter() - t0) * len(ids) / len(sample)
    assert all(sorted(found[n], key=id) == sorted(expected[n], key=id) for n in sample)
    hits = sum(len(v) for v in found.values())
    print(f"# matching {versions:,} registry versions against {notices:,} notices ({hits:,} matches)")
    print(f"index (build + lookups)     {indexed:8.3f} s   (target < 1 s)")
    print(f"baseline: nested loop       {nested:8.3f} s   (timed on {len(sample):,} notices and scaled; same results)")


if __name__ == "__main__":
    main()
