"""The HTML evaluation report: self-contained, every value escaped (case texts are untrusted)."""

from __future__ import annotations

from html.parser import HTMLParser

from registry.entities import ModelConfig
from tasks.evaluation.case_results import case_rows, side_by_side
from tasks.evaluation.report_html import render_eval_html, render_report
from tasks.evaluation.runner import CaseResult, Target
from tasks.evaluation.suite import Case

CONFIG = ModelConfig(provider="local", model_id="lead-3-v1")
CAND, BASE = Target("triage", 2, "2" * 64, CONFIG), Target("triage", 1, "1" * 64, CONFIG)
EVIL = "<script>alert('pwned')</script>"


class Tags(HTMLParser):
    """The start tags of a page, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def outcome(case_id: str, output: str, score: float) -> CaseResult:
    return CaseResult(case_id, 0, output, None, None, 1.0, 1, 1, 0.0, False, {"exact_match": score})


def result() -> dict:
    cases = [Case("a", "refund please", "billing"), Case("b", '<img src=x onerror="alert(1)">', "bug & crash")]
    cand = case_rows("run-1", "s" * 64, CAND, "candidate", [outcome("a", "billing", 1.0), outcome("b", EVIL, 0.0)],
                     cases)
    base = case_rows("run-1", "s" * 64, BASE, "baseline", [outcome("a", "billing", 1.0), outcome("b", "bug", 1.0)],
                     cases)
    compared = side_by_side(cand, base)
    metrics = [{"metric": "exact_match", "candidate": 0.5, "baseline": 1.0, "diff": -0.5, "ci": [-1.2, 0.2],
                "p_value": 0.5, "test": "paired t", "gate": ">= 0.9", "gate_passed": False, "margin": None,
                "non_inferiority": None, "n_pairs": 2}]
    return {"decision": "reject", "summary": "exact_match fell <b>below</b> its gate", "cases_needed": None,
            "reasons": ["gate exact_match >= 0.9 failed: 0.5 </li><script>x()</script>"],
            "candidate": "triage@2", "baseline": "triage@1", "suite": "support<suite>", "suite_digest": "s" * 64,
            "scores": {"exact_match": 0.5}, "gates": {}, "metrics": metrics, "run_id": "run-1",
            "cases": [c.to_dict() for c in compared]}


def test_every_untrusted_value_is_escaped_and_the_page_loads_nothing() -> None:
    page = render_eval_html(result())
    parsed = Tags()
    parsed.feed(page)
    tags = [t for t, _ in parsed.tags]
    assert "script" not in tags and "img" not in tags and "b" not in tags
    assert not any(k == "src" or k == "href" or k.startswith("on") for _, attrs in parsed.tags for k in attrs)
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in page
    text = "".join(parsed.text)
    assert EVIL in text and '<img src=x onerror="alert(1)">' in text and "bug & crash" in text
    assert "support<suite>" in text and "fell <b>below</b> its gate" in text


def test_summary_metrics_and_the_cases_that_differ_most() -> None:
    parsed = Tags()
    parsed.feed(render_eval_html(result()))
    text = " ".join(" ".join(parsed.text).split())
    assert "Decision: REJECT" in text and "Evaluation: triage@2 vs triage@1" in text
    assert "exact_match 0.5 1 -0.5 [-1.2, 0.2] 0.5 paired t >= 0.9 FAILED" in text
    assert text.index("b regression") < text.index("refund please")  # the case that differs most comes first
    assert ("tr", {"class": "regression"}) in parsed.tags


def test_the_suffix_chooses_html_or_markdown() -> None:
    assert render_report(result(), "# markdown", ".HTML").startswith("<!DOCTYPE html>")
    assert render_report(result(), "# markdown", ".md") == "# markdown"
    assert render_report(result(), "# markdown", "") == "# markdown"


def test_without_a_baseline_or_cases() -> None:
    bare = {**result(), "baseline": None, "cases": []}
    page = render_eval_html(bare)
    assert "vs no baseline" in page and "Cases side by side" not in page
