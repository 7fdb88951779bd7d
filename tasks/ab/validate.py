"""Checks on A/B input values, so that a bad table is exit 2 naming the file, row and column instead of
a traceback or, worse, a silently wrong mean (text parsed as 0, ``inf`` summed into ``nan`` -> 0)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput

MAX_ABS = 1e15  # beyond this a latency, cost or flag is not a measurement (and sums overflow)
RANGES: dict[str, tuple[float, float]] = {
    "latency_ms": (0.0, MAX_ABS), "cost_usd": (0.0, MAX_ABS), "error": (0.0, 1.0),
    "quality_score": (0.0, 1.0), "thumbs_up": (0.0, 1.0),
}


def not_a_number(value: object, row: int | None) -> str:
    """The message of a text value in a numeric column."""
    return f"{value!r} is not a number" + (f" (data row {row})" if row else "")


def out_of_range(value: float, low: float, high: float, row: int | None) -> str:
    """The message of a value outside its column's range (infinity included)."""
    return f"{value:g} is outside [{low:g}, {high:g}]" + (f" (data row {row})" if row else "")


def as_float(column: pa.ChunkedArray | pa.Array, name: str, source: str, offset: int) -> np.ndarray:
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(column))
        column = pc.if_else(pc.equal(lowered, "true"), "1", pc.if_else(pc.equal(lowered, "false"), "0", column))
        column = pc.if_else(pc.equal(lowered, ""), pa.scalar(None, pa.string()), column)
    try:
        return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        for i, value in enumerate(column.to_pylist()):
            if value is None:
                continue
            try:
                float(value)
            except (TypeError, ValueError):
                raise InvalidInput(not_a_number(value, offset + i + 1), file=source, field=name) from exc
        raise InvalidInput(f"column of type {column.type} is not numeric", file=source, field=name) from exc


def validate_table(table: pa.Table, source: str, offset: int = 0) -> None:
    """Numeric columns are numbers, finite and in range; the user id is not missing everywhere."""
    for name, (low, high) in RANGES.items():
        if name not in table.column_names:
            continue
        values = as_float(table[name], name, source, offset)
        bad = np.flatnonzero(~np.isnan(values) & ((values < low) | (values > high) | ~np.isfinite(values)))
        if len(bad):
            i = int(bad[0])
            raise InvalidInput(out_of_range(float(values[i]), low, high, offset + i + 1), file=source, field=name)
    if "user_id" in table.column_names and table.num_rows and table["user_id"].null_count == table.num_rows:
        raise InvalidInput("user_id is empty in every row: the user is the unit of analysis", file=source,
                           field="user_id")
