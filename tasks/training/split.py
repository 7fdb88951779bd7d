"""Deterministic, seeded, stratified train/validation/test split and its manifest.

Rows are ordered inside each stratum (label) by sha256 of the seed and the normalised input, then cut
by the ratios: the same rows and seed give the same split in any process, and since inputs were
de-duplicated on their normalised form, no normalised input lands in two splits.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from registry.errors import InvalidInput
from tasks.training.collect import input_text, normalise

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


def _order_key(seed: int, text: str) -> str:
    return hashlib.sha256(f"{seed}\x00{normalise(text)}".encode()).hexdigest()


def _cut(n: int, ratios: tuple[float, float, float]) -> tuple[int, int]:
    n_val = int(round(n * ratios[1]))
    n_test = int(round(n * ratios[2]))
    if n >= 3:  # every non-zero split gets at least one row of every stratum that can spare one
        n_val = max(n_val, 1 if ratios[1] > 0 else 0)
        n_test = max(n_test, 1 if ratios[2] > 0 else 0)
    n_train = max(n - n_val - n_test, 0)
    return n_train, n_train + n_val


def canonical_jsonl(frame: pd.DataFrame) -> bytes:
    """One sorted-key compact JSON object per row (id, input, output, split): what the sha256 covers."""
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    records = frame[["id", "input", "output", "split"]].to_dict("records")
    return "".join(dumps(r) + "\n" for r in records).encode()


def split_rows(frame: pd.DataFrame, *, seed: int, ratios: tuple[float, float, float],
               stratify: bool) -> SplitResult:
    """Assign every row to train/validation/test, stratified by label when ``stratify``."""
    frame = frame[["id", "input", "output"]].copy()
    frame["_key"] = [_order_key(seed, input_text(v)) for v in frame["input"]]
    frame["_stratum"] = frame["output"] if stratify else ""
    frame = frame.sort_values(["_stratum", "_key"], kind="stable")
    split = pd.Series("", index=frame.index, dtype=object)
    for _, group in frame.groupby("_stratum", sort=True):
        a, b = _cut(len(group), ratios)
        split.loc[group.index[:a]] = "train"
        split.loc[group.index[a:b]] = "validation"
        split.loc[group.index[b:]] = "test"
    frame["split"] = split
    frame["_order"] = frame["split"].map({s: i for i, s in enumerate(SPLITS)})
    frame = frame.sort_values(["_order", "_key"], kind="stable").drop(columns=["_key", "_stratum", "_order"])
    frame = frame.reset_index(drop=True)
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
