"""The ``modelctl`` command tree (typer), loaded by ``modelctl.cli.main`` for every command but the
serving path's ``resolve``.

Each command group lives in ``modelctl/commands/<group>.py`` and exposes ``app`` (a Typer) or,
for top-level commands, ``register(app)``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer
from typer import _click

from modelctl import __version__
from modelctl.cli import EXIT_INTERRUPTED, error_exit, fix_clock
from modelctl.context import STATE

_app = typer.Typer(
    name="modelctl",
    help="Model lifecycle manager: registry, evaluation, A/B analysis, deprecations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich would double the CLI's start-up time
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"modelctl {__version__}\n")
        raise typer.Exit(0)


@_app.callback()
def _root(
    registry: Annotated[str | None, typer.Option("--registry", help="Registry URI (default: MODELCTL_REGISTRY or ./model-registry)")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of an unexpected error.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    STATE.registry_uri = registry
    STATE.debug = debug or STATE.debug


# Top-level commands: modules with register(app). Groups: (module, group name).
_TOP_LEVEL = ["modelctl.commands.registry_cmds", "modelctl.commands.gateway_cmds", "modelctl.commands.serve_cmds",
              "modelctl.commands.monitor_cmds", "modelctl.commands.desired_cmds", "modelctl.commands.approval_cmds",
              "modelctl.commands.compliance_cmds"]
_GROUPS = [
    ("modelctl.commands.eval_cmds", "eval"),
    ("modelctl.commands.model_cmds", "model"),
    ("modelctl.commands.experiment_cmds", "experiment"),
    ("modelctl.commands.canary_cmds", "canary"),
    ("modelctl.commands.ab_cmds", "ab"),
    ("modelctl.commands.deprecation_cmds", "deprecations"),
    ("modelctl.commands.finetune_cmds", "finetune"),
    ("modelctl.commands.sync_cmds", "sync"),
]


def _optional_module(module_name: str) -> Any:
    """A command module, or None while that feature is not installed."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


# Commands whose module alone is loaded when they are invoked (the serving path's cold start): building
# the whole command tree costs about 0.1 s, a third of the budget of `modelctl resolve`.
_FAST = {"resolve": "modelctl.commands.registry_cmds"}
_LOADED: set[str] = set()


def _load_module(module_name: str, group: str | None) -> None:
    if module_name in _LOADED:
        return
    _LOADED.add(module_name)
    module = _optional_module(module_name)
    if module is None:
        return
    if group is None:
        (getattr(module, "register_commands", None) or module.register)(_app)
    else:
        _app.add_typer(module.app, name=group)


def _load_commands(invoked: str | None = None) -> None:
    """Register the command modules: only the one ``invoked`` needs when it is a fast command or a group,
    else all of them (help, an unknown command)."""
    groups = dict((name, module) for module, name in _GROUPS)
    if invoked in _FAST:
        _load_module(_FAST[invoked], None)
    elif invoked in groups:
        _load_module(groups[invoked], invoked)
    else:
        for module_name in _TOP_LEVEL:
            _load_module(module_name, None)
        for module_name, group in _GROUPS:
            _load_module(module_name, group)


def __getattr__(name: str) -> Any:
    """``modelctl.cli.app``: the whole command tree (every command module loaded)."""
    if name == "app":
        _load_commands()
        return _app
    raise AttributeError(f"module 'modelctl.cli' has no attribute {name!r}")


def _first_command(args: list[str]) -> str | None:
    """The command or group named first on a line whose global options are hoisted, if any."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--registry":
            i += 2
        elif arg.startswith("--registry=") or arg == "--debug":
            i += 1
        else:
            return None if arg.startswith("-") else arg
    return None


def _hoist_global_options(args: list[str]) -> list[str]:
    """Accept ``--registry URI`` and ``--debug`` anywhere on the line by moving them before the command."""
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
        if arg.startswith("--registry=") or arg == "--debug":
            hoisted.append(arg)
        else:
            out.append(arg)
        i += 1
    return hoisted + out


_LABELS = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH", "bool": None}


def _label(param: Any, ctx: Any) -> str | None:
    """A conventional metavar (TEXT, INTEGER, ...) instead of typer 0.29's ``<str>``/``<bool>``."""
    if getattr(param, "is_flag", False):
        return None
    raw = str(param.display_type(ctx)).strip("<>")
    if "|" in raw:
        return "[" + raw + "]"
    suffix = "..." if getattr(param, "nargs", 1) != 1 or getattr(param, "multiple", False) else ""
    base = raw.removeprefix("list[").removesuffix("]")
    return (_LABELS.get(base, base.upper()) or "") + suffix


def _polish_help(command: Any) -> None:
    """Help output: no ``<str>``/``<bool>`` placeholders; arguments shown as NAME, not ``{name}``."""
    for sub in getattr(command, "commands", {}).values():
        _polish_help(sub)
    original = getattr(command, "get_help_option", None)
    if original is not None:
        def help_option(ctx: Any, original: Any = original) -> Any:
            option = original(ctx)
            if option is not None:
                option.display_type_rich = lambda ctx: None
            return option

        command.get_help_option = help_option
    for param in getattr(command, "params", []):
        try:
            param.display_type_rich = lambda ctx, p=param: _label(p, ctx)
            if param.param_type_name == "argument":
                upper = param.name.upper()
                param._usage_display_name = lambda p=param, u=upper: u if p.required else f"[{u}]"
        except (AttributeError, TypeError):  # another typer: keep its defaults
            continue


def run(args: list[str]) -> int:
    """Run the CLI on ``args`` and return the exit code (never raises but SystemExit from below)."""
    STATE.interrupted = False
    args = _hoist_global_options(args)
    _load_commands(_first_command(args))
    command = typer.main.get_command(_app)
    _polish_help(command)
    STATE.debug = "--debug" in args[: args.index("--") if "--" in args else len(args)]
    try:
        fix_clock()
        result = command.main(args=args, prog_name="modelctl", standalone_mode=False)
    except _click.exceptions.UsageError as exc:
        exc.show()
        return 2
    except _click.exceptions.ClickException as exc:
        exc.show()
        return 2
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return EXIT_INTERRUPTED
    except typer.Exit as exc:
        return int(exc.exit_code)
    except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - mapped to an exit code, never a traceback
        return error_exit(exc)
    if STATE.interrupted:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else 0
