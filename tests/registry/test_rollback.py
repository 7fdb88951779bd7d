"""Rollback goes to the previous *good* version of the environment, says which, refuses when none."""

from __future__ import annotations

import json

import pytest

from registry.errors import PolicyViolation
from registry.service import Registry
from tests.registry.conftest import config, snapshot_bytes
from tests.registry.test_cli import run


def _ship(reg: Registry, t: float) -> int:
    v, _ = reg.register("summarizer", config(temperature=t))
    reg.record_eval("summarizer", v.number, suite="s", passed=True)
    reg.promote("summarizer", v.number, "production", reason=f"t={t}")
    return v.number


def test_rollback_skips_deprecated_and_failed_versions(reg: Registry) -> None:
    for t in (0.1, 0.2, 0.3, 0.4):
        _ship(reg, t)
    reg.set_deprecated("summarizer", 3, True, reason="provider retires it")
    reg.record_eval("summarizer", 2, suite="s", passed=False)
    assert reg.rollback("summarizer", "production", reason="regression").number == 1
    event = reg.get_model("summarizer").history[-1]
    assert event.after is not None and event.after["skipped"] == [
        "summarizer@3: deprecated", "summarizer@2: its latest evaluation failed (s)"]


def test_second_rollback_never_redeploys_the_version_rolled_back_from(reg: Registry, store_uri: str) -> None:
    for t in (0.1, 0.2):
        _ship(reg, t)
    assert reg.rollback("summarizer", "production", reason="bad").number == 1
    before = snapshot_bytes(store_uri)
    with pytest.raises(PolicyViolation, match="no previous good version") as exc:
        reg.rollback("summarizer", "production", reason="again")
    assert "summarizer@2: rolled back from" in str(exc.value)
    assert snapshot_bytes(store_uri) == before
    reg.promote("summarizer", 2, "production", reason="fixed and re-promoted")
    assert reg.rollback("summarizer", "production", reason="again").number == 1


def test_cli_rollback_says_which_and_what_it_skipped(uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    from registry.service import open_registry

    reg = open_registry(uri)
    for t in (0.1, 0.2, 0.3):
        _ship(reg, t)
    reg.set_deprecated("summarizer", 2, True, reason="x")
    code, out, _ = run(capsys, "--registry", uri, "rollback", "summarizer", "--env", "production", "--reason", "r")
    assert code == 0 and "rolled back to @1" in out and "skipped summarizer@2: deprecated" in out
    code, out, err = run(capsys, "--registry", uri, "rollback", "summarizer", "--env", "production",
                         "--reason", "r", "--json")
    assert code == 1 and "no previous good version" in err
    code, out, _ = run(capsys, "--registry", uri, "show", "summarizer", "--json")
    assert json.loads(out)["environments"]["production"] == 1
