"""Seed import: all or nothing, pinning is never overridden, re-imports say what changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.registry.conftest import snapshot_bytes
from tests.registry.test_cli import run, write

GOOD_ENTRY = "  first:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    status: active\n" \
             "    purpose: one\n    owner: team-a\n"


@pytest.mark.parametrize("second", [
    "  second:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    kind: bogus\n",
    "  second:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    training_date: 2024-13-45\n",
    "  second:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    params: {a: .nan}\n",
])
def test_an_invalid_later_entry_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               second: str) -> None:
    reg = str(tmp_path / "reg")
    seed = write(tmp_path, "seed.yaml", "models:\n" + GOOD_ENTRY + second)
    code, out, err = run(capsys, "--registry", reg, "import", seed)
    assert code == 2 and "seed.yaml" in err and ("second" in err or "seed.yaml:1" in err)
    assert "Traceback" not in err
    assert not (Path(reg) / "models" / "first.yaml").exists()


def test_invalid_entry_leaves_an_existing_registry_unchanged(uri: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    before = snapshot_bytes(uri)
    seed = write(tmp_path, "seed.yaml", "models:\n" + GOOD_ENTRY +
                 "  second:\n    provider: openai\n    model_id: gpt-4o-2024-08-06\n    kind: bogus\n")
    assert run(capsys, "--registry", uri, "import", seed)[0] == 2
    assert snapshot_bytes(uri) == before


def test_family_pinned_active_entry_is_imported_into_staging(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    reg = str(tmp_path / "reg")
    seed = write(tmp_path, "seed.yaml", "models:\n  floating:\n    provider: anthropic\n"
                 "    model_id: claude-sonnet-4-5\n    status: active\n")
    code, out, _ = run(capsys, "--registry", reg, "import", seed)
    assert code == 0 and "floating@1 staging" in out and "family-pinned" in out
    code, out, _ = run(capsys, "--registry", reg, "show", "floating", "--json")
    import json

    assert json.loads(out)["environments"] == {"staging": 1}
    assert run(capsys, "--registry", reg, "validate")[0] == 0


def test_reimport_reports_changed_purpose_and_owner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = str(tmp_path / "reg")
    seed = write(tmp_path, "seed.yaml", "models:\n" + GOOD_ENTRY)
    assert run(capsys, "--registry", reg, "import", seed)[0] == 0
    code, out, _ = run(capsys, "--registry", reg, "import", seed)
    assert "(unchanged)" in out
    write(tmp_path, "seed.yaml", "models:\n" + GOOD_ENTRY.replace("purpose: one", "purpose: two"))
    code, out, _ = run(capsys, "--registry", reg, "import", seed)
    assert code == 0 and "(unchanged)" not in out
    code, out, _ = run(capsys, "--registry", reg, "show", "first", "--json")
    import json

    assert json.loads(out)["purpose"] == "two"


def test_copy_refuses_to_overwrite_a_registry_unless_forced(uri: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from registry.service import open_registry

    other = str(tmp_path / "other")
    assert run(capsys, "copy", "--from", uri, "--to", other)[0] == 0
    open_registry(other).set_deprecated("classification-v2", 1, True, reason="newer history in the target")
    before = snapshot_bytes(other)
    code, _, err = run(capsys, "copy", "--from", uri, "--to", other)
    assert code == 1 and "--force" in err and "Traceback" not in err
    assert snapshot_bytes(other) == before
    assert run(capsys, "copy", "--from", uri, "--to", other, "--force")[0] == 0
    assert not open_registry(other).get_model("classification-v2").versions[0].deprecated


def test_export_keeps_plans_marks_critical_and_sets_deployed_date(uri: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from registry.entities import DeprecationPlan, utcnow
    from registry.service import open_registry

    reg = open_registry(uri)
    v, _ = reg.register("classification-v2", {"provider": "openai", "model_id": "gpt-4o-2024-08-06"})
    reg.record_eval("classification-v2", v.number, suite="s", passed=True)
    reg.promote("classification-v2", v.number, "production", reason="new")
    plan = DeprecationPlan(model_id="gpt-4o-2024-08-06", provider="openai", status="deprecated",
                           severity="critical", affected_versions=[v.number])
    reg.upsert_deprecation_plan("classification-v2", plan, reason="scan")
    out_file = tmp_path / "export.yaml"
    assert run(capsys, "--registry", uri, "export", str(out_file))[0] == 0
    entry = yaml.safe_load(out_file.read_text())["models"]["classification-v2"]
    assert entry["deployed_date"] == utcnow().date().isoformat()
    assert entry["deprecation"] == "critical" and entry["deprecation_plans"][0]["model_id"] == "gpt-4o-2024-08-06"
    again = str(tmp_path / "again")
    assert run(capsys, "--registry", again, "import", str(out_file))[0] == 0
    assert open_registry(again).get_model("classification-v2").deprecation_plans[0].severity == "critical"
    assert run(capsys, "--registry", again, "export")[1] == out_file.read_text()
