"""Validation before any side effect: well-formed rows, token counts, labels, and enough samples.

The checks of OpenAI's data-preparation guide, on our rows: every row has a non-empty text input (or
chat messages with known roles and content) and a non-empty output; no example exceeds the base
model's training context; and there are at least ``min_samples`` examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from registry.errors import InvalidInput, PolicyViolation

ROLES = ("system", "user", "assistant")
DEFAULT_MIN_SAMPLES = 5000
# Training context per example, by base-model prefix (OpenAI's fine-tuning guide); a conservative default.
TOKEN_LIMITS: dict[str, int] = {"gpt-4.1": 65_536, "gpt-4o-mini": 65_536, "gpt-4o": 65_536,
                                "gpt-3.5-turbo": 16_385, "amazon.titan": 4_096, "amazon.nova": 32_000,
                                "meta.llama": 4_096, "anthropic.claude": 32_000, "cohere.command": 4_096}
DEFAULT_TOKEN_LIMIT = 16_385
MESSAGE_OVERHEAD_TOKENS = 12  # role markers and separators of a three-message chat example


def token_limit(trainer: str, base_model: str | None) -> int | None:
    """The per-example token limit of a base model (None: the local trainer has none)."""
    if trainer == "local":
        return None
    for prefix, limit in TOKEN_LIMITS.items():
        if (base_model or "").startswith(prefix):
            return limit
    return DEFAULT_TOKEN_LIMIT


def is_text(series: pd.Series) -> bool:
    """True when every value is a string (Arrow-backed string columns are checked without a loop)."""
    if isinstance(series.dtype, pd.StringDtype):
        return not bool(series.isna().any())
    return bool(series.map(type).eq(str).all())


def estimate_tokens(texts: pd.Series) -> np.ndarray:
    """Tokens per text: the larger of whitespace words and characters / 4 (a tokenizer-free upper estimate)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = pa.array(texts.to_numpy(dtype=object), type=pa.large_string())
    chars = pc.utf8_length(arrow).to_numpy(zero_copy_only=False).astype(float)
    words = pc.count_substring_regex(arrow, pattern=r"\S+").to_numpy(zero_copy_only=False).astype(float)
    return np.maximum(words, np.ceil(chars / 4)).astype(int)


def _bad_message(value: list[Any]) -> str | None:
    if not value:
        return "an empty message list"
    for i, m in enumerate(value):
        if not isinstance(m, dict):
            return f"message {i} is not an object"
        if m.get("role") not in ROLES:
            return f"message {i} has role {m.get('role')!r} (one of {', '.join(ROLES)})"
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            return f"message {i} has empty content"
    if not any(m["role"] == "user" for m in value):
        return "no user message"
    if value[-1]["role"] == "assistant":
        return "the last message is the assistant's: put the answer in output"
    return None


def check_well_formed(frame: pd.DataFrame, source: str) -> None:
    """Every row: a non-empty input (text or chat messages) and a non-empty text output.

    Raises:
        InvalidInput: naming the source, the first bad row and its field.
    """
    for column in ("input", "output"):
        values = frame[column]
        is_text = values.map(type).eq(str).to_numpy()
        empty = np.zeros(len(values), dtype=bool)
        empty[is_text] = values[is_text].str.strip().eq("").to_numpy()
        bad = (~is_text) | empty
        if column == "input":
            for i in np.flatnonzero(~is_text):
                value = values.iloc[i]
                if isinstance(value, list | np.ndarray) and _bad_message(list(value)) is None:
                    bad[i] = False
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            value = values.iloc[first]
            if column == "input" and isinstance(value, list | np.ndarray):
                why = _bad_message(list(value)) or "malformed messages"
            elif value is None or (isinstance(value, float) and np.isnan(value)):
                why = "missing"
            elif isinstance(value, str):
                why = "empty"
            else:
                why = f"must be text, got {type(value).__name__}"
            raise InvalidInput(f"{column} {why} ({int(bad.sum())} bad row(s) in all)", file=source,
                               line=int(frame["row"].iloc[first]), field=column)


@dataclass
class ValidationReport:
    """What validation saw: sizes, tokens, the label distribution, warnings."""

    rows: int
    min_samples: int
    token_limit: int | None
    max_tokens: int
    mean_tokens: float
    total_tokens: int
    labels: dict[str, int] | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def validate(frame: pd.DataFrame, source: str, *, min_samples: int, limit: int | None,
             classifier: bool, system_prompt: str | None = None) -> ValidationReport:
    """Check sizes and tokens; raises before any upload, training or registry change.

    Raises:
        InvalidInput: an example over the token limit (row and count named).
        PolicyViolation: fewer than ``min_samples`` examples.
    """
    texts = frame["input"]
    if not is_text(texts):
        texts = texts.map(lambda v: v if isinstance(v, str) else "\n".join(m["content"] for m in v))
    tokens = estimate_tokens(texts + "\n" + frame["output"]) + MESSAGE_OVERHEAD_TOKENS
    if system_prompt:
        tokens = tokens + len(system_prompt) // 4 + 1
    if limit is not None and len(tokens):
        over = np.flatnonzero(tokens > limit)
        if len(over):
            rows = ", ".join(str(int(frame["row"].iloc[i])) for i in over[:5])
            raise InvalidInput(f"{len(over)} example(s) exceed the base model's {limit}-token limit "
                               f"(rows {rows}{', ...' if len(over) > 5 else ''})", file=source,
                               line=int(frame["row"].iloc[over[0]]), field="input")
    labels = frame["output"].value_counts().sort_index().astype(int).to_dict() if classifier else None
    warnings = []
    if labels:
        rare = sorted(k for k, n in labels.items() if n < 10)
        if rare:
            warnings.append(f"labels with fewer than 10 examples: {', '.join(rare)}")
    report = ValidationReport(rows=len(frame), min_samples=min_samples, token_limit=limit,
                              max_tokens=int(tokens.max()) if len(tokens) else 0,
                              mean_tokens=round(float(tokens.mean()), 1) if len(tokens) else 0.0,
                              total_tokens=int(tokens.sum()), labels=labels, warnings=warnings)
    if len(frame) < min_samples:
        raise PolicyViolation(f"refused: {len(frame)} training examples after cleaning, fewer than the "
                              f"minimum of {min_samples} (--min-samples)",
                              [f"{source}: {len(frame)} usable example(s)"])
    return report
