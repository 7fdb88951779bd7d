"""A flow waits in the Prefect UI for two approvals and receives them through the Prefect API."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from registry.approvals import set_policy
from registry.service import open_registry

CONFIG = {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929", "temperature": 0.2}


def paused_run(after: set[UUID], timeout: float = 60) -> UUID:
    """The id of a paused promote-with-approval run not in ``after``."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
            fresh = [r.id for r in runs if r.name and r.id not in after and (r.state and r.state.is_paused())]
            if fresh:
                return fresh[0]
            time.sleep(0.5)
    raise AssertionError("the flow never paused")


def test_flow_waits_for_approvals_given_through_the_prefect_api(tmp_path: Path, prefect_harness: None) -> None:
    from prefect.flow_runs import resume_flow_run

    from flows.promote_with_approval import PromotionParams, promote_with_approval

    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="alice")
    reg.init()
    for t in (0.1, 0.2):
        v, _ = reg.register("summ", {**CONFIG, "temperature": t})
        reg.record_eval("summ", v.number, suite="s", passed=True)
    reg.promote("summ", 1, "production", reason="first")
    set_policy(reg, "production", 2, reason="two reviewers")

    result: dict[str, Any] = {}
    params = PromotionParams(model="summ", version=2, reason="better", requested_by="alice", registry=uri,
                             timeout_seconds=120, poll_seconds=1)
    flow_thread = threading.Thread(target=lambda: result.update(promote_with_approval(params)))
    flow_thread.start()
    try:
        run_id = paused_run(set())
        assert open_registry(uri).get_model("summ").env_version("production") == 1
        # the requester cannot approve their own request: refused, and the flow asks again
        resume_flow_run(run_id, run_input={"decision": "approve", "approver": "alice"})
        time.sleep(2)
        for approver in ("bob", "carol"):
            deadline = time.monotonic() + 60
            while not _is_paused(run_id) and time.monotonic() < deadline:
                time.sleep(0.5)
            resume_flow_run(run_id, run_input={"decision": "approve", "approver": approver, "reason": "ok"})
            time.sleep(1.5)
    finally:
        flow_thread.join(timeout=120)
    assert result == {"promoted": True, "pending": False, "approvers": ["bob", "carol"], "status": "approved"}
    record = open_registry(uri).get_model("summ")
    assert record.env_version("production") == 2
    assert [(e.action, e.actor) for e in record.history[-4:]] == [
        ("promotion_requested", "alice"), ("approve", "bob"), ("approve", "carol"), ("promote", "carol")]


def _is_paused(run_id: UUID) -> bool:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
        return bool(state and state.is_paused())
