"""Per-case results: kept as Parquet beside the cache, and the side-by-side view of two versions.

Layout under the cache URI (a directory or ``s3://bucket/prefix/``)::

    cases/run=<run id>/suite=<suite digest>/<version digest>.parquet

One file per (run, suite, version): every (case, repeat) with its input, expected answer, output, error
and scores, so a reviewer can read what the candidate answered next to the baseline on the same case.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.evaluation.cases import Case
from tasks.evaluation.runner import CaseResult, Target

COLUMNS = ["run_id", "suite_digest", "digest", "ref", "role", "case_id", "repeat", "input", "expected", "output",
           "error", "scores", "latency_ms", "cost_usd", "cached"]


def case_rows(run_id: str, suite_digest: str, target: Target, role: str, results: list[CaseResult],
              cases: list[Case]) -> pd.DataFrame:
    """One row per (case, repeat) of one version in one run."""
    by_id = {c.id: c for c in cases}
    rows = [{"run_id": run_id, "suite_digest": suite_digest, "digest": target.digest, "ref": target.ref, "role": role,
             "case_id": r.case_id, "repeat": r.repeat,
             "input": by_id[r.case_id].display_input() if r.case_id in by_id else "",
             "expected": None if by_id.get(r.case_id) is None or by_id[r.case_id].expected is None
             else json.dumps(by_id[r.case_id].expected, ensure_ascii=False),
             "output": r.output, "error": r.error, "scores": json.dumps(r.scores, sort_keys=True),
             "latency_ms": r.latency_ms, "cost_usd": r.cost_usd, "cached": r.cached} for r in results]
    return pd.DataFrame(rows, columns=COLUMNS)


def compare_cases(run_id: str, suite_digest: str, cases: list[Case], candidate: Target, baseline: Target | None,
                  results: dict[str, list[CaseResult]], limit: int = 10,
                  ) -> tuple[list[pd.DataFrame], list[CaseComparison]]:
    """Per-version rows of a run (to keep) and the cases that differ most (for the report)."""
    frames = [case_rows(run_id, suite_digest, candidate, "candidate", results[candidate.ref], cases)]
    if baseline is not None:
        frames.append(case_rows(run_id, suite_digest, baseline, "baseline", results[baseline.ref], cases))
    return frames, side_by_side(frames[0], frames[1] if baseline is not None else None, limit=limit)


def _location(cache_uri: str, run_id: str) -> str:
    return f"{cache_uri.rstrip('/')}/cases/run={run_id}"


def write_case_results(cache_uri: str, frame: pd.DataFrame) -> str:
    """Write one version's rows of one run; returns where."""
    first = frame.iloc[0]
    where = f"{_location(cache_uri, first['run_id'])}/suite={first['suite_digest']}/{first['digest']}.parquet"
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    if where.startswith("s3://"):
        import boto3

        bucket, _, key = where[5:].partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    else:
        Path(where).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(where).with_suffix(".tmp")
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(where)
    return where


def read_case_results(cache_uri: str, run_id: str) -> pd.DataFrame:
    """Every version's rows of one run (empty when the run kept none)."""
    base = _location(cache_uri, run_id)
    blobs: list[bytes] = []
    if base.startswith("s3://"):
        import boto3

        bucket, _, prefix = base[5:].partition("/")
        client = boto3.client("s3")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            for item in page.get("Contents", []):
                if item["Key"].endswith(".parquet"):
                    blobs.append(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    else:
        blobs = [p.read_bytes() for p in sorted(Path(base).glob("suite=*/*.parquet"))]
    if not blobs:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat([pd.read_parquet(io.BytesIO(b)) for b in blobs], ignore_index=True)


@dataclass(frozen=True)
class CaseComparison:
    """One case, candidate next to baseline (repeats: the first output, scores averaged)."""

    case_id: str
    input: str
    expected: str | None
    candidate_output: str | None
    baseline_output: str | None
    candidate_score: float | None
    baseline_score: float | None
    candidate_scores: dict[str, float]
    baseline_scores: dict[str, float]

    @property
    def diff(self) -> float | None:
        if self.candidate_score is None or self.baseline_score is None:
            return None
        return self.candidate_score - self.baseline_score

    @property
    def regression(self) -> bool:
        """Worse than the baseline on this case (a lower score, or an error where the baseline answered)."""
        if self.candidate_output is None and self.baseline_output is not None:
            return True
        return self.diff is not None and self.diff < 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "diff": self.diff, "regression": self.regression}


