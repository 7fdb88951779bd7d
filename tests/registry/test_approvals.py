"""Approvals: pending promotions, self-approval refused, N distinct approvers, rejection, stale requests,
instant rollback, and plan/apply under a policy."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from modelctl.cli import main
from registry.approvals import load_policy, pending, set_policy
from registry.errors import InvalidInput
from registry.service import open_registry
from tests.registry.conftest import config


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, actor: str,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("MODELCTL_ACTOR", actor)
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def uri(store_uri: str) -> str:
    """A model with @1 in production and a passing, strictly pinned @2; production needs 2 approvals."""
    reg = open_registry(store_uri, actor="alice")
    for t in (0.3, 0.1):
        v, _ = reg.register("summ", config(temperature=t))
        reg.record_eval("summ", v.number, suite="s", passed=True)
    reg.promote("summ", 1, "production", reason="first")
    set_policy(reg, "production", 2, stale_after_days=3, reason="SOX: two reviewers")
    return store_uri


def test_policy_changes_need_a_reason_and_are_recorded(uri: str) -> None:
    reg = open_registry(uri, actor="bob")
    with pytest.raises(InvalidInput):
        set_policy(reg, "production", 1, reason=None)
    rules = load_policy(reg)
    assert rules.required("production") == 2 and rules.required("staging") == 0
    assert [(e.actor, e.reason) for e in rules.history] == [("alice", "SOX: two reviewers")]


def test_two_other_approvers_complete_a_pending_promotion(uri: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg_args = ("--registry", uri)
    code, out, _ = run(capsys, monkeypatch, "alice", *reg_args, "promote", "summ@2", "--to", "production",
                       "--reason", "better summaries")
    assert code == 3 and "pending approval (0/2)" in out
    assert open_registry(uri).get_model("summ").env_version("production") == 1  # nothing moved

    code, out, _ = run(capsys, monkeypatch, "alice", *reg_args, "list", "--json")
    assert json.loads(out)[0]["pending_approvals"][0] | {"id": None} == {
        "environment": "production", "version": 2, "id": None, "requested_by": "alice", "approvals": 0,
        "required": 2}
    code, out, _ = run(capsys, monkeypatch, "alice", *reg_args, "validate")
    assert "pending   summ@2 -> production: pending approval (0/2) requested by alice" in out

    code, _, err = run(capsys, monkeypatch, "alice", *reg_args, "approve", "summ@2", "--env", "production")
    assert code == 1 and "cannot approve their own request" in err
    code, out, _ = run(capsys, monkeypatch, "bob", *reg_args, "approve", "summ@2", "--env", "production")
    assert code == 3 and "1/2" in out
    code, _, err = run(capsys, monkeypatch, "bob", *reg_args, "approve", "summ@2", "--env", "production")
    assert code == 1 and "already approved" in err
    code, out, _ = run(capsys, monkeypatch, "carol", *reg_args, "approve", "summ@2", "--env", "production",
                       "--reason", "looked at the eval")
    assert code == 0 and "approved by bob, carol" in out

    record = open_registry(uri).get_model("summ")
    assert record.env_version("production") == 2 and not record.pending_approvals()
    promote = [e for e in record.history if e.action == "promote"][-1]
    assert promote.actor == "carol" and "requested by alice" in (promote.reason or "")
    assert [e.action for e in record.history[-4:]] == ["promotion_requested", "approve", "approve", "promote"]

    # rollback stays instant under the policy, and is recorded
    code, out, _ = run(capsys, monkeypatch, "dave", *reg_args, "rollback", "summ", "--env", "production",
                       "--reason", "incident")
    assert code == 0 and open_registry(uri).get_model("summ").env_version("production") == 1
    assert open_registry(uri).get_model("summ").history[-1].actor == "dave"


def test_reject_ends_a_request_and_the_gate_still_applies(uri: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    reg = open_registry(uri, actor="alice")
    v3, _ = reg.register("summ", config(temperature=0.9))
    from registry.errors import PolicyViolation

    with pytest.raises(PolicyViolation, match="no evaluation record"):
        reg.promote("summ", v3.number, "production", reason="no eval")  # refused before any request
    reg.promote("summ", 2, "production", reason="try")
    code, _, _ = run(capsys, monkeypatch, "bob", "--registry", uri, "reject", "summ@2", "--env", "production",
                     "--reason", "not this week")
    assert code == 1
    record = open_registry(uri).get_model("summ")
    assert record.env_version("production") == 1 and record.approval_requests[-1].status == "rejected"
    code, _, err = run(capsys, monkeypatch, "bob", "--registry", uri, "approve", "summ@2", "--env", "production")
    assert code == 2 and "no pending promotion" in err


def test_pending_requests_go_stale(uri: str) -> None:
    reg = open_registry(uri, actor="alice")
    reg.promote("summ", 2, "production", reason="r")
    records, rules = reg.list_models(), load_policy(reg)
    req = records[0].pending_approvals()[0]
    assert [p.stale for p in pending(records, rules, req.requested_at + timedelta(days=1))] == [False]
    assert [p.stale for p in pending(records, rules, req.requested_at + timedelta(days=4))] == [True]


def test_plan_and_apply_under_an_approval_policy(uri: str, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from registry import yamlio
    from registry.desired import export_desired

    doc = export_desired(open_registry(uri).list_models())
    doc["models"]["summ"]["environments"]["production"] = 2
    models = tmp_path / "models.yaml"
    models.write_text(yamlio.dumps(doc))
    code, out, _ = run(capsys, monkeypatch, "ci", "--registry", uri, "plan", str(models), "--json")
    change = json.loads(out)["changes"]
    assert code == 3 and change[0]["status"] == "needs_approval" and "2 approval(s)" in change[0]["gate"]
    code, out, _ = run(capsys, monkeypatch, "ci", "--registry", uri, "apply", str(models))
    assert code == 3 and "awaiting approval" in out
    code, out, _ = run(capsys, monkeypatch, "ci", "--registry", uri, "apply", str(models), "--json")
    assert code == 3 and json.loads(out)["applied"] == []  # idempotent: the request is not duplicated
    assert len(open_registry(uri).get_model("summ").approval_requests) == 1
    for who in ("bob", "carol"):
        run(capsys, monkeypatch, who, "--registry", uri, "approve", "summ@2", "--env", "production")
    assert run(capsys, monkeypatch, "ci", "--registry", uri, "plan", str(models))[0] == 0
