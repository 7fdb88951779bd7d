"""A real `mlflow server` (SQLite backend) on 127.0.0.1 for the session, from the separate MLflow venv.

MLflow is not in the core install and cannot share the project's venv (its server pins pyarrow < 26 and
SQLAlchemy 2.1, the lock has pyarrow 26 and SQLAlchemy 2.0.58): `make mlflow-venv` builds `.venv-mlflow`,
and MODELCTL_MLFLOW_BIN may name another `mlflow` executable. MODELCTL_TEST_MLFLOW_URI reuses a running
server instead. Without either, the MLflow tests are skipped with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[3]


def mlflow_bin() -> str | None:
    for candidate in (os.environ.get("MODELCTL_MLFLOW_BIN"), str(ROOT / ".venv-mlflow" / "bin" / "mlflow"),
                      shutil.which("mlflow")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tracking URI of a real MLflow server with a SQLite backend."""
    if os.environ.get("MODELCTL_TEST_MLFLOW_URI"):
        yield os.environ["MODELCTL_TEST_MLFLOW_URI"]
        return
    exe = mlflow_bin()
    if exe is None:
        pytest.skip("no mlflow executable: run `make mlflow-venv` (or set MODELCTL_MLFLOW_BIN)")
    work = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(work / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{work}/mlflow.db",
                             "--artifacts-destination", str(work / "artifacts"),
                             # MLflow's Flask app under gunicorn: starts and answers several times faster
                             # here than the default uvicorn wrapper (which adds localhost-only middleware)
                             "--gunicorn-opts", "--log-level warning"], stdout=log, stderr=log,
                            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 280  # importing MLflow is slow on a busy machine
    try:
        while True:
            assert proc.poll() is None, (work / "server.log").read_text()[-2000:]
            try:
                if httpx.get(uri + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        yield uri
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
