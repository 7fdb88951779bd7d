"""State shared by CLI commands: the global --registry option and output helpers."""

from __future__ import annotations

import json
import sys
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry.service import Registry


@dataclass
class CliState:
    """Values of the global options, set by the root callback."""

    registry_uri: str | None = None
    debug: bool = False
    interrupted: bool = False  # a Ctrl-C or SIGTERM arrived during this command
    finished: bool = False  # the command returned; exit handlers are running


STATE = CliState()


def parse_time(text: str, option: str) -> datetime:
    """An ISO-8601 time (a date, or ``Z`` for UTC) given to ``option``, as an aware datetime (UTC when no
    zone is given); bad input names the option."""
    from datetime import UTC

    from registry.errors import InvalidInput

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{option} {text!r}: expected YYYY-MM-DD or an ISO-8601 time",
                           field=option.lstrip("-")) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def open_registry() -> Registry:
    """The registry named by --registry, else MODELCTL_REGISTRY, else the default."""
    from registry.service import open_registry as _open

    return _open(STATE.registry_uri)


def parse_ref(text: str) -> tuple[str, int | str | None]:
    """``NAME[@VERSION|@ENVIRONMENT]`` (imported on use: command modules stay cheap to import)."""
    from registry.refs import parse_ref as _parse

    return _parse(text)


def environments() -> tuple[str, ...]:
    """The environment names, in order."""
    from registry.entities import ENVIRONMENTS

    return tuple(ENVIRONMENTS)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_text(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` safe for a terminal: control characters, ANSI/OSC escapes and bidi/format characters
    are shown escaped (``\\x1b``), so a reason, an actor name or model output cannot rewrite the screen."""
    keep = {"\n", "\t"} if keep_newlines else set()
    return "".join(
        ch if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf") else _escape_char(ch)
        for ch in text)


def _default(obj: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", exclude_none=True)
    if isinstance(obj, datetime):
        return obj.isoformat().replace("+00:00", "Z")
    if isinstance(obj, date):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def to_json(obj: Any) -> str:
    """JSON text for --json output (ISO-8601 UTC times, pydantic models as dicts)."""
    return json.dumps(obj, default=_default, indent=2, sort_keys=False)


def print_json(obj: Any) -> None:
    """Print --json output to stdout."""
    sys.stdout.write(to_json(obj) + "\n")


def use_prefect(requested: bool) -> bool:
    """Run through Prefect (and show in its UI) only when asked (``--prefect``) or a server is configured."""
    import os

    return requested or bool(os.environ.get("PREFECT_API_URL"))


def fail(message: str, code: int = 2) -> None:
    """Print an error to stderr and exit with ``code`` (no traceback)."""
    import typer

    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)
