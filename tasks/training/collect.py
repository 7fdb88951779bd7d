"""Collect training examples: from the request log (verified feedback) or a JSONL/CSV/Parquet table.

Then keep verified rows, drop duplicates of the normalised input, redact, and remove every input that
also appears in the model's evaluation suite (decontamination), counting what each step dropped.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from registry.errors import InvalidInput, StoreUnavailable
from tasks.training.validate import check_well_formed, is_text

if TYPE_CHECKING:
    from tasks.request_log import Redactor

REDACTED = "[REDACTED]"
_SPACE = re.compile(r"\s+")


@dataclass
class Collected:
    """The examples kept (columns ``row, id, input, output``) and how many each step dropped."""

    frame: pd.DataFrame
    source: str
    read: int
    dropped: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.frame)


def normalise(text: str) -> str:
    """Lower-case, whitespace collapsed: what "the same input" means for duplicates and contamination."""
    return _SPACE.sub(" ", text.lower()).strip()


def input_text(value: Any) -> str:
    """The user text of an input (a string, or the user turns of a chat message list)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict) and m.get("role") == "user")
    return "" if value is None else str(value)


def _texts(series: pd.Series) -> pa.Array:
    if isinstance(series.dtype, pd.StringDtype) and not series.isna().any():
        return pa.array(series.array).cast(pa.large_string())
    if not is_text(series):
        series = series.map(input_text)
    return pa.array(series.to_numpy(dtype=object), type=pa.large_string())


def normalised(series: pd.Series) -> pd.Series:
    """``normalise`` over a column, vectorised (Arrow compute): the key of duplicates and contamination."""
    text = pc.utf8_lower(_texts(series))
    text = pc.replace_substring_regex(text, pattern=r"\s\s+|[\t\n\r\f\v]", replacement=" ")
    return pc.utf8_trim_whitespace(text).to_pandas().set_axis(series.index)


def redact_column(series: pd.Series, redactor: Redactor) -> pd.Series:
    """Replace every match of the redactor's patterns with REDACTED.

    ASCII text goes through Arrow's RE2 in one call; text with other characters goes through the
    redactor itself, which normalises it first (NFKC, invisible characters) so that full-width or
    zero-width tricks cannot slip an address or a card number past the patterns.
    """
    if redactor.regex is None:
        return series
    texts = _texts(series)
    try:
        out = pc.replace_substring_regex(texts, pattern=redactor.regex.pattern, replacement=REDACTED)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a pattern RE2 lacks (lookaround, backreference)
        return series.map(lambda v: redactor.sub(REDACTED, input_text(v)))
    result = out.to_pandas().set_axis(series.index)
    wide = ~pc.fill_null(pc.string_is_ascii(texts), True).to_numpy(zero_copy_only=False).astype(bool)
    if wide.any():
        originals = texts.to_pylist()
        result[wide] = [redactor.sub(REDACTED, originals[i] or "") for i in np.flatnonzero(wide)]
    return result


# -- sources --------------------------------------------------------------------------------------
def _read_bytes(uri: str) -> bytes:
    if uri.startswith("s3://"):
        import boto3

        bucket, _, key = uri[5:].partition("/")
        try:
            return bytes(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "NoSuchBucket", "404"):
                raise InvalidInput(f"training data not found: {exc}", file=uri, field="data") from exc
            raise StoreUnavailable(f"cannot read training data {uri}: {exc}") from exc
    path = Path(uri[7:] if uri.startswith("file://") else uri)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read training data: {exc.strerror or exc}", file=uri, field="data") from exc


def read_table(uri: str) -> pd.DataFrame:
    """A JSONL, CSV or Parquet table as a frame with a 1-based ``row`` column (line for text formats)."""
    data = _read_bytes(uri)
    lower = uri.lower()
    if lower.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            frame = pq.read_table(io.BytesIO(data)).to_pandas()
        except Exception as exc:
            raise InvalidInput(f"not a readable Parquet file: {exc}", file=uri) from exc
        frame.insert(0, "row", range(1, len(frame) + 1))
        for column in ("input", "output"):  # list columns (chat messages) come back as numpy arrays
            if column in frame.columns and frame[column].dtype == object:
                frame[column] = frame[column].map(lambda v: list(v) if isinstance(v, np.ndarray) else v)
    elif lower.endswith(".csv"):
        try:
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
        except Exception as exc:
            raise InvalidInput(f"not a readable CSV file: {exc}", file=uri) from exc
        frame.insert(0, "row", range(2, len(frame) + 2))  # line 1 is the header
    elif lower.endswith((".jsonl", ".json", ".ndjson")):
        rows, lines = [], []
        for i, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"malformed JSON: {exc.msg}", file=uri, line=i) from exc
            if not isinstance(obj, dict):
                raise InvalidInput("each line must be a JSON object", file=uri, line=i)
            rows.append(obj)
            lines.append(i)
        frame = pd.DataFrame(rows)
        frame.insert(0, "row", lines)
    else:
        raise InvalidInput("training data must be .jsonl, .csv or .parquet", file=uri, field="data")
    for alias in ("label", "expected"):  # a suite-style dataset (expected) works as training data too
        if "output" not in frame.columns and alias in frame.columns:
            frame = frame.rename(columns={alias: "output"})
    for column in ("input", "output"):
        if column not in frame.columns:
            raise InvalidInput(f"the table has no {column!r} column (columns: input, output (or label/expected), "
                               "optional id and verified_by)", file=uri, line=1, field=column)
    if "id" not in frame.columns:
        frame["id"] = frame["row"].map(lambda r: f"row-{r}")
    if "verified_by" not in frame.columns:
        frame["verified_by"] = "file"  # a curated table without the column counts as verified
    return frame[["row", "id", "input", "output", "verified_by"]]


