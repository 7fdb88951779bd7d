"""``modelctl resolve``'s body, free of typer: run by the typer command and by ``modelctl.cli``'s direct
dispatch of the serving path (whose cold start counts)."""

from __future__ import annotations

import sys

from modelctl.context import STATE, parse_ref, print_json


def show_resolution(name: str, env: str, user_id: str | None, json_out: bool) -> None:
    """Print which version serves NAME in ENV (routed for USER_ID), as text or JSON."""
    from registry.serving import ServingSnapshot

    # the store alone (not the Registry service): this is the serving path
    res = ServingSnapshot(STATE.registry_uri).resolve(parse_ref(name)[0], env, user_id)
    if json_out:
        print_json(res.to_dict())
        return
    arm = f" arm={res.arm} ({res.experiment_id})" if res.arm else ""
    lines = [f"{res.name}@{res.version} {res.environment} {res.config.provider}:{res.config.model_id} "
             f"{res.digest}{arm}"]
    if res.variables:
        lines.append(f"  variables: {', '.join(res.variables)}")
    sys.stdout.write("".join(line + "\n" for line in lines))
