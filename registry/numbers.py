"""Checks for numbers that come from users: finite, and not negative where a count or a duration."""

from __future__ import annotations

import math
from typing import Any

from registry.errors import InvalidInput

MAX_NESTING = 64


def finite(value: float | None, field: str, *, minimum: float | None = None,
           positive: bool = False) -> float | None:
    """``value`` when it is finite (and at least ``minimum`` / > 0); InvalidInput naming ``field``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{value!r} is not a finite number", field=field)
    if positive and value <= 0:
        raise InvalidInput(f"must be greater than 0, got {value}", field=field)
    if minimum is not None and value < minimum:
        raise InvalidInput(f"must be at least {minimum:g}, got {value}", field=field)
    return value


def check_tree(value: Any, field: str) -> None:
    """Refuse non-finite floats and nesting deeper than MAX_NESTING anywhere in a JSON-like value."""
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_NESTING:
            raise ValueError(f"nested deeper than {MAX_NESTING} levels at {where}")
        if isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"non-finite number {node!r} at {where}")
        if isinstance(node, dict):
            stack.extend((v, f"{where}.{k}", depth + 1) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((v, f"{where}.{i}", depth + 1) for i, v in enumerate(node))
