"""Sync benchmark: 100 models x 10 versions into a real MLflow server (SQLite backend), then a re-sync.

Run: ``.venv/bin/python bench/sync_bench.py [--tracking-uri URI] [--models 100] [--versions 10]``.
Without ``--tracking-uri`` it starts ``mlflow server`` on 127.0.0.1 from MODELCTL_MLFLOW_BIN, the
project's ``.venv-mlflow`` (``make mlflow-venv``) or PATH, serving MLflow's Flask app with gunicorn
(``--gunicorn-opts``; ``--uvicorn`` for MLflow's default ASGI wrapper, far slower per request here). Targets (issue 15): first sync < 60 s, a
re-sync that changes nothing < 10 s. The baseline is the same sync with one writer (no parallelism).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registry.entities import EnvPointer, EvalRecord, ModelConfig, ModelRecord, Version, utcnow  # noqa: E402
from tasks.sync.mlflow_sync import sync_mlflow  # noqa: E402


def mlflow_bin() -> str | None:
    """The `mlflow` executable of the separate server venv (MLflow is not in the core install)."""
    for candidate in (os.environ.get("MODELCTL_MLFLOW_BIN"), str(ROOT / ".venv-mlflow" / "bin" / "mlflow"),
                      shutil.which("mlflow")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def start_mlflow(workdir: str, timeout: float = 300, workers: int = 1,
                 gunicorn: bool = True) -> tuple[subprocess.Popen[bytes], str]:
    """`mlflow server` on a free 127.0.0.1 port with a SQLite backend; waits for /health."""
    exe = mlflow_bin()
    if exe is None:
        print("skipped: no mlflow executable (run `make mlflow-venv` or set MODELCTL_MLFLOW_BIN)")
        raise SystemExit(0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(workdir, "mlflow-server.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen([exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                             "--backend-store-uri", f"sqlite:///{workdir}/mlflow.db",
                             "--artifacts-destination", f"{workdir}/artifacts",
                             *(["--gunicorn-opts", "--log-level warning"] if gunicorn else [])], stdout=log, stderr=log,
                            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mlflow server exited: see {workdir}/mlflow-server.log")
        try:
            if httpx.get(uri + "/health", timeout=2).status_code == 200:
                return proc, uri
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit("mlflow server did not start in time")


def records(prefix: str, models: int, versions: int) -> list[ModelRecord]:
    """``models`` x ``versions``, each version evaluated, production/staging/development pointed."""
    now = utcnow()
    out = []
    for m in range(models):
        vs, evals = [], []
        for n in range(1, versions + 1):
            cfg = ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06", temperature=0.2, max_tokens=512,
                              system_prompt=f"You are assistant {m}, prompt revision {n}.")
            vs.append(Version(number=n, digest=cfg.digest(), config=cfg, description=f"revision {n}",
                              created_at=now, created_by="bench"))
            evals.append(EvalRecord(digest=cfg.digest(), version=n, suite="bench", passed=True, time=now,
                                    actor="bench", scores={"accuracy": 0.9, "latency_p95_ms": 800.0}))
        envs = {"production": EnvPointer(version=versions - 2), "staging": EnvPointer(version=versions - 1),
                "development": EnvPointer(version=versions)}
        out.append(ModelRecord(name=f"{prefix}-{m:03d}", owner="bench", purpose="benchmark", versions=vs,
                               evaluations=evals, environments=envs))
    return out


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tracking-uri")
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--server-workers", type=int, default=1, help="uvicorn workers of the started server")
    parser.add_argument("--uvicorn", action="store_true",
                        help="MLflow's default ASGI server (about 4x slower per write here) instead of gunicorn")
    parser.add_argument("--quick", action="store_true", help="20 models x 10 versions")
    args = parser.parse_args()
    models = 20 if args.quick else args.models
    tmp = tempfile.mkdtemp(prefix="modelctl-sync-bench-")
    proc = None
    uri = args.tracking_uri
    if uri is None:
        t0 = time.perf_counter()
        proc, uri = start_mlflow(tmp, workers=args.server_workers, gunicorn=not args.uvicorn)
        print(f"mlflow server on {uri} (SQLite, {args.server_workers} {'uvicorn' if args.uvicorn else 'gunicorn'} "
              f"worker(s)) started in "
              f"{time.perf_counter() - t0:.1f} s")
    try:
        run = uuid.uuid4().hex[:6]
        ours = records(f"bench-{run}", models, args.versions)
        base = records(f"base-{run}", models, args.versions)
        n = models * args.versions
        first, r1 = timed("first", lambda: sync_mlflow(ours, uri, workers=args.workers))
        again, r2 = timed("again", lambda: sync_mlflow(ours, uri, workers=args.workers))
        b_first, _ = timed("base", lambda: sync_mlflow(base, uri, workers=1))
        b_again, _ = timed("base-again", lambda: sync_mlflow(base, uri, workers=1))
        assert r1.created_versions == n and r2.writes == 0 and not r2.drift, (r1, r2)
        print(f"{models} models x {args.versions} versions = {n} MLflow model versions "
              f"({r1.writes} writes: registered models, versions with tags, aliases)")
        print(f"  first sync : {first:6.1f} s with {args.workers} writers   (baseline, 1 writer: {b_first:6.1f} s; "
              f"target < 60 s)")
        print(f"  re-sync    : {again:6.2f} s, {r2.writes} writes          (baseline, 1 writer: {b_again:6.2f} s; "
              f"target < 10 s)")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
