"""Model references on the command line: ``NAME``, ``NAME@3`` (a version), ``NAME@production`` (an environment)."""

from __future__ import annotations

from registry.errors import InvalidInput
from registry.layout import ENVIRONMENTS, check_name


def parse_ref(text: str) -> tuple[str, int | str | None]:
    """Split ``name@3`` / ``name@production`` / ``name`` into (name, ref)."""
    name, sep, ref = text.partition("@")
    check_name(name)
    if not sep:
        return name, None
    if ref.isascii() and ref.isdigit() and int(ref) >= 1:
        return name, int(ref)
    if ref in ENVIRONMENTS:
        return name, ref
    raise InvalidInput(f"bad reference {text!r}: expected NAME@VERSION (a positive integer) or "
                       f"NAME@ENVIRONMENT ({', '.join(ENVIRONMENTS)})", field="ref")
