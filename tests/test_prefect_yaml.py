"""prefect.yaml is the single source of truth for deployments: keep it valid and consistent."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

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
    assert trigger["parameters"]["params"]["model"] == "{{ event.payload.model }}"
    built = {d.name: d for d in build_deployments()}["fine-tune"]
    assert [s.parameters for s in built.schedules] == [{"params": {"schedule": "quarterly"}},
                                                       {"params": {"schedule": "monthly"}}]
    assert built.triggers and "params" in built._parameter_openapi_schema.properties
