"""``modelctl eval``: evaluation records (and, with the evaluation flow, ``eval run``)."""

from __future__ import annotations

from typing import Annotated

import typer

from modelctl.context import open_registry, print_json
from registry.errors import InvalidInput
from registry.service import parse_ref

app = typer.Typer(no_args_is_help=True, help="Evaluation records and runs.")


def parse_scores(items: list[str]) -> dict[str, float]:
    """``KEY=VALUE`` items (repeated, or comma-separated) as a dict of floats."""
    scores: dict[str, float] = {}
    for item in items:
        for part in filter(None, item.split(",")):
            key, sep, value = part.partition("=")
            try:
                if not sep or not key:
                    raise ValueError
                scores[key.strip()] = float(value)
            except ValueError as exc:
                raise InvalidInput(f"expected KEY=NUMBER, got {part!r}", field="scores") from exc
    return scores


@app.command("record")
def record(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    more_scores: Annotated[list[str] | None, typer.Argument(help="More KEY=VALUE scores.", show_default=False)] = None,
    suite: Annotated[str, typer.Option("--suite", help="Suite name.")] = "",
    passed: Annotated[bool | None, typer.Option("--passed/--failed", help="The outcome.")] = None,
    scores: Annotated[list[str] | None, typer.Option("--scores", help="KEY=VALUE (repeatable).")] = None,
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    json_out: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Record an evaluation result on a version's digest (the promotion gate reads the latest)."""
    if passed is None:
        raise InvalidInput("give --passed or --failed", field="passed")
    if not suite:
        raise InvalidInput("give --suite NAME", field="suite")
    name, number = parse_ref(ref)
    if not isinstance(number, int):
        raise InvalidInput(f"{ref!r}: expected NAME@VERSION with a version number", field="ref")
    values = parse_scores([*(scores or []), *(more_scores or [])])
    rec = open_registry().record_eval(name, number, suite=suite, passed=passed, scores=values, reason=reason)
    if json_out:
        print_json(rec.model_dump(mode="json", exclude_none=True))
    else:
        print(f"{name}@{number} {suite}: {'passed' if passed else 'failed'} (digest {rec.digest[:12]})")
