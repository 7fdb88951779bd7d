"""Evaluation suites: a YAML file naming a dataset, scorers, gates, margins, repeats and a seed.

    name: ticket-triage
    dataset: tickets.jsonl            # relative to the suite file (or a path / s3:// URI)
    scorers:
      - type: exact_match
        normalize: [strip, lower]
    gates:
      exact_match: ">= 0.80"
      error_rate: "<= 0.05"
    margins:                          # non-inferiority against the baseline: absolute, or "2%" relative
      exact_match: 0.02
    allowances:                       # cost / latency regressions tolerated (defaults: cost +25%, p95 +50%)
      p95_latency_ms: "100%"
    repeats: 1
    seed: 0

A scorer's metric is named after its ``type`` unless it sets ``name``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from registry.errors import InvalidInput
from registry.yamlio import load_located
from tasks.evaluation.cases import Case, ScorerSpec
from tasks.evaluation.scorers import check_scorer

__all__ = ["Case", "Gate", "LoadedSuite", "Margin", "ScorerSpec", "Suite", "load_suite", "parse_dataset"]

_GATE = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)\s*(%?)\s*$")
OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                  "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Gate:
    """A threshold on a metric's point estimate, e.g. ``>= 0.80``."""

    metric: str
    op: str
    threshold: float

    def passes(self, value: float | None) -> bool:
        return value is not None and OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


def parse_gate(metric: str, text: str | float) -> Gate:
    """``">= 0.80"`` (or a bare number, read as ``>=``) into a Gate."""
    if isinstance(text, int | float):
        return Gate(metric, ">=", float(text))
    m = _GATE.match(str(text))
    if not m:
        raise ValueError(f"gate {text!r} must look like '>= 0.95' or '<= 2000'")
    value = float(m.group(2)) / (100 if m.group(3) else 1)
    return Gate(metric, m.group(1), value)


@dataclass(frozen=True)
class Margin:
    """A non-inferiority margin: how much worse than the baseline is still acceptable."""

    value: float
    relative: bool = False

    def absolute(self, baseline: float) -> float:
        return abs(baseline) * self.value if self.relative else self.value


def parse_margin(text: str | float) -> Margin:
    """``0.02`` (absolute) or ``"2%"`` (relative to the baseline's value)."""
    s = str(text).strip()
    if s.endswith("%"):
        return Margin(float(s[:-1]) / 100, relative=True)
    return Margin(float(s))


def _check_gate(value: str | float) -> str | float:
    parse_gate("", value)
    return value


def _check_margin(value: str | float) -> str | float:
    try:
        parse_margin(value)
    except ValueError as exc:
        raise ValueError(f"margin {value!r} must be a number or a percentage like '2%'") from exc
    return value


# A candidate costlier or slower than production beyond these is rejected (relative to the baseline, and
# at least the absolute floor below, so that sub-millisecond jitter of a local model never counts).
DEFAULT_ALLOWANCES: dict[str, str | float] = {"cost_per_1k_requests": "25%", "p95_latency_ms": "50%"}
ALLOWANCE_FLOORS: dict[str, float] = {"cost_per_1k_requests": 0.01, "p95_latency_ms": 25.0}

GateText = Annotated[str | float, AfterValidator(_check_gate)]
MarginText = Annotated[str | float, AfterValidator(_check_margin)]


