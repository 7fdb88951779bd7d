"""Approvals: ``approve``, ``reject`` and ``approvals show|set``."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.context import open_registry, parse_ref, print_json
from registry.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in history).")]
EnvOpt = Annotated[str, typer.Option("--env", help="The environment of the pending promotion.")]

app = typer.Typer(help="The approval policy per environment.", no_args_is_help=True)


def _numbered(ref: str) -> tuple[str, int]:
    name, which = parse_ref(ref)
    if not isinstance(which, int):
        raise InvalidInput(f"{ref!r}: give NAME@VERSION", field="ref")
    return name, which


def approve(ref: Annotated[str, typer.Argument(help="NAME@VERSION")], env: EnvOpt = "production",
            reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Approve a pending promotion (not your own); the last approval needed promotes."""
    from registry.approvals import approve as do_approve

    name, number = _numbered(ref)
    request, moved = do_approve(open_registry(), name, number, env, reason=reason)
    if json_out:
        print_json({"name": name, "version": number, "environment": env, "status": request.status,
                    "approvals": request.approvers(), "required": request.required, "promoted": moved})
    elif moved:
        print(f"{name}@{number} -> {env} (approved by {', '.join(request.approvers())})")
    else:
        print(f"{name}@{number} -> {env}: {len(request.approvers())}/{request.required} approval(s)")
    if request.status == "pending":
        raise typer.Exit(3)


def reject(ref: Annotated[str, typer.Argument(help="NAME@VERSION")], env: EnvOpt = "production",
           reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Reject a pending promotion; the environment stays where it is."""
    from registry.approvals import reject as do_reject

    name, number = _numbered(ref)
    request = do_reject(open_registry(), name, number, env, reason=reason)
    if json_out:
        print_json({"name": name, "version": number, "environment": env, "status": request.status})
    else:
        print(f"{name}@{number} -> {env}: rejected")
    raise typer.Exit(1)


@app.command("show")
def show(json_out: JsonOpt = False) -> None:
    """The approval rule of each environment."""
    from registry.approvals import load_policy

    rules = load_policy(open_registry())
    if json_out:
        print_json(rules.model_dump(mode="json"))
        return
    if not rules.environments:
        print("no environment needs approval")
    for env, rule in rules.environments.items():
        print(f"{env:<12} approvals={rule.approvals} stale-after-days={rule.stale_after_days}")


@app.command("set")
def set_rule(env: EnvOpt, approvals: Annotated[int, typer.Option("--approvals", help="0 turns it off.")],
             stale_after_days: Annotated[int, typer.Option(
                 "--stale-after-days", help="Days after which an approval or request goes stale.")] = 7,
             reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Require N approvals, by actors other than the requester, for promotions into an environment."""
    from registry.approvals import set_policy

    set_policy(open_registry(), env, approvals, stale_after_days=stale_after_days, reason=reason)
    if json_out:
        print_json({"environment": env, "approvals": approvals, "stale_after_days": stale_after_days})
        return
    print(f"{env}: approvals={approvals} stale-after-days={stale_after_days}")


def register(root: typer.Typer) -> None:
    """Attach approve, reject and the approvals group to the root app."""
    root.command("approve")(approve)
    root.command("reject")(reject)
    root.add_typer(app, name="approvals")
