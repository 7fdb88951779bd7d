"""End to end on a real ``prefect server start`` (tests/e2e/conftest.py): the loops the ops console closes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from registry.service import open_registry
from tests.e2e.conftest import ROOT, SUITE, Server, finished, wait_for

pytestmark = pytest.mark.timeout(300)


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


@pytest.fixture(scope="module")
def started(server: Server) -> dict[str, str]:
    """Start every run the tests below wait for at once, so that they overlap on the worker.

    Events are emitted from their own processes (the CLI, ``prefect event emit``), as ops would: the test
    process's own Prefect events worker stays bound to the session's test harness.
    """
    evaluate, scan = server.deployment("evaluate-candidate"), server.deployment("deprecation-scan")
    runs = {
        "api": server.post(f"/deployments/{evaluate['id']}/create_flow_run", {"parameters": {"params": {
            "candidate": "triage@2", "suite": str(SUITE), "batch_size": 100}}})["id"],
        "scan": server.post(f"/deployments/{scan['id']}/create_flow_run", {"parameters": {"params": {
            "sources": ["feed=/nonexistent/feed.yaml"]}}})["id"],
    }
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "MODELCTL_REGISTRY": server.registry}
    emitters = [subprocess.Popen([sys.executable, "-m", "modelctl.cli", "eval", "request", "triage@3",  # no suite:
                                  "--reason", "e2e"], env=env) for _ in range(3)]  # the recorded one; 3 collapse
    emitters.append(subprocess.Popen([sys.executable, "-m", "prefect", "event", "emit", "modelctl.evaluation.requested",
                                      "--resource-id", "modelctl.model.ghost",
                                      "--payload", json.dumps({"candidate": {"not": "a reference"}})], env=env))
    assert [p.wait(120) for p in emitters] == [0, 0, 0, 0]
    return runs


def _record_of(server: Server, run_id: str) -> Any:
    model = open_registry(server.registry).get_model("triage")
    return next((r for r in model.evaluations if r.flow_run_id == run_id), None)


def test_a_run_started_through_the_api_completes_with_its_artifacts(server: Server, started: dict[str, str]) -> None:
    run_id = started["api"]
    done = finished(server, run_id)
    assert done["state_type"] == "COMPLETED", done["state"]
    assert done["name"] == "evaluate triage@2"
    keys = {a["key"] for a in server.post("/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run_id]}}})}
    assert {"evaluation-triage", "evaluation-triage-metrics"} <= keys
    record = _record_of(server, run_id)
    assert record.version == 2 and record.suite_uri == str(SUITE)
    assert record.decision == "promote", (record.scores, record.gates)
    wait_for("the worker identity in the run's logs", lambda: [  # logs arrive in batches
        line for line in server.post("/logs/filter", {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200})
        if f"registry {server.registry}" in line["message"]], timeout=30)


def test_an_evaluation_request_event_runs_one_evaluation_and_records_it(server: Server,
                                                                        started: dict[str, str]) -> None:
    runs = wait_for("the triggered run", lambda: server.runs("evaluate-candidate", name={"any_": ["evaluate triage@3"]}))
    done = finished(server, runs[0]["id"])
    assert done["state_type"] == "COMPLETED", done["state"]
    assert done["parameters"]["params"]["suite"] == ""  # filled in from the model's recorded suite
    record = _record_of(server, runs[0]["id"])
    assert record.version == 3 and record.decision == "reject" and record.suite_uri == str(SUITE)
    time.sleep(2)
    assert len(server.runs("evaluate-candidate", name={"any_": ["evaluate triage@3"]})) == 1


def test_a_malformed_request_is_a_visible_failed_run(server: Server, started: dict[str, str]) -> None:
    runs = wait_for("the run of the malformed event",
                    lambda: [r for r in server.runs("evaluate-candidate") if "not" in r["name"]])
    done = finished(server, runs[0]["id"])
    assert done["state_type"] == "FAILED"
    wait_for("modelctl.evaluation.failed", lambda: server.events("modelctl.evaluation.failed"), timeout=30)


def test_a_promotion_through_the_cli_is_an_event_on_the_server(server: Server) -> None:
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "MODELCTL_REGISTRY": server.registry}
    done = subprocess.run([sys.executable, "-m", "modelctl.cli", "promote", "triage@2", "--to", "staging",
                           "--reason", "e2e"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    events = wait_for("modelctl.model.promoted", lambda: server.events("modelctl.model.promoted", "modelctl.model.triage"),
                      timeout=30)
    event = events[0]
    assert event["payload"]["version"] == 2 and event["payload"]["after"]["environment"] == "staging"
    assert {"prefect.resource.id": "modelctl.version.triage.2", "prefect.resource.role": "version"} in event["related"]


def test_a_scan_with_a_failing_source_ends_failed_and_notifies(server: Server, started: dict[str, str]) -> None:
    done = finished(server, started["scan"])
    assert done["state_type"] == "FAILED"
    assert "feed=/nonexistent/feed.yaml" in done["state"]["message"]
    wait_for("modelctl.deprecation.scan-failed", lambda: server.events("modelctl.deprecation.scan-failed"), timeout=30)
    notes = wait_for("the webhook notification", lambda: [w for w in server.webhooks if "scan failed" in
                                                          w.get("subject", "")], timeout=30)
    assert "feed=/nonexistent/feed.yaml" in notes[0]["body"]


def test_prefect_deploy_without_the_project_dir_fails_naming_it(server: Server, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MODELCTL_PROJECT_DIR"}
    done = subprocess.run([sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--name", "deprecation-scan"],
                          cwd=ROOT, env={**env, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "MODELCTL_PROJECT_DIR is not set" in done.stdout + done.stderr