class Suite(BaseModel):
    """A parsed suite file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    description: str | None = None
    dataset: str
    scorers: list[ScorerSpec] = Field(min_length=1)
    gates: dict[str, GateText] = Field(default_factory=dict)
    margins: dict[str, MarginText] = Field(default_factory=dict)
    allowances: dict[str, MarginText] = Field(default_factory=dict)
    repeats: int = Field(default=1, ge=1, le=100)
    seed: int = 0
    tags: list[str] = Field(default_factory=list)

    def parsed_gates(self) -> list[Gate]:
        return [parse_gate(m, t) for m, t in self.gates.items()]

    def parsed_margins(self) -> dict[str, Margin]:
        return {m: parse_margin(t) for m, t in self.margins.items()}

    def parsed_allowances(self) -> dict[str, Margin]:
        """How much costlier or slower than the baseline a candidate may be (defaults overridden per suite)."""
        return {m: parse_margin(t) for m, t in {**DEFAULT_ALLOWANCES, **self.allowances}.items()}


@dataclass(frozen=True)
class LoadedSuite:
    """A suite with its cases and digest (suite plus dataset sha256)."""

    suite: Suite
    path: str
    cases: list[Case]
    dataset_sha256: str
    digest: str


def _read_bytes(uri: str, source: str) -> bytes:
    from registry.blobs import BlobError, read_bytes

    try:
        return read_bytes(uri)
    except FileNotFoundError as exc:
        raise InvalidInput(f"dataset not found: {uri}", file=source, field="dataset") from exc
    except BlobError as exc:
        raise InvalidInput(f"cannot read dataset: {exc}", file=source, field="dataset") from exc


def _case(row: dict[str, Any], where: str, line: int) -> Case:
    if "id" not in row or row["id"] in (None, ""):
        raise InvalidInput("case has no id", file=where, line=line, field="id")
    variables = row.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise InvalidInput("variables must be a mapping of name to value", file=where, line=line, field="variables")
    if row.get("input") in (None, "") and not variables:
        raise InvalidInput("case has no input (nor template variables)", file=where, line=line, field="input")
    value = row.get("input") or ""
    if not isinstance(value, str | list):
        raise InvalidInput("input must be text or a list of chat messages", file=where, line=line, field="input")
    meta = row.get("metadata") or {}
    if "tags" in row:
        meta = {**meta, "tags": row["tags"]}
    return Case(id=str(row["id"]), input=value, expected=row.get("expected"), metadata=meta,
                variables=variables or None)


def parse_dataset(data: bytes, where: str) -> list[Case]:
    """JSONL (one case per line) or CSV (header with id, input, expected)."""
    cases: list[Case] = []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8 text (byte {exc.start})", file=where,
                           line=data[: exc.start].count(b"\n") + 1) from exc
    if where.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
        try:
            for i, row in enumerate(reader, start=2):
                cases.append(_case(dict(row), where, i))
        except csv.Error as exc:
            raise InvalidInput(f"malformed CSV: {exc}", file=where, line=reader.line_num) from exc
    else:
        for i, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"malformed JSON: {exc.msg}", file=where, line=i) from exc
            if not isinstance(row, dict):
                raise InvalidInput("each line must be a JSON object", file=where, line=i)
            cases.append(_case(row, where, i))
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InvalidInput(f"duplicate case id {case.id!r}", file=where, field="id")
        seen.add(case.id)
    if not cases:
        raise InvalidInput("dataset has no cases", file=where)
    return cases


def load_suite(path: str | Path) -> LoadedSuite:
    """Parse and validate a suite file and its dataset; errors name file, line and field."""
    located = load_located(path)
    if not isinstance(located.data, dict):
        raise InvalidInput("a suite is a YAML mapping", file=str(path), line=1)
    try:
        suite = Suite.model_validate(located.data)
    except ValidationError as exc:
        raise located.error(exc) from exc
    for i, spec in enumerate(suite.scorers):
        try:
            check_scorer(spec)
        except ValueError as exc:
            raise InvalidInput(str(exc), file=str(path), line=located.line_of(["scorers", i]),
                               field=f"scorers.{i}.type") from exc
    uri = suite.dataset
    if "://" not in uri and not Path(uri).is_absolute():
        uri = str(Path(path).resolve().parent / uri)
    data = _read_bytes(uri, str(path))
    cases = parse_dataset(data, uri)
    dataset_sha = hashlib.sha256(data).hexdigest()
    canonical = json.dumps(suite.model_dump(mode="json", exclude={"dataset"}), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{canonical}\n{dataset_sha}".encode()).hexdigest()
    return LoadedSuite(suite=suite, path=str(path), cases=cases, dataset_sha256=dataset_sha, digest=digest)
