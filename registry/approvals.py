"""Approvals: an environment may require N approvals, by actors other than the requester, before a
promotion into it takes effect.

The policy is a side document of the registry (``approval-policy``), changed only with a recorded reason.
A promotion under it records a pending ``ApprovalRequest`` on the model (in the same atomic write as its
history event); ``approve`` by enough distinct other actors completes it through the normal production
gate, re-checked at that moment; ``reject`` ends it. Rollback never needs approval.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from registry import policy, yamlio
from registry.entities import (
    ENVIRONMENTS,
    ApprovalPolicy,
    ApprovalRequest,
    ApprovalVote,
    EnvApprovalRule,
    ModelRecord,
    utcnow,
)
from registry.errors import InvalidInput, PolicyViolation, StoreUnavailable, VersionNotFound

if TYPE_CHECKING:
    from registry.service import Registry

POLICY_KEY = "approval-policy"


def load_policy(reg: Registry) -> ApprovalPolicy:
    """The registry's approval policy (empty: no environment needs approval)."""
    raw = reg.read_aux(POLICY_KEY)
    if not raw:
        return ApprovalPolicy()
    try:
        return ApprovalPolicy.model_validate(yamlio.loads(raw))
    except Exception as exc:
        raise StoreUnavailable(f"{reg.uri}: unreadable approval policy: {exc}") from exc


def required_approvals(reg: Registry, environment: str) -> int:
    """Approvals a promotion into ``environment`` needs."""
    return load_policy(reg).required(environment)


def set_policy(reg: Registry, environment: str, approvals: int, *, stale_after_days: int = 7,
               reason: str | None) -> ApprovalPolicy:
    """Set an environment's rule; the change and its reason are kept in the policy's history."""
    if environment not in ENVIRONMENTS:
        raise InvalidInput(f"unknown environment {environment!r}; one of {', '.join(ENVIRONMENTS)}", field="env")
    if not reason or not reason.strip():
        raise InvalidInput("changing the approval policy needs --reason", field="reason")
    if approvals < 0 or stale_after_days < 1:
        raise InvalidInput("approvals must be >= 0 and stale-after-days >= 1", field="approvals")
    current = load_policy(reg)
    rule = EnvApprovalRule(approvals=approvals, stale_after_days=stale_after_days)
    old = current.environments.get(environment)  # type: ignore[call-overload]
    if old == rule:
        return current
    event = reg._event("approval_policy", "*", reason=reason,
                       before={"environment": environment, **(old.model_dump() if old else {})},
                       after={"environment": environment, **rule.model_dump()})
    updated = current.model_copy(update={"environments": {**current.environments, environment: rule},
                                          "history": [*current.history, event]})
    reg.write_aux(POLICY_KEY, yamlio.dumps(updated.model_dump(mode="json", exclude_none=True)).encode())
    return updated


def request_promotion(reg: Registry, record: ModelRecord, version: int, to: str, reason: str,
                      force: bool) -> ModelRecord | None:
    """``record`` with a pending request to promote ``version`` into ``to`` (gates checked now)."""
    target = reg._version(record, version)
    forced = False
    if to == "production":
        decision = policy.production_gate(record, target, reg.extra_strict)
        if not decision.ok:
            if decision.blocking or not force:
                raise PolicyViolation(f"refused: {record.name}@{version} cannot go to production",
                                      decision.reasons)
            forced = True
    pending = [r for r in record.pending_approvals() if r.environment == to]
    if any(r.version == version for r in pending):
        return None
    now = utcnow()
    superseded = {r.id for r in pending}
    requests = [r.model_copy(update={"status": "superseded", "closed_at": now}) if r.id in superseded else r
                for r in record.approval_requests]
    request = ApprovalRequest(id=uuid.uuid4().hex[:12], environment=to, version=version,  # type: ignore[arg-type]
                              requested_by=reg.actor, requested_at=now, reason=reason,
                              required=required_approvals(reg, to), forced=forced)
    event = reg._event("promotion_requested", record.name, version=version, reason=reason, forced=forced,
                       before={"environment": to, "version": record.env_version(to)},
                       after={"environment": to, "version": version, "request": request.id,
                              "required": request.required, "superseded": sorted(superseded)})
    return reg._with(record, event, approval_requests=[*requests, request])