def read_request_log(log_uri: str, model: str, *, capture_content: bool) -> pd.DataFrame:
    """Requests of ``model`` with feedback, as ``row, id, input, output, verified_by``.

    The output is the feedback's label when there is one, else the logged (accepted) output text.
    """
    from tasks.request_log import load_requests

    try:
        log = load_requests(log_uri, model=model, feedback_only=True,  # the join and filter run in DuckDB
                            columns=["request_id", "input_text", "output_text", "label", "verified_by",
                                     "quality_score", "thumbs_up"])
    except OSError as exc:
        raise StoreUnavailable(f"cannot read the request log {log_uri}: {exc}") from exc
    has_feedback = log[["verified_by", "label", "quality_score", "thumbs_up"]].notna().any(axis=1)
    with_feedback = log[has_feedback]
    if len(with_feedback) and with_feedback["input_text"].isna().all():
        hint = "" if capture_content else f" (turn it on with `modelctl model set {model} --capture-content`)"
        raise InvalidInput(f"the request log has no input text for {model}: content capture was off when "
                           f"these requests were served{hint}; or pass --data URI", file=log_uri, field="input_text")
    log = with_feedback[with_feedback["input_text"].notna()]
    output = log["label"].where(log["label"].notna() & log["label"].ne(""), log["output_text"])
    return pd.DataFrame({"row": range(1, len(log) + 1), "id": log["request_id"].to_numpy(),
                         "input": log["input_text"].to_numpy(), "output": output.to_numpy(),
                         "verified_by": log["verified_by"].to_numpy()})


# -- cleaning -------------------------------------------------------------------------------------
def clean(frame: pd.DataFrame, source: str, *, redact: Redactor, eval_inputs: set[str]) -> Collected:
    """Verified only -> no duplicate normalised inputs -> redacted -> decontaminated, with counts."""
    read = len(frame)
    verified = frame["verified_by"].notna() & frame["verified_by"].astype(str).str.strip().ne("")
    frame = frame[verified]
    dropped = {"unverified": int(read - len(frame))}
    key = normalised(frame["input"])
    keep = ~key.duplicated(keep="first")
    frame, key = frame[keep], key[keep]
    dropped["duplicates"] = int((~keep).sum())
    frame = frame.copy()
    changed = pd.Series(False, index=frame.index)
    for column in ("input", "output"):
        values = frame[column]
        if is_text(values):
            redacted = redact_column(values, redact)
            changed |= redacted.ne(values)
            frame[column] = redacted
    dropped["redacted"] = int(changed.sum())
    contaminated = key.isin(eval_inputs) | normalised(frame["input"]).isin(eval_inputs)
    dropped["contaminated"] = int(contaminated.sum())
    frame = frame[~contaminated]
    out = frame[["row", "id", "input", "output"]].reset_index(drop=True)
    out["id"] = out["id"].astype(str)
    return Collected(frame=out, source=source, read=read, dropped=dropped)


def suite_inputs(suite_path: str | None) -> set[str]:
    """The normalised inputs of an evaluation suite (what training must never see)."""
    if not suite_path:
        return set()
    from tasks.evaluation import load_suite

    cases = load_suite(suite_path).cases
    return set(normalised(pd.Series([input_text(case.input) for case in cases], dtype=object)))


def collect(*, model: str, data: str | None, log_uri: str, capture_content: bool, suite_path: str | None,
            redact: Redactor) -> Collected:
    """Read the source, check every row is well formed, and clean it."""
    source = data or log_uri
    frame = read_table(data) if data else read_request_log(log_uri, model, capture_content=capture_content)
    check_well_formed(frame, source)
    return clean(frame, source, redact=redact, eval_inputs=suite_inputs(suite_path))
