"""Scorers on edge cases."""

from __future__ import annotations

import pytest

from tasks.evaluation.scorers import class_metrics, score_case
from tasks.evaluation.suite import Case, ScorerSpec


def s(type_: str, **params) -> ScorerSpec:
    return ScorerSpec(type=type_, **params)


def score(spec: ScorerSpec, output: str, expected=None, **kw) -> float | None:
    return score_case([spec], output, Case("c1", "q", expected), kw.get("ctx")).get(spec.metric)


def test_exact_match_normalisation() -> None:
    assert score(s("exact_match"), "Billing", "billing") == 0.0
    assert score(s("exact_match", normalize=["strip", "lower"]), "  Billing\n", "billing") == 1.0
    assert score(s("exact_match", normalize=["lower", "punctuation", "whitespace"]), "Bill-ing!!  now", "billing now") == 1.0
    assert score(s("exact_match"), "anything", None) is None  # no expected: not scored


def test_contains_any_all_and_regex() -> None:
    assert score(s("contains", values=["refund", "credit"]), "We issued a CREDIT") == 1.0
    assert score(s("contains", values=["refund", "credit"], mode="all"), "We issued a credit") == 0.0
    assert score(s("contains", values=["Refund"], case_sensitive=True), "refund") == 0.0
    assert score(s("regex", pattern=r"^#\d{5}$"), "#48213") == 1.0
    assert score(s("regex", pattern=r"order", ignore_case=True), "ORDER shipped") == 1.0


def test_json_and_schema() -> None:
    schema = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["billing", "shipping"]}}}
    assert score(s("json_valid"), '{"a": 1}') == 1.0 and score(s("json_valid"), "{'a': 1}") == 0.0
    assert score(s("json_schema", schema=schema), '{"label": "billing"}') == 1.0
    assert score(s("json_schema", schema=schema), '{"label": "other"}') == 0.0
    assert score(s("json_schema", schema=schema), "not json") == 0.0


def test_numeric_tolerance() -> None:
    assert score(s("numeric", tolerance=0.01), "The total is 1,234.50 USD", 1234.5) == 1.0
    assert score(s("numeric", tolerance=0.01), "about 1234.6", 1234.5) == 0.0
    assert score(s("numeric", rel_tolerance=0.05), "-98", -100) == 1.0
    assert score(s("numeric"), "no number here", 3) == 0.0


def test_overlap_scores() -> None:
    assert score(s("rouge_l"), "the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert score(s("rouge_l"), "", "x") == 0.0
    assert score(s("rouge_l"), "cat the", "the cat sat") == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert score(s("token_f1"), "the cat", "the cat sat") == pytest.approx(0.8)
    assert score(s("token_f1"), "dog", "cat") == 0.0


def test_custom_scorer_by_module_function() -> None:
    spec = ScorerSpec(type="custom", function="tests.tasks.evaluation.custom_scorer:length_ok", name="short", max_words=3)
    assert score(spec, "one two", None) == 1.0 and score(spec, "one two three four", None) == 0.0


def test_class_metrics_match_sklearn() -> None:
    from sklearn.metrics import f1_score, precision_score, recall_score

    pairs = [("a", "a"), ("b", "a"), ("b", "b"), ("c", "b"), ("c", "c"), ("a", "c"), ("a", "a")]
    pred, gold = [p for p, _ in pairs], [g for _, g in pairs]
    got = class_metrics(pairs)
    assert got["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"), abs=1e-12)
    for label in "abc":
        assert got[f"precision_{label}"] == pytest.approx(precision_score(gold, pred, labels=[label], average="macro"))
        assert got[f"recall_{label}"] == pytest.approx(recall_score(gold, pred, labels=[label], average="macro"))
