"""``modelctl compliance``: the seed's checklist, model by model, with the evidence (reads, never writes)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelctl.context import open_registry, parse_time, print_json
from registry.errors import InvalidInput


def compliance(
    names: Annotated[list[str] | None, typer.Argument(help="Models to check (default: every model in use)")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write the report as markdown to FILE")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Judge ages as of this ISO-8601 time (default: now, "
                                                          "or MODELCTL_NOW)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Evaluate the compliance checklist for each model in use: exit 0 all pass, 1 some fail, 2 bad input."""
    from registry.entities import utcnow
    from registry.settings import get_settings
    from tasks.compliance.pipeline import run_compliance
    from tasks.compliance.report import render_compliance_markdown

    report = run_compliance(open_registry(), get_settings().file_config(), names,
                            parse_time(now, "--now") if now is not None else utcnow())
    text = render_compliance_markdown(report)
    if markdown is not None:
        try:
            markdown.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"cannot write {markdown}: {exc.strerror or exc}", field="markdown") from exc
    if json_out:
        print_json(report.to_dict())
    else:
        print(text, end="")
    raise typer.Exit(1 if report.status == "fail" else 0)


def register(app: typer.Typer) -> None:
    """Add the top-level ``compliance`` command."""
    app.command("compliance")(compliance)
