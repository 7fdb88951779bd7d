"""Registry as code: ``modelctl plan FILE`` and ``modelctl apply FILE`` over a desired-state file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.context import open_registry, print_json

if TYPE_CHECKING:
    from registry.plan import ApplyResult, Change, Plan

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
FileArg = Annotated[Path, typer.Argument(help="A desired-state models.yaml (or a directory of them).")]


def git_commit(path: Path) -> str | None:
    """The commit of the checkout holding ``path`` (``+dirty`` when the file has uncommitted changes)."""
    where = path if path.is_dir() else path.parent
    try:
        head = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--", str(path.resolve())],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def compute_plan(file: Path) -> Plan:
    """Load, validate and plan ``file`` against the live registry (nothing written)."""
    from registry.approvals import load_policy
    from registry.desired import load_desired
    from registry.plan import make_plan

    desired = load_desired(file)
    reg = open_registry()
    records = reg.list_models() if reg.store.exists() else []
    rules = load_policy(reg) if reg.store.exists() else None
    from registry.entities import ApprovalPolicy

    return make_plan(records, desired, rules or ApprovalPolicy(), reg.extra_strict, source=str(file))


_MARK = {"ok": "+", "refused": "!", "needs_approval": "?", "awaiting_approval": "~"}


def render_change(seq: int, c: Change) -> str:
    """One plan line and its gate (pure)."""
    verdict = {"ok": "would pass", "refused": "WOULD BE REFUSED", "needs_approval": "would record a pending "
               "approval", "awaiting_approval": "already awaiting approval (no change)"}[c.status]
    lines = [f"{_MARK[c.status]} {seq:>3}. {c.summary}", f"        gate: {c.gate} -> {verdict}"]
    lines += [f"          - {r}" for r in c.reasons]
    return "\n".join(lines)


def render_plan(plan: Plan) -> str:
    """The plan as text, for a terminal or a pull-request comment (pure)."""
    if not plan.changes:
        return f"No changes: the registry matches {plan.source}."
    body = "\n".join(render_change(i + 1, c) for i, c in enumerate(plan.changes))
    tail = (f"{len(plan.refused)} change(s) would be refused." if plan.refused
            else f"{len(plan.changes)} change(s) pending.")
    return f"Plan for {plan.source}:\n{body}\n{tail}"


def plan(file: FileArg, json_out: JsonOpt = False) -> None:
    """Show what apply would do: ordered changes, each with its gate. Exit 0 none, 3 pending, 1 refused."""
    result = compute_plan(file)
    if json_out:
        print_json(result.to_dict())
    else:
        print(render_plan(result))
    raise typer.Exit(result.exit_code())


def _render_apply(result: ApplyResult) -> str:
    lines = [f"applied  {c.summary}" for c in result.applied]
    lines += [f"pending  {c.summary} (awaiting approval)" for c in result.awaiting]
    if result.refused is not None:
        lines.append(f"REFUSED  {result.refused.summary}: {result.error}")
        lines.append(f"stopped: {len(result.applied)} change(s) before it applied")
    elif not result.applied and not result.awaiting:
        lines.append("no changes")
    return "\n".join(lines)


def apply(file: FileArg,
          reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded on every change).")] = None,
          atomic: Annotated[bool, typer.Option("--atomic", help="Apply nothing if any change would be refused.")]
          = False,
          json_out: JsonOpt = False) -> None:
    """Apply the plan through the normal registry operations and gates; stops at the first refusal."""
    from registry.plan import apply_plan

    the_plan = compute_plan(file)
    commit = git_commit(file)
    why = f"{reason or 'desired state'} [apply {file}{' @ ' + commit if commit else ''}]"
    reg = open_registry()
    if the_plan.changes and not reg.store.exists():
        reg.init()
    result = apply_plan(reg, the_plan, reason=why, atomic=atomic)
    if json_out:
        print_json({**result.to_dict(), "commit": commit, "reason": why})
    else:
        print(_render_apply(result))
    raise typer.Exit(result.exit_code())


def register(app: typer.Typer) -> None:
    """Attach plan and apply to the root app."""
    app.command("plan")(plan)
    app.command("apply")(apply)
