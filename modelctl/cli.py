"""The ``modelctl`` console script: an entry point over registry/, tasks/ and flows/.

Each command group lives in ``modelctl/commands/<group>.py`` and exposes ``app`` (a Typer) or,
for top-level commands, ``register(app)``.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Any

import click
import typer

from modelctl.context import STATE
from registry.errors import RegistryError

# Prefect's temporary server sends a telemetry heartbeat that fails noisily offline; flows run without it.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

app = typer.Typer(
    name="modelctl",
    help="Model lifecycle manager: registry, evaluation, A/B analysis, deprecations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich would double the CLI's start-up time
)


@app.callback()
def _root(
    registry: Annotated[str | None, typer.Option("--registry", help="Registry URI (default: MODELCTL_REGISTRY or ./model-registry)")] = None,
) -> None:
    STATE.registry_uri = registry


# Top-level commands: modules with register(app). Groups: (module, group name).
_TOP_LEVEL = ["modelctl.commands.registry_cmds", "modelctl.commands.gateway_cmds"]
_GROUPS = [
    ("modelctl.commands.eval_cmds", "eval"),
    ("modelctl.commands.model_cmds", "model"),
    ("modelctl.commands.experiment_cmds", "experiment"),
    ("modelctl.commands.canary_cmds", "canary"),
    ("modelctl.commands.ab_cmds", "ab"),
    ("modelctl.commands.deprecation_cmds", "deprecations"),
    ("modelctl.commands.finetune_cmds", "finetune"),
]


def _optional_module(module_name: str) -> Any:
    """A command module, or None while that feature is not installed."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def _load_commands() -> None:
    for module_name in _TOP_LEVEL:
        module = _optional_module(module_name)
        if module is not None:
            (getattr(module, "register_commands", None) or module.register)(app)
    for module_name, group in _GROUPS:
        module = _optional_module(module_name)
        if module is not None:
            app.add_typer(module.app, name=group)


_load_commands()


def _hoist_global_options(args: list[str]) -> list[str]:
    """Accept ``--registry URI`` anywhere on the line by moving it before the command."""
    out: list[str] = []
    hoisted: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out.extend(args[i:])
            break
        if arg == "--registry" and i + 1 < len(args):
            hoisted += [arg, args[i + 1]]
            i += 2
            continue
        if arg.startswith("--registry="):
            hoisted.append(arg)
        else:
            out.append(arg)
        i += 1
    return hoisted + out


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map user errors to exit codes without a traceback."""
    command = typer.main.get_command(app)
    args = _hoist_global_options(list(argv if argv is not None else sys.argv[1:]))
    try:
        result = command.main(args=args, prog_name="modelctl",
                              standalone_mode=False)
    except click.exceptions.UsageError as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except RegistryError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
