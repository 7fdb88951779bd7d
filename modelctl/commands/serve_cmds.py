"""``modelctl serve``: the Prefect UI as the ops console on this machine (see deployments/console.py)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        api_url: Annotated[str | None, typer.Option("--api-url", help="Prefect API (default: PREFECT_API_URL, "
                                                    "else http://127.0.0.1:4200/api, started when none answers)")] = None,
    ) -> None:
        """Start a Prefect server (if none answers), the work pool, the deployments, automations and a worker."""
        from deployments.console import ConsoleError, serve_console

        try:
            code = serve_console(api_url)
        except ConsoleError as exc:
            sys.stderr.write(f"error: {exc}\n")
            code = 5
        raise typer.Exit(code)
