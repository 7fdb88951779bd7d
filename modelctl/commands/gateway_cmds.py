"""``modelctl complete`` and ``modelctl feedback`` (through the gateway), ``modelctl logs``."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from modelctl.context import STATE, print_json
from registry.errors import InvalidInput

logs_app = typer.Typer(no_args_is_help=True, help="The request log.")


def parse_variables(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` items as template variables."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"expected KEY=VALUE, got {item!r}", field="var")
        out[key.strip()] = value
    return out


def complete(
    name: str,
    input_text: Annotated[str | None, typer.Option("--input", help="The user message.")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="KEY=VALUE template variable (repeatable).")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the text as it arrives.")] = False,
    env: Annotated[str, typer.Option("--env")] = "production",
    user_id: Annotated[str | None, typer.Option("--user-id")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Call NAME through the gateway (resolve -> call -> log) and print the text."""
    from tasks.gateway import Gateway

    messages = [{"role": "user", "content": input_text}] if input_text else []
    variables = parse_variables(var or []) or None
    gw = Gateway(registry_uri=STATE.registry_uri)
    try:
        if stream:
            chunks = gw.stream(name, messages, variables=variables, user_id=user_id, environment=env)
            with chunks:
                for text in chunks:
                    if not json_out:
                        sys.stdout.write(text)
                        sys.stdout.flush()
            resp = chunks.response
        else:
            resp = gw.complete(name, messages, variables=variables, user_id=user_id, environment=env)
    finally:
        gw.close()
    if resp is None:
        return
    if json_out:
        print_json({k: v for k, v in resp.to_dict().items()})
    elif stream:
        print()
    else:
        print(resp.text if resp.text or not resp.tool_calls else "")
    if not json_out:
        for call in resp.tool_calls:
            print(f"tool call {call['id']}: {call['name']}({json.dumps(call['arguments'])})")


def feedback(
    request_id: str,
    thumbs: Annotated[bool | None, typer.Option("--thumbs-up/--thumbs-down")] = None,
    score: Annotated[float | None, typer.Option("--score", help="Quality score in [0, 1].")] = None,
    label: Annotated[str | None, typer.Option("--label")] = None,
    verified_by: Annotated[str | None, typer.Option("--verified-by")] = None,
) -> None:
    """Attach feedback to a logged request."""
    from tasks.gateway import Gateway

    if not request_id.strip():
        raise InvalidInput("empty request id", field="request_id")
    gw = Gateway(registry_uri=STATE.registry_uri)
    try:
        gw.feedback(request_id, thumbs_up=thumbs, quality_score=score, label=label, verified_by=verified_by)
    finally:
        gw.close()
    print(f"feedback recorded for {request_id}")


@logs_app.command("show")
def show(
    model: Annotated[str | None, typer.Option("--model")] = None,
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD or ISO time")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 20,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The latest requests (with feedback joined)."""
    from tasks.request_log import load_requests

    frame = load_requests(model=model, since=since).sort_values("timestamp").tail(limit)
    frame = frame.drop(columns=[c for c in ("input_text", "output_text") if c in frame.columns])
    if json_out:
        print_json(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))
    else:
        print(frame.to_string(index=False) if len(frame) else "(no requests)")


@logs_app.command("compact")
def compact_cmd() -> None:
    """Compact closed day partitions to Parquet."""
    from tasks.request_log import compact

    for line in compact() or ["nothing to compact"]:
        print(line)


def register(app: typer.Typer) -> None:
    """Attach the gateway commands to the root app."""
    app.command("complete")(complete)
    app.command("feedback")(feedback)
    app.add_typer(logs_app, name="logs")
