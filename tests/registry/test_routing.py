"""Routing is deterministic across processes, accurate, sticky and monotone."""

from __future__ import annotations

import subprocess
import sys

from registry.routing import assign_arm, bucket

SCRIPT = "from registry.routing import assign_arm\nprint(''.join('T' if assign_arm('salt-1', f'user-{i}', 0.1) == " \
         "'treatment' else 'C' for i in range(2000)))"


def test_same_answer_in_another_process() -> None:
    here = "".join("T" if assign_arm("salt-1", f"user-{i}", 0.1) == "treatment" else "C" for i in range(2000))
    for seed in ("0", "12345"):
        other = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                               env={"PYTHONHASHSEED": seed, "PYTHONPATH": "."}).stdout.strip()
        assert other == here


def test_split_accuracy_100k_users() -> None:
    treated = sum(assign_arm("exp-42", f"u{i}", 0.10) == "treatment" for i in range(100_000))
    assert abs(treated / 100_000 - 0.10) < 0.005


def test_monotone_in_split_and_salted() -> None:
    users = [f"u{i}" for i in range(5000)]
    at5 = {u for u in users if assign_arm("s", u, 0.05) == "treatment"}
    at10 = {u for u in users if assign_arm("s", u, 0.10) == "treatment"}
    at50 = {u for u in users if assign_arm("s", u, 0.50) == "treatment"}
    assert at5 < at10 < at50
    assert {u for u in users if assign_arm("other", u, 0.10) == "treatment"} != at10
    assert all(0 <= bucket("s", u) < 10_000 for u in users)
