"""``modelctl complete`` and ``modelctl feedback`` (through the gateway), ``modelctl logs``."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from modelctl.context import STATE, escape_text, print_json
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
    name: Annotated[str, typer.Argument(help="Model name.")],
    input_text: Annotated[str | None, typer.Option("--input", help="The user message (optional when the "
                                                                  "version's template takes --var).")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="KEY=VALUE template variable (repeatable).")] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Print the text as it arrives.")] = False,
    env: Annotated[str, typer.Option("--env", help="Environment to call.")] = "production",
    user_id: Annotated[str | None, typer.Option("--user-id", help="End-user id (stored as a keyed hash; routes "
                                                                  "experiments).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
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
                        sys.stdout.write(escape_text(text, keep_newlines=True))
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
        print(escape_text(resp.text, keep_newlines=True) if resp.text or not resp.tool_calls else "")
    if not json_out:
        for call in resp.tool_calls:
            print(escape_text(f"tool call {call['id']}: {call['name']}({json.dumps(call['arguments'])})"))


def feedback(
    request_id: Annotated[str, typer.Argument(help="The request id printed by `complete`.")],
    thumbs: Annotated[bool | None, typer.Option("--thumbs-up/--thumbs-down", help="The user's verdict.")] = None,
    score: Annotated[float | None, typer.Option("--score", help="Quality score in [0, 1].")] = None,
    label: Annotated[str | None, typer.Option("--label", help="A correct label (for classifiers).")] = None,
    verified_by: Annotated[str | None, typer.Option("--verified-by", help="Who checked the label.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Attach feedback to a logged request."""
    from tasks.gateway import Gateway
    from tasks.request_log import load_requests

    if not request_id.strip():
        raise InvalidInput("empty request id", field="request_id")
    known = load_requests(columns=["request_id"], with_feedback=False)
    if not (known["request_id"] == request_id).any():
        raise InvalidInput(f"unknown request id {request_id!r}: not in the request log", field="request_id")
    gw = Gateway(registry_uri=STATE.registry_uri)
    try:
        gw.feedback(request_id, thumbs_up=thumbs, quality_score=score, label=label, verified_by=verified_by)
    finally:
        gw.close()
    if json_out:
        print_json({"request_id": request_id, "thumbs_up": thumbs, "quality_score": score, "label": label,
                    "verified_by": verified_by, "recorded": True})
    else:
        print(f"feedback recorded for {request_id}")


@logs_app.command("show")
def show(
    model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="YYYY-MM-DD or ISO time")] = None,
    limit: Annotated[int, typer.Option("--limit", help="How many of the latest requests.", min=1)] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The latest requests (with feedback joined)."""
    from tasks.request_log import load_requests

    frame = load_requests(model=model, since=since).sort_values("timestamp").tail(limit)
    frame = frame.drop(columns=[c for c in ("input_text", "output_text") if c in frame.columns])
    if json_out:
        print_json(frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))
    else:
        print(_table(frame) if len(frame) else "(no requests)")
    skipped = frame.attrs.get("skipped_lines", 0)
    if skipped:
        sys.stderr.write(f"warning: skipped {skipped} unreadable line(s) of the request log\n")


TABLE_COLUMNS = ["timestamp", "request_id", "model", "version", "environment", "variant", "latency_ms",
                 "cost_usd", "error", "quality_score"]


def _table(frame: Any) -> str:
    """The requests as a table that fits the terminal: the columns that matter, long ids shortened."""
    import shutil

    shown = frame[[c for c in TABLE_COLUMNS if c in frame.columns]].copy()
    if "timestamp" in shown:
        shown["timestamp"] = shown["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    width = shutil.get_terminal_size((120, 20)).columns
    for column in ("request_id", "model"):
        if column in shown:
            shown[column] = shown[column].astype(str).map(lambda v: v if len(v) <= 18 else v[:17] + "…")
    text = shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}")
    while shown.shape[1] > 3 and max(map(len, text.splitlines())) > width:
        shown = shown.iloc[:, :-1]
        text = shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}")
    return escape_text(text, keep_newlines=True)


@logs_app.command("compact")
def compact_cmd(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Compact closed day partitions to Parquet."""
    from tasks.request_log import compact

    done = compact()
    if json_out:
        print_json({"compacted": done})
        return
    for line in done or ["nothing to compact"]:
        print(line)


def register(app: typer.Typer) -> None:
    """Attach the gateway commands to the root app."""
    app.command("complete")(complete)
    app.command("feedback")(feedback)
    app.add_typer(logs_app, name="logs")
