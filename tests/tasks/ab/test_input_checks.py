"""Bad A/B tables are bad input (exit 2) naming the file, the data row and the column, in both engines.

The DuckDB engine is the default: it must carry every check of the Arrow reference (``tasks/ab/validate.py``)
and never let a DuckDB error through as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from registry.errors import InvalidInput
from tasks.ab.data import load_arms

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "examples" / "ab"))
from generate import generate  # noqa: E402

EXP = "summarizer-exp-1"
ROW = 7  # the data row (1-based, header excluded) that carries the bad value

# (case, column, value, message fragment)
BAD_VALUES: list[tuple[str, str, Any, str]] = [
    ("text-latency", "latency_ms", "slow", "'slow' is not a number"),
    ("text-thumbs", "thumbs_up", "maybe", "'maybe' is not a number"),
    ("inf-latency", "latency_ms", float("inf"), "inf is outside [0, 1e+15]"),
    ("negative-latency", "latency_ms", -100.0, "-100 is outside [0, 1e+15]"),
    ("huge-cost", "cost_usd", 1e308, "1e+308 is outside [0, 1e+15]"),
    ("error-2", "error", 2, "2 is outside [0, 1]"),
    ("quality-above-1", "quality_score", 1.5, "1.5 is outside [0, 1]"),
    ("quality-negative", "quality_score", -0.1, "-0.1 is outside [0, 1]"),
    ("negative-tokens", "input_tokens", -5, "-5 is outside [0, 1e+15]"),
]


def frame_with(column: str, value: Any) -> pd.DataFrame:
    frame = generate(users=40, seed=3)
    frame["input_tokens"] = 100
    if isinstance(value, str):  # text in a numeric column: the whole column is text, as a hand-edited file
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
        frame[column] = [None if v is None else str(v) for v in frame[column]]
    frame[column] = frame[column].astype(object)
    frame.loc[ROW - 1, column] = value
    return frame


def write(frame: pd.DataFrame, path: Path) -> str:
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    return str(path)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
@pytest.mark.parametrize(("case", "column", "value", "fragment"), BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_a_bad_value_names_file_row_and_column(tmp_path: Path, fmt: str, case: str, column: str, value: Any,
                                               fragment: str) -> None:
    if fmt == "jsonl" and value == float("inf"):
        pytest.skip("JSON has no infinity")
    path = write(frame_with(column, value), tmp_path / f"{case}.{fmt}")
    with pytest.raises(InvalidInput) as exc:
        load_arms(path, EXP)  # the default engine
    assert exc.value.file == path and exc.value.field == column, str(exc.value)
    assert fragment in exc.value.message and f"(data row {ROW})" in exc.value.message, str(exc.value)
    with pytest.raises(InvalidInput):
        load_arms(path, EXP, engine="arrow")  # the reference refuses it too


def test_every_user_id_empty_is_bad_input(tmp_path: Path) -> None:
    frame = generate(users=20, seed=4)
    frame["user_id"] = None
    for fmt in ("csv", "parquet"):
        path = write(frame, tmp_path / f"users.{fmt}")
        for engine in ("duckdb", "arrow"):
            with pytest.raises(InvalidInput, match="every user_id is empty") as exc:
                load_arms(path, EXP, engine=engine)
            assert exc.value.field == "user_id"


def test_an_absent_experiment_names_the_ids_present(tmp_path: Path) -> None:
    path = write(generate(users=20, seed=5), tmp_path / "t.parquet")
    with pytest.raises(InvalidInput, match="experiment ids present: summarizer-exp-1") as exc:
        load_arms(path, "nope", require_experiment=True)
    assert exc.value.field == "experiment_id" and exc.value.file == path


def test_duckdb_is_the_default_engine(tmp_path: Path) -> None:
    path = write(generate(users=20, seed=6), tmp_path / "t.parquet")
    arms = load_arms(path, EXP)
    # the SQL engine ships latency quantiles, never the request-level latencies (the reference does)
    assert arms["control"].latency_quantiles is not None and len(arms["control"].latencies) == 0
    assert load_arms(path, EXP, engine="arrow")["control"].latency_quantiles is None


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_a_bad_timestamp_is_bad_input_naming_its_row(tmp_path: Path, fmt: str) -> None:
    from datetime import UTC, datetime

    from tasks.ab.data import Window

    frame = generate(users=20, seed=7)
    frame["timestamp"] = frame["timestamp"].astype(str)
    frame.loc[ROW - 1, "timestamp"] = "yesterday"
    path = write(frame, tmp_path / f"t.{fmt}")
    with pytest.raises(InvalidInput) as exc:
        load_arms(path, EXP, window=Window(since=datetime(2026, 11, 2, tzinfo=UTC)))
    assert exc.value.field == "timestamp" and f"'yesterday' (data row {ROW})" in exc.value.message, str(exc.value)


def test_running_out_of_memory_is_not_called_bad_input(tmp_path: Path) -> None:
    from tasks.ab.engine import load_arms_sql

    path = write(generate(users=30000, seed=8), tmp_path / "t.parquet")
    with pytest.raises(MemoryError, match="ran out of memory"):
        load_arms_sql(path, EXP, memory_limit="1MB")


@pytest.mark.parametrize(("case", "column", "value", "fragment"),
                         [c for c in BAD_VALUES if not isinstance(c[2], str)], ids=lambda c: str(c))
@pytest.mark.parametrize("statistics", [True, False, ["latency_ms", "user_id"]])
def test_parquet_bounds_from_the_footer_or_a_scan_catch_the_same_values(
        tmp_path: Path, case: str, column: str, value: Any, fragment: str, statistics: Any) -> None:
    """A Parquet footer's min/max spare the bounds scan; a file written without them (or with them for some
    columns only) is scanned: either way the bad value is found and named by row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = frame_with(column, value)
    frame[column] = pd.to_numeric(frame[column])
    path = tmp_path / f"{case}.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, write_statistics=statistics,
                   row_group_size=15)
    with pytest.raises(InvalidInput) as exc:
        load_arms(str(path), EXP)
    assert exc.value.field == column and fragment in exc.value.message, str(exc.value)
    assert f"(data row {ROW})" in exc.value.message, str(exc.value)
    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pandas(generate(users=40, seed=3), preserve_index=False), good,
                   write_statistics=statistics, row_group_size=15)
    assert load_arms(str(good), EXP)["control"].user_count > 0
