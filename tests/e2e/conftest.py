"""One real ``prefect server start`` for the e2e package: what ``make serve`` brings up, on a free port.

The server, work pool, deployment of prefect.yaml, automations and a process worker start once (about
25 s) and serve every test under tests/e2e; each test checks one promise against the REST API or the UI.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployments.console import Console, bring_up
from registry.service import open_registry
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "examples" / "suites" / "ticket-triage" / "suite.yaml"
ARTIFACT = ROOT / "examples" / "models" / "ticket-classifier.json"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}



@dataclass
class Server:
    """The console under test and how to reach it."""

    api_url: str
    registry: str
    console: Console
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        """One API call, retried as Prefect's own client retries: the server answers 503 for errors a client
        can retry on (SQLite's "database is locked" while the worker writes), 429 and 502 likewise."""
        for attempt in range(8):
            r = httpx.request(method, f"{self.api_url}{path}", timeout=60, **kw)
            if r.status_code not in (429, 502, 503) or attempt == 7:
                break
            time.sleep(min(0.25 * 2**attempt, 4.0))
        r.raise_for_status()
        return r.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, json=body)

    def deployment(self, name: str) -> dict[str, Any]:
        return self.get(f"/deployments/name/{name}/{name}")

    def runs(self, deployment: str, **flow_runs: Any) -> list[dict[str, Any]]:
        dep = self.deployment(deployment)
        return self.post("/flow_runs/filter", {"deployments": {"id": {"any_": [dep["id"]]}},
                                               "flow_runs": flow_runs, "limit": 200})

    def events(self, event: str, resource: str | None = None) -> list[dict[str, Any]]:
        flt: dict[str, Any] = {"event": {"name": [event]}}
        if resource:
            flt["resource"] = {"id": [resource]}
        return self.post("/events/filter", {"filter": flt, "limit": 50})["events"]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.TimeoutException:  # a busy SQLite-backed server can stall a read: ask again
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def finished(server: Server, run_id: str, timeout: float = 240.0) -> dict[str, Any]:
    return wait_for(f"flow run {run_id}", lambda: (r := server.get(f"/flow_runs/{run_id}"))["state_type"] in TERMINAL
                    and r, timeout)


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received.append(json.loads(body or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def make_registry(uri: str) -> None:
    reg = open_registry(uri, actor="e2e")
    reg.init()
    sha = hashlib.sha256(ARTIFACT.read_bytes()).hexdigest()
    classifier = {"provider": "local", "model_id": "tfidf-logreg-v1",
                  "params": {"artifact_uri": str(ARTIFACT), "artifact_sha256": sha}}
    reg.register("triage", classifier)                                                        # v1: production
    reg.register("triage", {**classifier, "params": {**classifier["params"], "threshold": 0.5}})  # v2: as good
    reg.register("triage", {"provider": "local", "model_id": "lead-3-v1"})                     # v3: bad
    reg.record_eval("triage", 1, suite="ticket-triage", passed=True, suite_uri=str(SUITE))  # the recorded suite
    reg.promote("triage", 1, "production", reason="baseline")


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e")
    registry = str(tmp / "registry")
    make_registry(registry)
    hook = ThreadingHTTPServer(("127.0.0.1", free_port()), _Webhook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    api_url = f"http://127.0.0.1:{free_port()}/api"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELCTL_REGISTRY", registry)  # what the deploy step bakes into the job variables
        mp.setenv("MODELCTL_CACHE", str(tmp / "cache"))
        mp.setenv("MODELCTL_LOG", str(tmp / "logs"))
        mp.delenv("PREFECT_API_URL", raising=False)
        output = (tmp / "console.log").open("wb")
        console = bring_up(api_url, home=tmp / "prefect-home", output=output,
                           webhook_url=f"http://127.0.0.1:{hook.server_address[1]}/hook",
                           server_env={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
                                       "PREFECT_LOGGING_LEVEL": "WARNING"},
                           worker_env={"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5",
                                       # a worker with another registry in its environment: the deployment's wins
                                       "MODELCTL_REGISTRY": str(tmp / "not-this-registry")})
    try:
        yield Server(api_url, registry, console, _Webhook.received)
    finally:
        console.stop()
        hook.shutdown()
        output.close()
