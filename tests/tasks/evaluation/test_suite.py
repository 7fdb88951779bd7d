"""Suite files: the minimal example works as written; bad files name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.errors import InvalidInput
from tasks.evaluation.suite import load_suite

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "suites"


def test_minimal_example_suite_loads() -> None:
    loaded = load_suite(EXAMPLES / "ticket-triage" / "suite.yaml")
    assert loaded.suite.name == "ticket-triage" and len(loaded.cases) == 240
    assert [g.metric for g in loaded.suite.parsed_gates()] == ["exact_match", "error_rate"]
    assert len(loaded.digest) == 64 and loaded.cases[0].expected in {"billing", "technical", "account", "shipping", "feedback"}


def test_digest_covers_suite_and_dataset(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"id": "a", "input": "x", "expected": "y"}\n')
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\n")
    first = load_suite(suite).digest
    (tmp_path / "d.jsonl").write_text('{"id": "a", "input": "x", "expected": "z"}\n')
    second = load_suite(suite).digest
    suite.write_text("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\nrepeats: 2\n")
    assert len({first, second, load_suite(suite).digest}) == 3


BAD = [
    ("name: s\ndataset: d.jsonl\nscorers: [{type: exact_mtch}]\n", "s.yaml:3", "scorers.0.type"),
    ("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\ngates:\n  exact_match: 'about 0.8'\n", "s.yaml:5", "gates"),
    ("name: s\ndataset: missing.jsonl\nscorers: [{type: exact_match}]\n", "s.yaml", "dataset"),
    ("dataset: d.jsonl\nscorers: [{type: exact_match}]\n", "s.yaml:1", "name"),
    ("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\nrepeat: 3\n", "s.yaml:4", "repeat"),
    ("name: s\ndataset: d.jsonl\nscorers: [{type: json_schema}]\n", "s.yaml:3", "scorers.0.type"),
    ("name: s\ndataset: bad.jsonl\nscorers: [{type: exact_match}]\n", "bad.jsonl:2", None),
    ("name: s\ndataset: noid.jsonl\nscorers: [{type: exact_match}]\n", "noid.jsonl:1", "id"),
]


@pytest.mark.parametrize(("text", "where", "field"), BAD)
def test_bad_suite_files(tmp_path: Path, text: str, where: str, field: str | None) -> None:
    (tmp_path / "d.jsonl").write_text('{"id": "a", "input": "x"}\n')
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "input": "x"}\n{"id": "b", "input": \n')
    (tmp_path / "noid.jsonl").write_text('{"input": "x"}\n')
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(InvalidInput) as exc:
        load_suite(tmp_path / "s.yaml")
    assert where in str(exc.value)
    if field:
        assert field in str(exc.value)
