"""``modelctl model set``: model-level fields (purpose, owner, kind, capture_content)."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.context import open_registry

app = typer.Typer(no_args_is_help=True, help="Model-level fields.")


@app.command("set")
def set_fields(
    name: str,
    purpose: Annotated[str | None, typer.Option("--purpose")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    kind: Annotated[str | None, typer.Option("--kind")] = None,
    capture_content: Annotated[bool | None, typer.Option("--capture-content/--no-capture-content")] = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Set a model's purpose, owner, kind or request-content capture."""
    record = open_registry().set_model_fields(name, purpose=purpose, owner=owner, kind=kind,
                                              capture_content=capture_content, reason=reason)
    print(f"{record.name}: purpose={record.purpose!r} owner={record.owner!r} kind={record.kind} "
          f"capture_content={record.capture_content}")
