"""Split: deterministic across processes, stratified, no normalised input in two splits."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

from tasks.training.collect import normalise
from tasks.training.split import parse_ratios, split_rows
from tests.tasks.training.conftest import ROOT, ticket_rows

_SHA_IN_CHILD = """
import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + '/examples/datasets')
import pandas as pd
from tests.tasks.training.conftest import ticket_rows
from tasks.training.split import split_rows
print(split_rows(pd.DataFrame(ticket_rows(500)), seed=7, ratios=(0.8, 0.1, 0.1), stratify=True).sha256)
"""


def test_same_seed_same_split_in_another_process() -> None:
    frame = pd.DataFrame(ticket_rows(500))
    here = split_rows(frame, seed=7, ratios=(0.8, 0.1, 0.1), stratify=True)
    child = subprocess.run([sys.executable, "-c", _SHA_IN_CHILD.format(root=str(ROOT))], capture_output=True,
                           text=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert child.stdout.strip() == here.sha256
    shuffled = split_rows(frame.sample(frac=1, random_state=3), seed=7, ratios=(0.8, 0.1, 0.1), stratify=True)
    assert shuffled.sha256 == here.sha256  # input order does not matter
    assert split_rows(frame, seed=8, ratios=(0.8, 0.1, 0.1), stratify=True).sha256 != here.sha256


def test_stratified_and_no_leakage() -> None:
    result = split_rows(pd.DataFrame(ticket_rows(500)), seed=0, ratios=parse_ratios("0.8,0.1,0.1"), stratify=True)
    assert result.counts == {"train": 400, "validation": 50, "test": 50}
    for split, labels in result.labels.items():
        assert set(labels) == {"billing", "technical", "account", "shipping", "feedback"}
        assert len(set(labels.values())) == 1, (split, labels)  # 100 of each label: equal shares per split
    keys = result.frame.assign(key=result.frame["input"].map(normalise)).groupby("key")["split"].nunique()
    assert keys.max() == 1
