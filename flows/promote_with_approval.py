"""Promotion with approval: request -> wait for reviewers in the Prefect UI -> approve or reject.

Under an approval policy, the promotion is recorded as pending; the flow then pauses with a typed form
(``ApprovalInput``) once per approval still needed. Each answer goes through the registry's own
``approve`` / ``reject`` with the reviewer as the actor, so self-approval is refused there too.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, Field

from registry import approvals
from registry.errors import PolicyViolation
from registry.service import open_registry
from tasks.runtime import announce


class PromotionParams(BaseModel):
    """The promotion to request (a form in the Prefect UI)."""

    model: str = Field(description="Registered model name")
    version: int = Field(ge=1)
    environment: Literal["development", "staging", "production"] = "production"
    reason: str = Field(min_length=1, description="Why (recorded in history)")
    requested_by: str | None = Field(default=None, description="Requester (default: MODELCTL_ACTOR)")
    registry: str | None = None
    timeout_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    poll_seconds: int = Field(default=10, ge=1)


class ApprovalInput(RunInput):
    """What a reviewer answers in the Prefect UI to resume the flow."""

    decision: Literal["approve", "reject"] = "approve"
    approver: str = Field(min_length=1, description="Your name: recorded as the actor in history")
    reason: str | None = Field(default=None, description="Why (recorded in history)")


@task(cache_policy=NO_CACHE)
def request_promotion(params: PromotionParams) -> dict[str, Any]:
    reg = open_registry(params.registry, actor=params.requested_by)
    reg.promote(params.model, params.version, params.environment, reason=params.reason)
    return status(params)


@task(cache_policy=NO_CACHE)
def record_answer(params: PromotionParams, answer: ApprovalInput) -> dict[str, Any]:
    reg = open_registry(params.registry, actor=answer.approver)
    try:
        if answer.decision == "approve":
            approvals.approve(reg, params.model, params.version, params.environment, reason=answer.reason)
        else:
            approvals.reject(reg, params.model, params.version, params.environment,
                             reason=answer.reason or "rejected in the Prefect UI")
    except PolicyViolation as exc:  # e.g. self-approval: the request stays pending, ask again
        get_run_logger().warning("approval refused: %s", exc)
    return status(params)


def status(params: PromotionParams) -> dict[str, Any]:
    """Where the promotion stands: promoted, pending (with approvals so far) or ended."""
    record = open_registry(params.registry).get_model(params.model)
    req = approvals.pending_request(record, params.version, params.environment)
    last = next((r for r in reversed(record.approval_requests)
                 if r.version == params.version and r.environment == params.environment), None)
    shown = req or last
    return {"promoted": record.env_version(params.environment) == params.version, "pending": req is not None,
            "approvers": shown.approvers() if shown is not None else [],
            "status": req.status if req else (last.status if last else "promoted")}


@flow(name="promote-with-approval")
def promote_with_approval(params: PromotionParams) -> dict[str, Any]:
    """Request a promotion and wait in the Prefect UI for the approvals its environment needs."""
    announce(params.registry)
    state = request_promotion(params)
    while state["pending"]:
        answer = pause_flow_run(wait_for_input=ApprovalInput.with_initial_data(
            description=f"Approve {params.model}@{params.version} -> {params.environment}: {params.reason} "
                        f"(approvals so far: {', '.join(state['approvers']) or 'none'})"),
            timeout=params.timeout_seconds, poll_interval=params.poll_seconds)
        state = record_answer(params, answer)
    return state
