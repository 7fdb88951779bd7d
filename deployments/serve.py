"""Serve every deployment declared in prefect.yaml from one process (one machine, no work pool).

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m deployments.serve

prefect.yaml stays the single source of truth: names, entrypoints, parameters, schedules and event
triggers are read from it. On a team setup use ``prefect deploy --all`` and workers instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def build_deployments(path: Path = ROOT / "prefect.yaml") -> list[Any]:
    """RunnerDeployments for every entry of prefect.yaml (no API call is made here)."""
    from prefect.events import DeploymentEventTrigger
    from prefect.flows import load_flow_from_entrypoint
    from prefect.schedules import Cron

    doc = yaml.safe_load(path.read_text())
    out = []
    for dep in doc.get("deployments") or []:
        flow = load_flow_from_entrypoint(str(ROOT / dep["entrypoint"]))
        schedules = [Cron(s["cron"], timezone=s.get("timezone", "UTC"), active=s.get("active", True),
                          slug=s.get("slug"), parameters=s.get("parameters"))
                     for s in dep.get("schedules") or []]
        triggers = [DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"})
                    for t in dep.get("triggers") or []]
        out.append(flow.to_deployment(name=dep["name"], description=dep.get("description"), tags=dep.get("tags"),
                                      parameters=dep.get("parameters") or {}, schedules=schedules or None,
                                      triggers=triggers or None))
    return out


def main() -> None:
    from prefect import serve

    serve(*build_deployments())


if __name__ == "__main__":
    main()
