"""Writer processes for the concurrency and crash tests (run with ``python -m``)."""

from __future__ import annotations

import os
import sys

from registry.service import open_registry


def write_many(uri: str, worker: int, count: int) -> None:
    """Register ``count`` distinct versions of one shared model and one private model each."""
    reg = open_registry(uri, actor=f"worker-{worker}")
    for i in range(count):
        cfg = {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "temperature": 1.0,
               "system_prompt": f"worker {worker} write {i}"}
        reg.register("shared", cfg, reason=f"w{worker}-{i}")
        if i % 5 == 0:
            reg.register(f"private-{worker}", cfg, reason=f"w{worker}-{i}")


def churn(uri: str) -> None:
    """Register, evaluate, promote and roll back forever, until killed."""
    reg = open_registry(uri, actor=f"churn-{os.getpid()}")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    i = 0
    while True:
        cfg = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929",
               "system_prompt": f"pid {os.getpid()} step {i}", "max_tokens": 100 + i}
        v, _ = reg.register("churn", cfg, reason=f"step {i}")
        reg.record_eval("churn", v.number, suite="s", passed=True)
        reg.promote("churn", v.number, "production", reason=f"step {i}")
        if i % 3 == 2:
            reg.rollback("churn", "production", reason=f"step {i}")
        i += 1


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write_many(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        churn(sys.argv[2])
