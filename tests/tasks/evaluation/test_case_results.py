"""Per-case side by side: ordering, regressions, Parquet round trip (pure, no Prefect)."""

from __future__ import annotations

from pathlib import Path

from registry.entities import ModelConfig
from tasks.evaluation.case_results import (
    case_rows,
    read_case_results,
    render_side_by_side_markdown,
    side_by_side,
    write_case_results,
)
from tasks.evaluation.runner import CaseResult, Target
from tasks.evaluation.suite import Case

CASES = [Case("a", "refund please", "billing"), Case("b", "app crashes", "bug"), Case("c", "hello", "other"),
         Case("d", "", "billing", variables={"customer": "Ada"})]
CONFIG = ModelConfig(provider="local", model_id="lead-3-v1")
CAND, BASE = Target("triage", 2, "2" * 64, CONFIG), Target("triage", 1, "1" * 64, CONFIG)


def result(case_id: str, output: str | None, score: float | None, repeat: int = 0) -> CaseResult:
    return CaseResult(case_id, repeat, output, None if output is not None else "boom",
                      None if output is not None else "PermanentProviderError", 1.0, 1, 1, 0.0, False,
                      {} if score is None else {"exact_match": score})


def frames() -> tuple:
    cand = [result("a", "billing", 1.0), result("b", "billing", 0.0), result("c", "other", 1.0),
            result("d", None, None)]
    base = [result("a", "billing", 1.0), result("b", "bug", 1.0), result("c", "greeting", 0.0),
            result("d", "billing", 1.0)]
    return (case_rows("run-1", "s" * 64, CAND, "candidate", cand, CASES),
            case_rows("run-1", "s" * 64, BASE, "baseline", base, CASES))


def test_the_cases_that_differ_most_come_first() -> None:
    cand, base = frames()
    rows = side_by_side(cand, base)
    assert [r.case_id for r in rows] == ["b", "c", "d", "a"]
    assert (rows[0].diff, rows[0].regression, rows[1].regression) == (-1.0, True, False)
    assert rows[2].regression and rows[2].candidate_output is None and rows[2].input == '{"customer": "Ada"}'
    assert [r.case_id for r in side_by_side(cand, base, only_regressions=True)] == ["b", "d"]
    markdown = render_side_by_side_markdown(rows, "triage@2", "triage@1")
    assert "| b ⚠️ | app crashes | \"bug\" | billing | 0 | bug | 1 | -1 |" in markdown


def test_repeats_average_scores_and_without_baseline_the_worst_cases_lead() -> None:
    cand = case_rows("r", "s" * 64, CAND, "candidate",
                     [result("a", "billing", 1.0), result("a", "bill", 0.0, repeat=1), result("b", "bug", 1.0)], CASES)
    rows = side_by_side(cand, None)
    assert [(r.case_id, r.candidate_score, r.baseline_output) for r in rows] == [("a", 0.5, None), ("b", 1.0, None)]


def test_parquet_round_trip_keyed_by_run_suite_and_version(tmp_path: Path) -> None:
    cand, base = frames()
    paths = [write_case_results(str(tmp_path), f) for f in (cand, base)]
    assert paths[0].endswith(f"cases/run=run-1/suite={'s' * 64}/{'2' * 64}.parquet")
    back = read_case_results(str(tmp_path), "run-1")
    assert len(back) == 8 and set(back["role"]) == {"candidate", "baseline"}
    assert [r.case_id for r in side_by_side(back[back.role == "candidate"], back[back.role == "baseline"])] == \
        ["b", "c", "d", "a"]
    assert read_case_results(str(tmp_path), "other").empty


def test_parquet_round_trip_on_s3(s3_bucket: str) -> None:
    cand, base = frames()
    uri = f"s3://{s3_bucket}/eval-cache/"
    for frame in (cand, base):
        write_case_results(uri, frame)
    back = read_case_results(uri, "run-1")
    assert len(back) == 8 and set(back["digest"]) == {"1" * 64, "2" * 64}
