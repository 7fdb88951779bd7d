"""Crash safety: a writer killed with SIGKILL at random moments never leaves a broken store."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from registry.service import open_registry
from tests.registry.invariants import check_record


@pytest.mark.slow
def test_sigkill_at_random_moments(store_uri: str) -> None:
    rounds = 30 if not store_uri.startswith("s3://") else 10
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    seen_versions = 0
    for _ in range(rounds):
        proc = subprocess.Popen([sys.executable, "-m", "tests.registry.writers", "churn", store_uri],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reg = open_registry(store_uri)
        names = reg.store.names()
        if not names:
            continue
        record = reg.get_model("churn")  # always loads
        check_record(record)
        assert len(record.versions) >= seen_versions  # nothing committed is ever lost
        seen_versions = len(record.versions)
        if not store_uri.startswith("s3://"):
            from pathlib import Path

            leftovers = [p for p in Path(store_uri, "models").iterdir() if p.name.startswith(".tmp-")]
            reg.register("sweeper", {"provider": "local", "model_id": "lead-3-v1"})  # a locked write sweeps
            assert not [p for p in leftovers if p.exists()]
    assert seen_versions > 0
