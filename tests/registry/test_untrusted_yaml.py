"""User YAML is data: aliases, duplicate keys, deep nesting and non-finite numbers are refused (exit 2,
naming file and line) before anything is stored; numbers from options are finite and not negative."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from registry.errors import InvalidInput
from registry.yamlio import load_text
from tests.registry.conftest import snapshot_bytes
from tests.registry.test_cli import GOOD, run, write

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n" \
       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"

HOSTILE = [
    ("bomb.yaml", GOOD + "params:\n  " + BOMB.replace("\n", "\n  "), "bomb.yaml:10", "aliases"),
    ("alias.yaml", GOOD + "params: &p {x: 1}\ntags: *p\n", "alias.yaml:9", "aliases"),
    ("dup.yaml", GOOD + "temperature: 1\n", "dup.yaml:8", "lines 4 and 8"),
    ("inf.yaml", GOOD + "params: {penalty: .inf}\n", "inf.yaml:8", "non-finite"),
    ("nan.yaml", GOOD + "params:\n  x: [1, .nan]\n", "nan.yaml:9", "non-finite"),
    ("pricing.yaml", GOOD.replace("input_per_1m: 2.5", "input_per_1m: .inf"), "pricing.yaml:6", "non-finite"),
    ("deep.yaml", GOOD + "params: " + "{a: " * 400 + "1" + "}" * 400 + "\n", "deep.yaml:8", "nested deeper"),
    ("latin1.yaml", None, "latin1.yaml", "UTF-8"),
    ("negative.yaml", GOOD + "corpus_size: -5\n", "negative.yaml:8", "corpus_size"),
]


@pytest.mark.parametrize(("filename", "text", "where", "says"), HOSTILE)
def test_hostile_config_is_refused_and_changes_nothing(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       filename: str, text: str | None, where: str, says: str) -> None:
    path = tmp_path / filename
    if text is None:
        path.write_bytes(GOOD.replace("Classify.", "Classé.").encode("latin-1"))
    else:
        path.write_text(text)
    before = snapshot_bytes(uri)
    code, out, err = run(capsys, "--registry", uri, "register", "triage", "--file", str(path))
    assert code == 2, err
    assert where in err and says in err and "Traceback" not in err
    assert snapshot_bytes(uri) == before


def test_alias_bomb_is_refused_before_expansion() -> None:
    with pytest.raises(InvalidInput, match="aliases"):
        load_text(BOMB * 1, "bomb.yaml")


def test_duplicate_keys_name_both_lines() -> None:
    with pytest.raises(InvalidInput) as exc:
        load_text("a: 1\nb:\n  c: 1\n  c: 2\n", "f.yaml")
    assert exc.value.line == 4 and "lines 3 and 4" in str(exc.value) and exc.value.field == "c"


def test_inf_params_from_the_api_are_refused(reg: object) -> None:
    from registry.service import Registry
    from tests.registry.conftest import config

    assert isinstance(reg, Registry)
    for bad in (math.inf, math.nan, -math.inf):
        with pytest.raises(InvalidInput):
            reg.register("m", config(params={"x": bad}))
        with pytest.raises(InvalidInput):
            reg.register("m", config(pricing={"input_per_1m": bad}))
    assert reg.store.names() == []


def test_hostile_modelctl_config_names_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, "modelctl.yaml", "rate_limits: &r {}\nstrict_model_ids: *r\n")
    monkeypatch.setenv("MODELCTL_CONFIG", cfg)
    code, _, err = run(capsys, "--registry", str(tmp_path / "r"), "init")
    assert code == 2 and "modelctl.yaml:2" in err and "aliases" in err


@pytest.mark.parametrize("args", [
    ["--min-effect", "nan"], ["--min-effect", "inf"], ["--max-days", "inf"], ["--max-days", "-3"],
    ["--min-samples", "-1"], ["--guardrail", "error_rate:nan"], ["--guardrail", "latency_ms:-inf"],
    ["--split", "nan"],
])
def test_experiment_numbers_must_be_finite(uri: str, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    before = snapshot_bytes(uri)
    base = ["--registry", uri, "experiment", "start", "summarization-primary", "--control",
            "summarization-primary@1", "--treatment", "summarization-primary@1", "--reason", "x", "--force"]
    if "--split" not in args:
        base += ["--split", "0.1"]
    code, _, err = run(capsys, *base, *args)
    assert code == 2, err
    assert ("finite" in err or "must be" in err) and "Traceback" not in err
    assert snapshot_bytes(uri) == before
