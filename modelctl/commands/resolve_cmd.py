"""``modelctl resolve``'s body, free of typer: run by the typer command and by ``modelctl.cli``'s direct
dispatch of the serving path (whose cold start counts)."""

from __future__ import annotations

import sys
from typing import Any

from modelctl.context import STATE, parse_ref, print_json
from registry.errors import RegistryError


def _resolution(name: str, env: str, user_id: str | None) -> dict[str, Any]:
    """``Resolution.to_dict()``: from the store's serving documents as plain JSON when they can answer,
    else from a ``ServingSnapshot`` (which also words every error)."""
    from registry.envsettings import serving_settings
    from registry.serving_plain import resolve_plain

    try:
        model = parse_ref(name)[0]
    except RegistryError:
        model = None
    if model is not None:
        plain = resolve_plain(STATE.registry_uri or serving_settings().registry, model, env, user_id)
        if plain is not None:
            return plain
    from registry.serving import ServingSnapshot

    # the store alone (not the Registry service): this is the serving path
    return ServingSnapshot(STATE.registry_uri).resolve(parse_ref(name)[0], env, user_id).to_dict()


def show_resolution(name: str, env: str, user_id: str | None, json_out: bool) -> None:
    """Print which version serves NAME in ENV (routed for USER_ID), as text or JSON."""
    res = _resolution(name, env, user_id)
    if json_out:
        print_json(res)
        return
    arm = f" arm={res['arm']} ({res['experiment_id']})" if res["arm"] else ""
    lines = [f"{res['name']}@{res['version']} {res['environment']} {res['config']['provider']}:"
             f"{res['config']['model_id']} {res['digest']}{arm}"]
    if res["variables"]:
        lines.append(f"  variables: {', '.join(res['variables'])}")
    sys.stdout.write("".join(line + "\n" for line in lines))
