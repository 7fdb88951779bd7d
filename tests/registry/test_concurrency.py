"""No update is ever lost: concurrent writers in separate processes, on every store."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from registry.service import open_registry
from tests.registry.invariants import check_record

WORKERS, WRITES = 4, 25


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(store_uri: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.registry.writers", "write", store_uri, str(w),
                               str(WRITES)], env=env, stderr=subprocess.PIPE, text=True)
             for w in range(WORKERS)]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    reg = open_registry(store_uri)
    shared = reg.get_model("shared")
    check_record(shared)
    assert len(shared.versions) == WORKERS * WRITES
    prompts = {v.config.system_prompt for v in shared.versions}
    assert prompts == {f"worker {w} write {i}" for w in range(WORKERS) for i in range(WRITES)}
    reasons = sorted(e.reason or "" for e in shared.history)
    assert reasons == sorted(f"w{w}-{i}" for w in range(WORKERS) for i in range(WRITES))
    for w in range(WORKERS):
        private = reg.get_model(f"private-{w}")
        check_record(private)
        assert len(private.versions) == WRITES // 5
