"""Scorers on edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.evaluation.scorers import check_scorer, score_case
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


def _allow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mapping: str) -> None:
    config = tmp_path / "modelctl.yaml"
    config.write_text(f"custom_scorers:\n{mapping}")
    monkeypatch.setenv("MODELCTL_CONFIG", str(config))


def test_custom_scorer_by_allowed_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _allow(tmp_path, monkeypatch, "  short_answer: tests.tasks.evaluation.custom_scorer:length_ok\n")
    spec = ScorerSpec(type="custom", function="short_answer", name="short", max_words=3)
    check_scorer(spec)
    assert score(spec, "one two", None) == 1.0 and score(spec, "one two three four", None) == 0.0
    by_type = ScorerSpec(type="short_answer", max_words=1)
    check_scorer(by_type)
    assert score(by_type, "one", None) == 1.0 and score(by_type, "one two", None) == 0.0


@pytest.mark.parametrize("spec", [ScorerSpec(type="pty:spawn"), ScorerSpec(type="os:system"),
                                  ScorerSpec(type="custom", function="tests.tasks.evaluation.custom_scorer:length_ok"),
                                  ScorerSpec(type="custom", function="..x:y"), ScorerSpec(type="custom")])
def test_suite_cannot_name_module_function(spec: ScorerSpec, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _allow(tmp_path, monkeypatch, "  short_answer: tests.tasks.evaluation.custom_scorer:length_ok\n")
    with pytest.raises(ValueError, match="custom scorer|module:function"):
        check_scorer(spec)


def test_suite_file_with_pty_spawn_is_refused_before_running(tmp_path: Path) -> None:
    from registry.errors import InvalidInput
    from tasks.evaluation.suite import load_suite

    (tmp_path / "d.jsonl").write_text('{"id": "1", "input": "x", "expected": "y"}\n')
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\ndataset: d.jsonl\nscorers:\n  - type: exact_match\n  - type: \"pty:spawn\"\n")
    with pytest.raises(InvalidInput) as exc:
        load_suite(suite)
    assert exc.value.line == 5 and exc.value.field == "scorers.1.type" and "module:function" in str(exc.value)


def test_invalid_custom_scorer_config_names_the_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from registry.errors import InvalidInput

    _allow(tmp_path, monkeypatch, "  bad: '..x:y'\n")
    with pytest.raises(InvalidInput) as exc:
        check_scorer(ScorerSpec(type="custom", function="bad"))
    assert exc.value.field == "custom_scorers.bad" and exc.value.line == 2


def test_evaluation_modules_have_no_import_cycle() -> None:
    import ast

    import tasks.evaluation as package

    root = Path(package.__file__).parent

    def imports(module: str) -> set[str]:
        tree = ast.parse((root / f"{module}.py").read_text())
        found = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        return {m.rsplit(".", 1)[-1] for m in found if m.startswith("tasks.evaluation.")}

    assert "suite" not in imports("scorers") and "suite" not in imports("cases")
    assert "scorers" in imports("suite")