def pending_request(record: ModelRecord, version: int, environment: str) -> ApprovalRequest | None:
    """The pending request to promote ``version`` into ``environment``, if any."""
    return next((r for r in record.pending_approvals()
                 if r.version == version and r.environment == environment), None)


def _find(record: ModelRecord, version: int, environment: str) -> ApprovalRequest:
    req = pending_request(record, version, environment)
    if req is None:
        raise VersionNotFound(f"no pending promotion of {record.name}@{version} to {environment}")
    return req


def approve(reg: Registry, name: str, version: int, environment: str, *,
            reason: str | None = None) -> tuple[ApprovalRequest, bool]:
    """Approve a pending promotion as ``reg.actor``; the last approval needed promotes (gates re-checked).

    Returns the request and whether the environment moved. The requester cannot approve their own
    request, nor can an actor approve twice.
    """
    out: dict[str, tuple[ApprovalRequest, bool]] = {}

    def fn(record: ModelRecord) -> ModelRecord:
        req = _find(record, version, environment)
        if reg.actor == req.requested_by:
            raise PolicyViolation(f"refused: {reg.actor} requested {name}@{version} -> {environment} and "
                                  "cannot approve their own request")
        if reg.actor in req.approvers():
            raise PolicyViolation(f"refused: {reg.actor} already approved {name}@{version} -> {environment}")
        now = utcnow()
        vote = ApprovalVote(actor=reg.actor, time=now, decision="approve", reason=reason)
        voted = req.model_copy(update={"votes": [*req.votes, vote]})
        done = len(voted.approvers()) >= req.required
        if done:
            voted = voted.model_copy(update={"status": "approved", "closed_at": now})
        event = reg._event("approve", name, version=version, reason=reason,
                           after={"environment": environment, "request": req.id,
                                  "approvals": len(voted.approvers()), "required": req.required})
        updated = reg._with(record, event, approval_requests=[voted if r.id == req.id else r
                                                              for r in record.approval_requests])
        moved = False
        if done:
            why = f"{req.reason} (requested by {req.requested_by}; approved by {', '.join(voted.approvers())})"
            promoted = reg._promoted(updated, version, environment, why, req.forced, approved=True)
            if promoted is not None:
                updated, moved = promoted, True
        out["result"] = (voted, moved)
        return updated

    reg._change(name, fn)
    return out["result"]


def reject(reg: Registry, name: str, version: int, environment: str, *, reason: str | None) -> ApprovalRequest:
    """End a pending promotion without moving the environment (the requester may withdraw it)."""
    if not reason or not reason.strip():
        raise InvalidInput("reject needs --reason", field="reason")
    out: dict[str, ApprovalRequest] = {}

    def fn(record: ModelRecord) -> ModelRecord:
        req = _find(record, version, environment)
        now = utcnow()
        vote = ApprovalVote(actor=reg.actor, time=now, decision="reject", reason=reason)
        closed = req.model_copy(update={"votes": [*req.votes, vote], "status": "rejected", "closed_at": now})
        out["request"] = closed
        event = reg._event("reject", name, version=version, reason=reason,
                           after={"environment": environment, "request": req.id})
        return reg._with(record, event, approval_requests=[closed if r.id == req.id else r
                                                           for r in record.approval_requests])

    reg._change(name, fn)
    return out["request"]


@dataclass(frozen=True)
class PendingView:
    """A pending request as listed by ``list`` and ``validate``."""

    model: str
    request: ApprovalRequest
    stale: bool

    def describe(self) -> str:
        r = self.request
        age = f"since {r.requested_at:%Y-%m-%d %H:%M} UTC"
        return (f"{self.model}@{r.version} -> {r.environment}: pending approval "
                f"({len(r.approvers())}/{r.required}) requested by {r.requested_by} {age}"
                f"{' — STALE' if self.stale else ''}")


def pending(records: list[ModelRecord], rules: ApprovalPolicy, now: datetime | None = None) -> list[PendingView]:
    """Every pending request, flagged stale after its environment's ``stale_after_days``."""
    now = now or utcnow()
    out = []
    for record in records:
        for req in record.pending_approvals():
            rule = rules.environments.get(req.environment) or EnvApprovalRule()
            out.append(PendingView(record.name, req, now - req.requested_at > timedelta(days=rule.stale_after_days)))
    return out
