"""The ``modelctl`` console script: an entry point over registry/, tasks/ and flows/.

``main`` runs the serving path's ``modelctl resolve NAME`` directly, without typer, click or the command
tree (a cold start counts there); every other line — help, errors of usage, any option this fast path
does not know — goes to the typer command tree in ``modelctl.cli_app``, which also runs ``resolve``
through the same function. ``modelctl.cli.run`` and ``modelctl.cli.app`` are that module's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from modelctl.context import STATE, escape_text
from registry.errors import RegistryError

# Prefect's temporary server sends a telemetry heartbeat that fails noisily offline; flows run without it.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70


def _raise_interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C and SIGTERM: the first stops the command (exit handlers run, exit 130); a second one, or one
    that arrives while exit handlers drain (a library's background flush), ends the process at once."""
    if STATE.interrupted or STATE.finished:
        os._exit(EXIT_INTERRUPTED)
    STATE.interrupted = True
    raise KeyboardInterrupt


def _install_sigterm() -> dict[int, Any]:
    """Install the interrupt handlers; the previous ones, to restore for a programmatic caller."""
    previous: dict[int, Any] = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave the embedding application's handlers
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, _raise_interrupt)
    return previous


def _internal_error(exc: BaseException) -> int:
    """One line for an unexpected error; the traceback only with --debug."""
    if STATE.debug:
        traceback.print_exception(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    hint = "" if STATE.debug else " (run with --debug for the traceback)"
    sys.stderr.write(f"error: internal error: {escape_text(detail)}{hint}\n")
    return EXIT_INTERNAL


def error_exit(exc: BaseException) -> int:
    """The exit code of an error raised by a command, its message written to stderr (no traceback)."""
    if isinstance(exc, RegistryError):
        sys.stderr.write(f"error: {escape_text(str(exc), keep_newlines=True)}\n")
        return int(exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return 0
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):  # an entity refused a value no earlier check caught: still bad input
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        sys.stderr.write(f"error: {escape_text(f'field {where!r}: ' if where else '')}"
                         f"{escape_text(str(err['msg']))}\n")
        return 2
    if STATE.interrupted:  # a library turned the interrupt into another error on its way out
        sys.stderr.write(f"interrupted ({type(exc).__name__} while stopping)\n")
        return EXIT_INTERRUPTED
    return _internal_error(exc)


def fix_clock() -> None:
    """MODELCTL_NOW freezes the registry's clock for this command (reproducible demos and golden reports)."""
    from registry.envsettings import serving_settings

    now = serving_settings().now
    if now is not None or "registry.entities" in sys.modules:  # else the entities' clock is already the real one
        import registry.entities

        registry.entities.set_clock(now)


@dataclass(frozen=True)
class _Resolve:
    """A ``modelctl resolve`` line in the one shape the direct dispatch takes."""

    registry: str | None
    debug: bool
    name: str
    env: str
    user_id: str | None
    json_out: bool


_GLOBAL_VALUES = {"--registry"}  # global options (accepted anywhere, as the command tree hoists them)
_RESOLVE_VALUES = {"--env", "--user-id"}
_RESOLVE_FLAGS = {"--json"}


def _direct_resolve(args: list[str]) -> _Resolve | None:
    """``[--registry URI] [--debug] resolve NAME [--env E] [--user-id U] [--json]`` in any order the typer
    command accepts; None for anything else (help, ``--``, a repeated or unknown option, a missing value),
    which the command tree then parses and reports exactly as before."""
    seen: dict[str, str] = {}
    words: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name in _GLOBAL_VALUES or (words and name in _RESOLVE_VALUES):
            if not eq:
                if i + 1 >= len(args) or args[i + 1].startswith("-"):
                    return None
                i += 1
                value = args[i]
        elif arg == "--debug" or (words and arg in _RESOLVE_FLAGS):
            name = arg
        elif arg.startswith("-") or not arg:
            return None
        else:
            words.append(arg)
            i += 1
            continue
        if name in seen:
            return None
        seen[name] = value
        i += 1
    if len(words) != 2 or words[0] != "resolve":
        return None
    return _Resolve(seen.get("--registry"), "--debug" in seen, words[1], seen.get("--env", "production"),
                    seen.get("--user-id"), "--json" in seen)


def _run_resolve(line: _Resolve) -> int:
    """``modelctl resolve`` without the command tree: the same function, messages and exit codes."""
    STATE.registry_uri, STATE.debug = line.registry, line.debug
    try:
        fix_clock()
        from modelctl.commands.resolve_cmd import show_resolution

        show_resolution(line.name, line.env, line.user_id, line.json_out)
    except (KeyboardInterrupt, Exception) as exc:  # noqa: BLE001 - mapped to an exit code, never a traceback
        return error_exit(exc)
    if STATE.interrupted:
        sys.stderr.write("interrupted\n")
        return EXIT_INTERRUPTED
    return 0


def _run_tree(args: list[str]) -> int:
    """Any other command, through the typer command tree (registry changes become Prefect events)."""
    from modelctl.cli_app import run
    from tasks.events import flush as flush_events
    from tasks.events import install as install_events

    install_events()  # every registry change becomes a modelctl.* Prefect event when an API is configured
    try:
        return run(args)
    finally:
        flush_events()  # queued events reach Prefect before the process exits (bounded wait)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; map user errors to exit codes without a traceback (see CONTRACTS.md)."""
    previous = _install_sigterm()
    STATE.interrupted = STATE.finished = False
    args = list(argv if argv is not None else sys.argv[1:])
    try:
        direct = _direct_resolve(args)
        code = _run_resolve(direct) if direct is not None else _run_tree(args)
    finally:
        STATE.finished = True
        if argv is not None:  # called from Python (an application, a test): give its handlers back
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    sys.exit(code)


def __getattr__(name: str) -> Any:
    """``modelctl.cli.run`` and ``modelctl.cli.app``: the typer command tree's (loaded on use)."""
    if name in ("run", "app"):
        import modelctl.cli_app

        return getattr(modelctl.cli_app, name)
    raise AttributeError(f"module 'modelctl.cli' has no attribute {name!r}")


if __name__ == "__main__":
    main()
