"""Deterministic, seeded, stratified train/validation/test split and its manifest.

Rows are ordered inside each stratum (label) by sha256 of the seed and the normalised input, then cut
by the ratios: the same rows and seed give the same split in any process, and since inputs were
de-duplicated on their normalised form, no normalised input lands in two splits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import InvalidInput
from tasks.training.collect import normalised

SPLITS = ("train", "validation", "test")
MANIFEST_FORMAT = "modelctl-finetune-manifest/1"


def parse_ratios(text: str | list[float] | tuple[float, ...]) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` into three fractions that sum to 1."""
    try:
        parts = [float(x) for x in (text.split(",") if isinstance(text, str) else text)]
    except ValueError as exc:
        raise InvalidInput(f"--split must be three numbers like 0.8,0.1,0.1, got {text!r}", field="split") from exc
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-6 or parts[0] <= 0:
        raise InvalidInput(f"--split must be three non-negative fractions summing to 1, got {text!r}",
                           field="split")
    return parts[0], parts[1], parts[2]


@dataclass
class SplitResult:
    """Rows with a ``split`` column, the canonical JSONL bytes and their sha256."""

    frame: pd.DataFrame
    canonical: bytes
    sha256: str
    counts: dict[str, int]
    labels: dict[str, dict[str, int]] | None


def _cut(n: int, ratios: tuple[float, float, float]) -> tuple[int, int]:
    n_val = int(round(n * ratios[1]))
    n_test = int(round(n * ratios[2]))
    if n >= 3:  # every non-zero split gets at least one row of every stratum that can spare one
        n_val = max(n_val, 1 if ratios[1] > 0 else 0)
        n_test = max(n_test, 1 if ratios[2] > 0 else 0)
    n_train = max(n - n_val - n_test, 0)
    return n_train, n_train + n_val


def canonical_jsonl(frame: pd.DataFrame) -> bytes:
    """One sorted-key compact JSON object per row (id, input, output, split): what the sha256 covers.

    Byte-identical to ``json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``,
    with strings escaped by the C encoder directly (a million rows in about a second).
    """
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode

    def enc(value: Any) -> str:
        return encode_basestring(value) if isinstance(value, str) else dumps(value)

    columns = [frame[c].to_numpy(dtype=object) for c in ("id", "input", "output", "split")]
    lines = [f'{{"id":{enc(i)},"input":{enc(x)},"output":{enc(o)},"split":{enc(s)}}}\n'
             for i, x, o, s in zip(*columns, strict=True)]
    return "".join(lines).encode()


def split_rows(frame: pd.DataFrame, *, seed: int, ratios: tuple[float, float, float],
               stratify: bool) -> SplitResult:
    """Assign every row to train/validation/test, stratified by label when ``stratify``."""
    frame = frame[["id", "input", "output"]].reset_index(drop=True)
    prefix = f"{seed}\x00".encode()
    # the first 64 bits of sha256(seed, normalised input): a seeded order no input order can change
    keys = np.fromiter((int.from_bytes(hashlib.sha256(prefix + k.encode()).digest()[:8], "big")
                        for k in normalised(frame["input"]).to_numpy(dtype=object)), dtype=np.uint64, count=len(frame))
    codes, _ = pd.factorize(frame["output"].astype(str), sort=True)
    strata = codes if stratify else np.zeros(len(frame), dtype=np.int64)
    order = np.lexsort((keys, strata))
    split = np.empty(len(frame), dtype=object)
    sorted_strata = strata[order]
    bounds = np.flatnonzero(np.r_[True, sorted_strata[1:] != sorted_strata[:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        a, b = _cut(int(hi - lo), ratios)
        idx = order[lo:hi]
        split[idx[:a]], split[idx[a:b]], split[idx[b:]] = "train", "validation", "test"
    rank = np.select([split == "train", split == "validation"], [0, 1], 2)
    final = np.lexsort((keys, rank))
    frame = frame.iloc[final].assign(split=split[final]).reset_index(drop=True)
    data = canonical_jsonl(frame)
    counts = {s: int((frame["split"] == s).sum()) for s in SPLITS}
    labels = None
    if stratify:
        labels = {s: {str(k): int(v) for k, v in frame.loc[frame["split"] == s, "output"].value_counts()
                      .sort_index().items()} for s in SPLITS}
    return SplitResult(frame, data, hashlib.sha256(data).hexdigest(), counts, labels)


def build_manifest(result: SplitResult, *, model: str, source: str, seed: int,
                   ratios: tuple[float, float, float], dropped: dict[str, int], read: int,
                   dataset_uri: str) -> dict[str, Any]:
    """The split manifest: counts per split and label, the dataset's sha256, the seed and the drops."""
    return {"format": MANIFEST_FORMAT, "model": model, "source": source, "dataset_uri": dataset_uri,
            "dataset_sha256": result.sha256, "rows": int(len(result.frame)), "read": read, "dropped": dropped,
            "seed": seed, "ratios": list(ratios), "splits": result.counts, "labels": result.labels}


def read_dataset(data: bytes) -> pd.DataFrame:
    """The canonical JSONL back as a frame (id, input, output, split)."""
    return pd.DataFrame([json.loads(line) for line in data.decode().splitlines() if line.strip()])
