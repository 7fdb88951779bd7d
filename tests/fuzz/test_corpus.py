"""The fuzz corpus: hostile YAML, names, references and tables through the CLI.

Every case must exit 2 (bad input) with an ``error:``/usage message on stderr, never a traceback, and
leave the registry byte-for-byte unchanged. Runs in ``make test``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelctl.cli import main
from tests.registry.conftest import snapshot_bytes

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "model-registry.yaml"
CONFIG = "provider: openai\nmodel_id: gpt-4o-2024-08-06\nsystem_prompt: Classify.\ntemperature: 0\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
CSV_HEAD = "experiment_id,variant,user_id,latency_ms,cost_usd,error,quality_score,thumbs_up\n"


def csv_rows(*rows: str) -> str:
    good = [f"e,{'control' if i % 2 else 'treatment'},u{i},100,0.001,0,0.8,true" for i in range(6)]
    return CSV_HEAD + "\n".join([*good, *rows]) + "\n"


# (id, files {name: text or bytes}, argv with {dir} for the temp folder)
Case = tuple[str, dict[str, str | bytes], list[str]]

YAML_CONFIGS: dict[str, str | bytes] = {
    "alias-bomb": CONFIG + "params:\n  " + BOMB.replace("\n", "\n  "),
    "alias": CONFIG + "params: &p {x: 1}\ntags: *p\n",
    "merge-key": CONFIG + "base: &b {x: 1}\nparams:\n  <<: *b\n",
    "duplicate-key": CONFIG + "temperature: 1\n",
    "inf-param": CONFIG + "params: {x: .inf}\n",
    "nan-pricing": CONFIG + "pricing: {input_per_1m: .nan}\n",
    "deep-params": CONFIG + "params: " + "{a: " * 400 + "1" + "}" * 400 + "\n",
    "deep-list": CONFIG + "params: {x: " + "[" * 300 + "]" * 300 + "}\n",
    "bad-date": CONFIG + "lineage: {training_date: 2024-02-30}\n",
    "month-13": CONFIG + "lineage: {training_date: 2024-13-01}\n",
    "not-utf8": CONFIG.replace("Classify.", "Class\xe9.").encode("latin-1"),
    "binary": b"\x00\x01\x02\xff\xfe",
    "list-top": "- provider: openai\n",
    "scalar-top": "just text\n",
    "empty": "",
    "tab-indent": "provider: openai\n\tmodel_id: x\n",
    "unclosed": "provider: [openai\n",
    "unknown-field": CONFIG + "temprature: 1\n",
    "wrong-type": CONFIG + "max_tokens: many\n",
    "negative-tokens": CONFIG + "max_tokens: -5\n",
    "temperature-huge": CONFIG.replace("temperature: 0", "temperature: 1e308"),
    "negative-corpus": CONFIG + "corpus_size: -1\n",
    "bad-provider": CONFIG.replace("openai", "acme"),
    "bad-kind": CONFIG + "kind: spaceship\n",
    "bad-sha": CONFIG + "lineage: {training_data_sha256: xyz}\n",
    "local-sentences-text": "provider: local\nmodel_id: lead-3-v1\nparams: {sentences: abc}\n",
    "local-negative-latency": "provider: local\nmodel_id: lead-3-v1\nparams: {simulated_latency_ms: -5}\n",
    "local-bad-sha": "provider: local\nmodel_id: tfidf-logreg-v1\nparams: {artifact_sha256: nope}\n",
    "huge-int": CONFIG + "max_tokens: " + "9" * 5000 + "\n",
    "control-chars-key": CONFIG + "\x1b[2J: 1\n",
}

NAMES = ["", "UPPER", "a/b", "../escape", "x" * 200, "näme", "a b", "-dash", ".dot", "summarizr@3", "x@", "@",
         "名前", "a\nb", "a\x00b"]

REFS = ["x@", "x@0", "x@-1", "x@²", "x@1.5", "x@prod", "@1", "x@@1", "x@1@2", "x@٣", "x@1e3", "X@1",
        "classification-v2@" + "9" * 40, "classification-v2@staging"]

SEEDS: dict[str, str] = {
    "no-models": "models: []\n",
    "models-scalar": "models: 3\n",
    "bad-name": "models:\n  Bad Name:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n",
    "bad-date": "models:\n  m:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    deployed_date: 2025-02-30\n",
    "bad-training-date": "models:\n  m:\n    fine_tune_id: ft:gpt-4o-mini:o:x:1\n    training_date: tomorrow\n",
    "eval-inf": "models:\n  m:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    eval_scores: {a: .inf}\n",
    "later-entry-bad": "models:\n  ok:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n"
                       "  bad:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    kind: spaceship\n",
    "unknown-status": "models:\n  m:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    status: zombie\n",
    "alias": "models:\n  a: &x\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n  b: *x\n",
    "duplicate": "models:\n  m:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    provider: anthropic\n",
}

SUITES: dict[str, tuple[str, str | bytes]] = {
    "module-function": ("name: s\ndataset: d.jsonl\nscorers:\n  - type: 'pty:spawn'\n", '{"id": 1, "input": "x"}\n'),
    "dotted-function": ("name: s\ndataset: d.jsonl\nscorers:\n  - {type: custom, function: '..x:y'}\n",
                        '{"id": 1, "input": "x"}\n'),
    "non-utf8-dataset": ("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\n",
                         b'{"id": 1, "input": "caf\xe9"}\n'),
    "torn-dataset": ("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\n", '{"id": 1, "inp'),
    "missing-dataset": ("name: s\ndataset: nowhere.jsonl\nscorers: [{type: exact_match}]\n", ""),
    "bad-gate": ("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\ngates: {exact_match: 'big'}\n",
                 '{"id": 1, "input": "x"}\n'),
    "repeats-zero": ("name: s\ndataset: d.jsonl\nscorers: [{type: exact_match}]\nrepeats: 0\n",
                     '{"id": 1, "input": "x"}\n'),
    "alias-suite": ("name: &n s\ndescription: *n\ndataset: d.jsonl\nscorers: [{type: exact_match}]\n",
                    '{"id": 1, "input": "x"}\n'),
    "csv-no-input": ("name: s\ndataset: d.csv\nscorers: [{type: exact_match}]\n", b"id,question\n1,x\n"),
}

TABLES: dict[str, str | bytes] = {
    "text-latency": csv_rows("e,control,u9,slow,0.001,0,0.5,true"),
    "text-quality": csv_rows("e,control,u9,100,0.001,0,great,true"),
    "inf-latency": csv_rows("e,control,u9,inf,0.001,0,0.5,true"),
    "huge-cost": csv_rows("e,control,u9,100,1e308,0,0.5,true"),
    "quality-above-1": csv_rows("e,treatment,u9,100,0.001,0,1.5,true"),
    "quality-negative": csv_rows("e,treatment,u9,100,0.001,0,-0.1,true"),
    "error-2": csv_rows("e,treatment,u9,100,0.001,2,0.5,true"),
    "negative-latency": csv_rows("e,treatment,u9,-100,0.001,0,0.5,true"),
    "all-null-users": CSV_HEAD + "e,control,,100,0.001,0,0.5,true\ne,treatment,,100,0.001,0,0.5,true\n",
    "missing-column": "variant,user_id\ncontrol,u1\n",
    "unknown-variant": csv_rows("e,placebo,u9,100,0.001,0,0.5,true"),
    "non-utf8": csv_rows("e,control,u\xe9,100,0.001,0,0.5,true").encode("latin-1"),
    "thumbs-text": csv_rows("e,control,u9,100,0.001,0,0.5,maybe"),
}


def cases() -> list[Case]:
    out: list[Case] = []
    for key, text in YAML_CONFIGS.items():
        out.append((f"register-{key}", {"c.yaml": text}, ["register", "fuzzed", "--file", "{dir}/c.yaml"]))
    for i, name in enumerate(NAMES):
        out.append((f"name-{i}", {"c.yaml": CONFIG}, ["register", name, "--file", "{dir}/c.yaml"]))
        out.append((f"show-name-{i}", {}, ["show", name]))
    for i, ref in enumerate(REFS):
        out.append((f"show-ref-{i}", {}, ["show", ref]))
        out.append((f"promote-ref-{i}", {}, ["promote", ref, "--to", "production", "--reason", "x"]))
        out.append((f"annotate-ref-{i}", {}, ["annotate", ref, "--notes", "x"]))
    for key, text in SEEDS.items():
        out.append((f"import-{key}", {"seed.yaml": text}, ["import", "{dir}/seed.yaml"]))
    for key, (suite, data) in SUITES.items():
        files: dict[str, str | bytes] = {"suite.yaml": suite}
        if data:
            files["d.csv" if "d.csv" in suite else "d.jsonl"] = data
        out.append((f"suite-{key}", files, ["eval", "run", "{dir}/suite.yaml", "--candidate",
                                            "classification-v2@1"]))
    for key, text in TABLES.items():
        out.append((f"table-{key}", {"t.csv": text}, ["ab", "analyze", "e", "--logs", "{dir}/t.csv"]))
    for since in ("garbage", "yesterday", "2026-02-30", "99999-01-01"):
        out.append((f"logs-since-{since}", {}, ["logs", "show", "--since", since]))
    for option, value in (("--min-effect", "nan"), ("--max-days", "inf"), ("--max-days", "-1"),
                          ("--min-samples", "-5"), ("--guardrail", "error_rate:inf"), ("--split", "nan"),
                          ("--split", "2")):
        out.append((f"experiment{option}={value}", {}, [
            "experiment", "start", "summarization-primary", "--control", "summarization-primary@1",
            "--treatment", "summarization-primary@1", "--split", "0.1", "--force", "--reason", "x", option, value]))
    out.append(("ab-min-effect-nan", {"t.csv": csv_rows()}, ["ab", "analyze", "e", "--logs", "{dir}/t.csv",
                                                             "--min-effect", "nan"]))
    out.append(("feedback-unknown", {}, ["feedback", "nope", "--thumbs-up"]))
    out.append(("feedback-score", {}, ["feedback", "nope", "--score", "7"]))
    out.append(("rollback-bad-env", {}, ["rollback", "classification-v2", "--env", "moon", "--reason", "x"]))
    out.append(("diff-bad", {}, ["diff", "classification-v2@1", "classification-v2@²"]))
    out.append(("history-unknown", {}, ["history", "nope"]))
    out.append(("copy-nowhere", {}, ["copy", "--from", "{dir}/nothing-here", "--to", "{dir}/other"]))
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from registry.seed import import_seed
    from registry.service import open_registry

    path = tmp_path_factory.mktemp("seeded") / "reg"
    import_seed(open_registry(str(path)), SEED)
    return path


@pytest.mark.parametrize(("case_id", "files", "argv"), cases(), ids=[c[0] for c in cases()])
def test_hostile_input_is_exit_2_without_traceback_or_change(
        case_id: str, files: dict[str, str | bytes], argv: list[str], seeded: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    registry = tmp_path / "reg"
    shutil.copytree(seeded, registry)
    monkeypatch.setenv("MODELCTL_LOG", str(tmp_path / "logs"))
    monkeypatch.setenv("MODELCTL_CACHE", str(tmp_path / "cache"))
    for name, content in files.items():
        write: Callable[[Path], object] = (lambda p, c=content: p.write_bytes(c)) if isinstance(content, bytes) \
            else (lambda p, c=content: p.write_text(c))
        write(tmp_path / name)
    args = [a.replace("{dir}", str(tmp_path)) for a in argv]
    before = snapshot_bytes(str(registry))
    with pytest.raises(SystemExit) as exc:
        main(["--registry", str(registry), *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert exc.value.code == 2, (case_id, exc.value.code, err)
    assert err.strip() and ("error:" in err or "Error:" in err)
    assert snapshot_bytes(str(registry)) == before