def _value(cell: Any) -> Any:
    """None for a missing cell (pandas reads None back as NaN)."""
    return None if cell is None or (isinstance(cell, float) and cell != cell) else cell


def _per_case(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for row in frame.sort_values(["case_id", "repeat"]).itertuples(index=False):
        entry = out.setdefault(row.case_id, {"input": row.input, "expected": _value(row.expected), "output": None,
                                             "scores": {}})
        if entry["output"] is None and _value(row.error) is None:
            entry["output"] = _value(row.output)
        for metric, value in json.loads(row.scores or "{}").items():
            entry["scores"].setdefault(metric, []).append(float(value))
    for entry in out.values():
        entry["scores"] = {m: sum(v) / len(v) for m, v in entry["scores"].items()}
    return out


def _score(scores: dict[str, float]) -> float | None:
    return sum(scores.values()) / len(scores) if scores else None


def side_by_side(candidate: pd.DataFrame, baseline: pd.DataFrame | None, *, limit: int | None = 10,
                 only_regressions: bool = False) -> list[CaseComparison]:
    """The cases where candidate and baseline differ most: by score (mean over the per-case metrics),
    then by output; with no baseline, the candidate's lowest-scoring cases."""
    cand = _per_case(candidate)
    base = _per_case(baseline) if baseline is not None and len(baseline) else {}
    rows = []
    for case_id, c in cand.items():
        b = base.get(case_id, {"output": None, "scores": {}})
        rows.append(CaseComparison(case_id, c["input"], c["expected"], c["output"], b["output"], _score(c["scores"]),
                                   _score(b["scores"]), c["scores"], b["scores"]))
    if only_regressions:
        rows = [r for r in rows if r.regression]

    def order(r: CaseComparison) -> tuple[float, int, str]:
        if base:
            gap = abs(r.diff) if r.diff is not None else (1.0 if r.regression else 0.0)
        else:
            gap = 1.0 - (r.candidate_score if r.candidate_score is not None else 0.0)
        return (-gap, -int((r.candidate_output or "") != (r.baseline_output or "")), r.case_id)

    rows.sort(key=order)
    return rows if limit is None else rows[:limit]


def _cell(text: Any, width: int = 160) -> str:
    value = "—" if text is None else str(text)
    value = value.replace("|", "\\|").replace("\n", " ")
    return value if len(value) <= width else value[: width - 1] + "…"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def render_side_by_side_markdown(rows: list[CaseComparison], candidate_ref: str, baseline_ref: str | None) -> str:
    """The side-by-side table of the report."""
    if not rows:
        return ""
    base = baseline_ref or "baseline"
    lines = ["## Cases side by side", "",
             f"The {len(rows)} cases where `{candidate_ref}` and `{base}` differ most (by score, then by output).", "",
             f"| case | input | expected | {candidate_ref} | score | {base} | score | diff |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        flag = " ⚠️" if r.regression else ""
        lines.append(f"| {_cell(r.case_id, 40)}{flag} | {_cell(r.input)} | {_cell(r.expected, 60)} | "
                     f"{_cell(r.candidate_output)} | {_num(r.candidate_score)} | {_cell(r.baseline_output)} | "
                     f"{_num(r.baseline_score)} | {_num(r.diff)} |")
    return "\n".join(lines) + "\n"
