"""prefect.yaml is the single source of truth for deployments: keep it valid and consistent."""

from __future__ import annotations

import importlib.util
import re
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EVENT = re.compile(r"^modelctl\.[a-z_]+\.[a-z_]+$")


def load() -> dict:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())


def test_prefect_yaml_is_valid() -> None:
    doc = load()
    assert doc["name"] == "modelctl" and doc["prefect-version"].startswith("3.")
    assert isinstance(doc["deployments"], list)
    names = [d["name"] for d in doc["deployments"]]
    assert len(names) == len(set(names))
    for dep in doc["deployments"]:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", dep["name"]), "deployments are kebab-case"
        path, _, func = dep["entrypoint"].partition(":")
        assert path.startswith("flows/") and (ROOT / path).is_file() and func
        spec = importlib.util.spec_from_file_location(f"_dep_{func}", ROOT / path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        from prefect import Flow

        assert isinstance(getattr(module, func), Flow)
        for schedule in dep.get("schedules") or []:
            assert schedule.get("cron") and schedule.get("timezone") and schedule.get("slug")
        for trigger in dep.get("triggers") or []:
            for event in trigger.get("expect", []):
                assert EVENT.match(event), event


def test_every_deployment_builds_for_serve() -> None:
    from deployments.serve import build_deployments

    built = {d.name: d for d in build_deployments()}
    assert set(built) == {d["name"] for d in load()["deployments"]}
    assert built["deprecation-scan"].schedules and built["evaluate-candidate"].triggers
    assert "params" in built["evaluate-candidate"]._parameter_openapi_schema.properties  # a pydantic form in the UI


def test_fine_tune_deployment_runs_quarterly_monthly_and_on_degraded_quality() -> None:
    from deployments.serve import build_deployments

    dep = {d["name"]: d for d in load()["deployments"]}["fine-tune"]
    assert dep["entrypoint"] == "flows/fine_tune.py:fine_tune"
    by_slug = {s["slug"]: s for s in dep["schedules"]}
    assert by_slug["quarterly-retrain"]["parameters"]["params"]["schedule"] == "quarterly"
    assert by_slug["monthly-retrain"]["parameters"]["params"]["schedule"] == "monthly"
    trigger = dep["triggers"][0]
    assert trigger["expect"] == ["modelctl.monitor.degraded"]
    assert "modelctl.model.*" in trigger["match"]["prefect.resource.id"]
    assert trigger["parameters"]["params"]["model"].startswith("{{ event.payload.model | default(")
    built = {d.name: d for d in build_deployments()}["fine-tune"]
    assert [s.parameters for s in built.schedules] == [{"params": {"schedule": "quarterly"}},
                                                       {"params": {"schedule": "monthly"}}]
    assert built.triggers and "params" in built._parameter_openapi_schema.properties


@pytest.mark.parametrize("payload", [{}, {"candidate": {"a": 1}, "suite": 3}, {"candidate": "m@2", "suite": None}])
def test_trigger_templates_render_for_any_payload(payload: dict) -> None:
    """What Prefect's automation does with our trigger parameters: never InvalidJinja, whatever the event."""
    import copy

    from prefect.server.events.actions import RunDeployment
    from prefect.server.events.schemas.events import ReceivedEvent
    from prefect.types._datetime import now
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    event = ReceivedEvent(occurred=now("UTC"), event="modelctl.evaluation.requested",
                          resource={"prefect.resource.id": "modelctl.model.m"}, payload=payload, id=uuid.uuid4())
    for dep in load()["deployments"]:
        for trigger in dep.get("triggers") or []:
            params = copy.deepcopy(trigger["parameters"])
            RunDeployment._upgrade_v1_templates(params)
            rendered = hydrate(params, HydrationContext(raise_on_error=True, render_jinja=True,
                                                        jinja_context={"event": event}))
            assert isinstance(rendered, dict) and "params" in rendered, rendered
            for value in rendered["params"].values():
                assert not type(value).__name__.startswith("Invalid"), value
    params = {"params": {"candidate": "{{ event.payload.candidate | default('', true) | string }}"}}
    RunDeployment._upgrade_v1_templates(params)
    got = hydrate(params, HydrationContext(render_jinja=True, jinja_context={"event": event}))["params"]["candidate"]
    assert got == (str(payload["candidate"]) if payload.get("candidate") else "")
