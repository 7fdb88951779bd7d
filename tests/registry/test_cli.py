"""The CLI contract: names, JSON fields, exit codes, and bad input that changes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelctl.cli import main
from tests.registry.conftest import snapshot_bytes

SEED = Path(__file__).resolve().parents[2] / "examples" / "model-registry.yaml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def uri(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    path = str(tmp_path / "reg")
    assert run(capsys, "--registry", path, "import", str(SEED))[0] == 0
    return path


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


GOOD = "provider: openai\nmodel_id: gpt-4o-2024-08-06\nsystem_prompt: Classify.\ntemperature: 0\nmax_tokens: 5\n" \
       "pricing: {input_per_1m: 2.5, output_per_1m: 10}\ndescription: first\n"


def test_seed_import_then_validate_passes(uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--registry", uri, "list", "--json")
    rows = {r["name"]: r["environments"] for r in json.loads(out)}
    assert rows == {"summarization-primary": {"production": 1}, "summarization-candidate": {"staging": 1},
                    "classification-v2": {"production": 1}, "embedding-production": {"production": 1}}
    assert run(capsys, "--registry", uri, "validate")[0] == 0
    code, out, _ = run(capsys, "--registry", uri, "show", "classification-v2@production", "--json")
    shown = json.loads(out)
    assert shown["config"] == {"provider": "openai", "model_id": "ft:gpt-4o-mini:org:classification-v2:abc123"}
    assert shown["stage"] == "production" and shown["lineage"]["base_model"] == "gpt-4o-mini"


def test_export_round_trips(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    out_file = tmp_path / "exported.yaml"
    assert run(capsys, "--registry", uri, "export", str(out_file))[0] == 0
    exported, seed = yaml.safe_load(out_file.read_text()), yaml.safe_load(SEED.read_text())
    for name, entry in seed["models"].items():
        for key, value in entry.items():
            got = exported["models"][name].get(key)
            assert str(got) == str(value), (name, key, got, value)
    again = str(tmp_path / "again")
    assert run(capsys, "--registry", again, "import", str(out_file))[0] == 0
    assert run(capsys, "--registry", again, "export")[1] == out_file.read_text()


def test_register_promote_resolve_json(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, "c.yaml", GOOD)
    code, out, _ = run(capsys, "--registry", uri, "register", "triage", "--file", cfg)
    name_version, digest = out.split()
    assert code == 0 and name_version == "triage@1" and len(digest) == 64
    assert run(capsys, "--registry", uri, "promote", "triage@1", "--to", "production", "--reason", "x")[0] == 1
    assert run(capsys, "--registry", uri, "eval", "record", "triage@1", "--suite", "t", "--passed",
               "--scores", "accuracy=0.97", "f1=0.95")[0] == 0
    assert run(capsys, "promote", "triage@1", "--to", "production", "--reason", "ok", "--registry", uri)[0] == 0
    code, out, _ = run(capsys, "--registry", uri, "resolve", "triage", "--json")
    res = json.loads(out)
    assert {k: res[k] for k in ("name", "version", "digest", "environment", "arm")} == \
        {"name": "triage", "version": 1, "digest": digest, "environment": "production", "arm": None}
    assert res["config"]["model_id"] == "gpt-4o-2024-08-06"
    code, out, _ = run(capsys, "--registry", uri, "show", "triage@1", "--json")
    shown = json.loads(out)
    assert shown["evaluation"]["scores"] == {"accuracy": 0.97, "f1": 0.95}
    code, out, _ = run(capsys, "--registry", uri, "history", "triage", "--json")
    events = json.loads(out)
    assert [e["action"] for e in events] == ["register", "evaluate", "promote"]
    assert set(events[0]) >= {"time", "actor", "action", "model", "version", "reason"}
    assert events[0]["time"].endswith("Z")


def test_diff_lists_changes(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--registry", uri, "register", "triage", "--file", write(tmp_path, "a.yaml", GOOD))
    run(capsys, "--registry", uri, "register", "triage", "--file",
        write(tmp_path, "b.yaml", GOOD.replace("temperature: 0", "temperature: 0.5").replace("first", "warmer")))
    code, out, _ = run(capsys, "--registry", uri, "diff", "triage@1", "triage@2", "--json")
    changes = json.loads(out)["changes"]
    assert changes["config.temperature"] == [0.0, 0.5] and changes["description"] == ["first", "warmer"]
    code, out, _ = run(capsys, "--registry", uri, "diff", "triage@1", "triage@2")
    assert "-  temperature: 0.0" in out and "+  temperature: 0.5" in out


BAD = [
    ("malformed.yaml", "provider: openai\nmodel_id: [gpt\n", "malformed.yaml:", None),
    ("unknown.yaml", GOOD + "temprature: 0.3\n", "unknown.yaml:8", "temprature"),
    ("wrongtype.yaml", GOOD.replace("max_tokens: 5", "max_tokens: many"), "wrongtype.yaml:5", "max_tokens"),
    ("missing.yaml", "model_id: gpt-4o-2024-08-06\n", "missing.yaml:1", "provider"),
    ("badprovider.yaml", GOOD.replace("provider: openai", "provider: acme"), "badprovider.yaml:1", "provider"),
    ("nested.yaml", GOOD.replace("output_per_1m: 10", "output_per_1m: -1"), "nested.yaml:6", "pricing.output_per_1m"),
]


@pytest.mark.parametrize(("filename", "text", "where", "field"), BAD)
def test_bad_config_exit_2_names_file_line_field_and_changes_nothing(
        uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], filename: str, text: str, where: str,
        field: str | None) -> None:
    before = snapshot_bytes(uri)
    code, out, err = run(capsys, "--registry", uri, "register", "triage", "--file", write(tmp_path, filename, text))
    assert code == 2 and where in err and "Traceback" not in err
    if field:
        assert f"'{field}'" in err
    assert snapshot_bytes(uri) == before


@pytest.mark.parametrize("args", [
    ["show", "nope"], ["show", "summarization-primary@9"], ["promote", "nope@1", "--to", "staging", "--reason", "x"],
    ["promote", "summarization-primary@1", "--to", "moon", "--reason", "x"], ["show", "summarization-primary@v1"],
    ["register", "x", "--file", "/does/not/exist.yaml"], ["eval", "record", "summarization-primary@1", "--suite", "s",
                                                          "--passed", "--scores", "accuracy=high"],
    ["rollback", "nope", "--env", "production", "--reason", "x"], ["import", "/does/not/exist.yaml"],
])
def test_unknown_names_are_exit_2_without_change(uri: str, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    before = snapshot_bytes(uri)
    code, _, err = run(capsys, "--registry", uri, *args)
    assert code == 2, err
    assert err.startswith("error:") or "Usage" in err or "Error" in err
    assert snapshot_bytes(uri) == before


def test_bad_seed_file_changes_nothing(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SEED.read_text().replace("status: evaluating", "status: evaluatin")
    before = snapshot_bytes(uri)
    code, _, err = run(capsys, "--registry", uri, "import", write(tmp_path, "seed.yaml", text))
    assert code == 2 and "models.summarization-candidate.status" in err and "seed.yaml:" in err
    assert snapshot_bytes(uri) == before


def test_seed_file_as_registry_names_import(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--registry", str(SEED), "list")
    assert code == 2 and "modelctl import" in err


def test_validate_lists_every_violation(uri: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from registry.service import open_registry

    store = open_registry(uri).store
    record = store.read("summarization-primary")
    assert record is not None
    cfg = record.versions[0].config.model_copy(update={"model_id": "claude-sonnet-4-5"})
    bad = record.versions[0].model_copy(update={"config": cfg, "digest": cfg.digest()})
    store.update("summarization-primary", lambda r: r.model_copy(update={"versions": [bad]}))  # type: ignore[union-attr]
    code, out, _ = run(capsys, "--registry", uri, "validate", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert any("summarization-primary@1" in v and "pinning" in v for v in report["violations"])


def test_console_script_runs_in_a_subprocess(uri: str) -> None:
    exe = Path(sys.executable).with_name("modelctl")
    proc = subprocess.run([str(exe), "--registry", uri, "show", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "unknown model" in proc.stderr


def test_copy_between_file_and_s3_keeps_every_byte(uri: str, s3_bucket: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from registry.service import open_registry

    open_registry(uri).write_aux("deprecation-scan.json", b'{"notices": {}}')
    s3 = f"s3://{s3_bucket}/copied/"
    assert run(capsys, "copy", "--from", uri, "--to", s3)[0] == 0
    back = str(tmp_path / "back")
    assert run(capsys, "copy", "--from", s3, "--to", back)[0] == 0
    original, returned = open_registry(uri).store, open_registry(back).store
    assert original.names() == returned.names()
    for name in original.names():
        assert original.read_raw(name) == returned.read_raw(name)
    assert returned.read_aux("deprecation-scan.json") == b'{"notices": {}}'
    assert run(capsys, "--registry", s3, "resolve", "summarization-primary", "--json")[0] == 0
