"""End to end on a real ``prefect server start``: what ``make serve`` brings up, and the loops it closes.

One server, work pool, deployment of prefect.yaml and process worker for the whole module (about a
minute); each test checks one promise of the ops console against that server's REST API.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
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

pytestmark = pytest.mark.timeout(300)


@dataclass
class Server:
    """The console under test and how to reach it."""

    api_url: str
    registry: str
    console: Console
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(f"{self.api_url}{path}", params=params, timeout=30)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        r = httpx.post(f"{self.api_url}{path}", json=body, timeout=30)
        r.raise_for_status()
        return r.json()

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
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def finished(server: Server, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
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
    reg.record_eval("triage", 1, suite="bootstrap", passed=True)
    reg.promote("triage", 1, "production", reason="baseline")


@pytest.fixture(scope="module")
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


def test_every_deployment_exists_with_schedules_triggers_and_the_registry(server: Server) -> None:
    import yaml

    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    automations = server.post("/automations/filter", {})
    for spec in doc["deployments"]:
        dep = server.deployment(spec["name"])
        assert dep["work_pool_name"] == "modelctl-process"
        assert dep["job_variables"]["env"]["MODELCTL_REGISTRY"] == server.registry
        assert dep["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == str(ROOT)
        assert sorted(s["schedule"]["cron"] for s in dep["schedules"]) == sorted(
            s["cron"] for s in spec.get("schedules") or [])
        fired_by = [a for a in automations if any(x.get("deployment_id") == dep["id"] for x in a["actions"])]
        assert sorted(e for a in fired_by for e in a["trigger"]["expect"]) == sorted(
            e for t in spec.get("triggers") or [] for e in t["expect"])
    ab = server.deployment("ab-analysis")
    assert ab["parameters"]["params"]["apply"] is False  # a manual run only looks
    assert ab["schedules"][0]["parameters"]["params"]["apply"] is True  # the hourly run acts


def test_the_scheduler_creates_runs_for_the_cron_deployments(server: Server) -> None:
    for name in ("ab-analysis", "deprecation-scan"):
        runs = wait_for(f"scheduled runs of {name}", lambda n=name: server.runs(n, state={"type": {"any_": ["SCHEDULED"]}}),
                        timeout=60)
        assert all(r["auto_scheduled"] for r in runs)


def test_a_run_started_through_the_api_completes_with_its_artifacts(server: Server) -> None:
    dep = server.deployment("evaluate-candidate")
    run = server.post(f"/deployments/{dep['id']}/create_flow_run",
                      {"parameters": {"params": {"candidate": "triage@2", "suite": str(SUITE), "batch_size": 100}}})
    done = finished(server, run["id"])
    assert done["state_type"] == "COMPLETED", done["state"]
    assert done["name"] == "evaluate triage@2"
    keys = {a["key"] for a in server.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}})}
    assert {"evaluation-triage", "evaluation-triage-metrics"} <= keys
    record = open_registry(server.registry).get_model("triage").evaluations[-1]
    assert record.version == 2 and record.decision == "promote" and record.flow_run_id == run["id"]
    assert record.suite_uri == str(SUITE)
    logs = server.post("/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}, "limit": 200})
    assert any(f"registry {server.registry}" in line["message"] for line in logs)  # worker identity


def test_an_evaluation_request_event_runs_one_evaluation_and_records_it(server: Server) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.events import request_evaluation

    wait_for("the recorded suite", lambda: open_registry(server.registry).get_model("triage").recorded_suite(), 150)
    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        for _ in range(3):  # duplicates collapse into one run
            assert request_evaluation("triage@3", reason="e2e")  # no suite: the model's recorded suite
    runs = wait_for("the triggered run", lambda: server.runs("evaluate-candidate", name={"any_": ["evaluate triage@3"]}))
    done = finished(server, runs[0]["id"])
    assert done["state_type"] == "COMPLETED", done["state"]
    record = open_registry(server.registry).get_model("triage").evaluations[-1]
    assert record.version == 3 and record.decision == "reject" and record.flow_run_id == runs[0]["id"]
    time.sleep(3)
    assert len(server.runs("evaluate-candidate", name={"any_": ["evaluate triage@3"]})) == 1


def test_a_malformed_request_is_a_visible_failed_run(server: Server) -> None:
    from prefect.events import emit_event
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
        emit_event("modelctl.evaluation.requested", resource={"prefect.resource.id": "modelctl.model.ghost"},
                   payload={"candidate": {"not": "a reference"}})
    runs = wait_for("the run of the malformed event",
                    lambda: [r for r in server.runs("evaluate-candidate") if "not" in r["name"]])
    assert finished(server, runs[0]["id"])["state_type"] == "FAILED"


def test_a_promotion_through_the_cli_is_an_event_on_the_server(server: Server) -> None:
    env = {**__import__("os").environ, "PREFECT_API_URL": server.api_url, "MODELCTL_REGISTRY": server.registry}
    done = subprocess.run([sys.executable, "-m", "modelctl.cli", "promote", "triage@2", "--to", "staging",
                           "--reason", "e2e"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    events = wait_for("modelctl.model.promoted", lambda: server.events("modelctl.model.promoted", "modelctl.model.triage"),
                      timeout=30)
    event = events[0]
    assert event["payload"]["version"] == 2 and event["payload"]["after"]["environment"] == "staging"
    assert {"prefect.resource.id": "modelctl.version.triage.2", "prefect.resource.role": "version"} in event["related"]


def test_a_scan_with_a_failing_source_ends_failed_and_notifies(server: Server) -> None:
    dep = server.deployment("deprecation-scan")
    run = server.post(f"/deployments/{dep['id']}/create_flow_run",
                      {"parameters": {"params": {"sources": ["feed=/nonexistent/feed.yaml"]}}})
    done = finished(server, run["id"])
    assert done["state_type"] == "FAILED"
    assert "feed=/nonexistent/feed.yaml" in done["state"]["message"]
    wait_for("modelctl.deprecation.scan-failed", lambda: server.events("modelctl.deprecation.scan-failed"), timeout=30)
    notes = wait_for("the webhook notification", lambda: [w for w in server.webhooks if "scan failed" in
                                                          w.get("subject", "")], timeout=30)
    assert "feed=/nonexistent/feed.yaml" in notes[0]["body"]


def test_prefect_deploy_without_the_project_dir_fails_naming_it(server: Server, tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "MODELCTL_PROJECT_DIR"}
    done = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--name", "deprecation-scan"],
                          cwd=ROOT, env={**env, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "MODELCTL_PROJECT_DIR is not set" in done.stdout + done.stderr
