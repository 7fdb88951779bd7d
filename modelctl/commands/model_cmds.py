"""``modelctl model set``: model-level fields (purpose, owner, kind, capture_content)."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.context import open_registry, print_json

app = typer.Typer(no_args_is_help=True, help="Model-level fields.")


@app.command("set")
def set_fields(
    name: Annotated[str, typer.Argument(help="Model name.")],
    purpose: Annotated[str | None, typer.Option("--purpose", help="What the model is for.")] = None,
    owner: Annotated[str | None, typer.Option("--owner", help="The owning team or person.")] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="chat, embedding, classifier, ...")] = None,
    capture_content: Annotated[bool | None, typer.Option(
        "--capture-content/--no-capture-content", help="Log request input and output text (redacted).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded in history).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Set a model's purpose, owner, kind or request-content capture."""
    record = open_registry().set_model_fields(name, purpose=purpose, owner=owner, kind=kind,
                                              capture_content=capture_content, reason=reason)
    if json_out:
        print_json({"name": record.name, "purpose": record.purpose, "owner": record.owner, "kind": record.kind,
                    "capture_content": record.capture_content})
        return
    print(f"{record.name}: purpose={record.purpose!r} owner={record.owner!r} kind={record.kind} "
          f"capture_content={record.capture_content}")
