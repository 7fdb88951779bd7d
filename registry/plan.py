"""Plan and apply a desired state: decide (a pure ``Plan`` value), then apply it through the normal
registry operations, whose gates are re-checked at write time.

Changes name versions by configuration digest, so a concurrent registration cannot make a promotion
land on another version than the one planned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from registry import policy
from registry.desired import DesiredModel, DesiredState, DesiredVersion
from registry.entities import ENVIRONMENTS, ApprovalPolicy, EnvPointer, ModelRecord, Version, utcnow
from registry.errors import InvalidInput, RegistryError

Action = Literal["model_set", "register", "promote", "rollback", "experiment_stop", "experiment_start"]
Status = Literal["ok", "refused", "needs_approval", "awaiting_approval"]


@dataclass(frozen=True)
class Change:
    """One step of a plan, the gate it must pass and whether it would pass now."""

    model: str
    action: Action
    summary: str
    gate: str
    status: Status = "ok"
    reasons: list[str] = field(default_factory=list)
    version: int | None = None
    digest: str | None = None
    environment: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    spec: Any = None  # the VersionSpec to register (not shown)

    @property
    def would_pass(self) -> bool:
        return self.status != "refused"

    def to_dict(self) -> dict[str, Any]:
        body = {k: v for k, v in asdict(self).items() if k != "spec"}
        return {**body, "would_pass": self.would_pass}


@dataclass(frozen=True)
class Plan:
    """Ordered changes that turn the registry into the desired state."""

    source: str
    changes: list[Change]

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.changes if c.status == "refused"]

    @property
    def pending(self) -> list[Change]:
        """Changes apply would make (everything but promotions already awaiting approval)."""
        return [c for c in self.changes if c.status != "awaiting_approval"]

    def exit_code(self) -> int:
        """0 no changes, 1 a change would be refused, 3 changes pending."""
        if self.refused:
            return 1
        return 3 if self.changes else 0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "changes": [dict(c.to_dict(), seq=i + 1) for i, c in enumerate(self.changes)],
                "refused": len(self.refused), "exit_code": self.exit_code()}


_GATE_PROD = "production gate: strict pinning, a passing evaluation of this exact digest, not deprecated"


def _sim_version(record: ModelRecord, dv: DesiredVersion, number: int) -> Version:
    return Version(number=number, digest=dv.digest, config=dv.spec.config(), created_at=utcnow(),
                   created_by="plan", **dv.spec.metadata())


def _approval_gate(rules: ApprovalPolicy, env: str) -> tuple[str, int]:
    n = rules.required(env)
    return (f"; then {n} approval(s) by actors other than the requester" if n else ""), n


def plan_model(current: ModelRecord | None, want: DesiredModel, rules: ApprovalPolicy,
               extra_strict: Iterable[str] = ()) -> list[Change]:
    """The changes for one model, simulated in order on a copy of its record."""
    strict = tuple(extra_strict)
    name = want.name
    changes: list[Change] = []
    record = current or ModelRecord(name=name, **want.fields)
    if current is not None:
        before = {k: getattr(current, k) for k in want.fields}
        if before != want.fields:
            diff = {k: v for k, v in want.fields.items() if before[k] != v}
            changes.append(Change(name, "model_set", f"set {', '.join(f'{k}={v!r}' for k, v in diff.items())}",
                                  "none (recorded with the reason)", params=diff))
            record = record.model_copy(update=diff)
    number_of: dict[int, str] = {v.number: v.digest for v in record.versions}
    for i, dv in enumerate(want.versions):
        existing = record.by_digest(dv.digest)
        number = existing.number if existing else len(record.versions) + 1
        if dv.declared is not None and dv.declared != number:
            what = "is registered as" if existing else "would be registered as"
            raise InvalidInput(f"declared version {dv.declared}, but this configuration {what} "
                               f"{name}@{number} (digest {dv.digest[:12]})", file=want.source, line=dv.line,
                               field=f"{dv.field}.version")
        if existing is None:
            spec = dv.spec if (current is not None or i) else dv.spec.model_copy(update=want.fields)
            changes.append(Change(name, "register", f"register {name}@{number} ({dv.spec.provider}:"
                                  f"{dv.spec.model_id}) digest {dv.digest[:12]}", "none (configuration validated)",
                                  version=number, digest=dv.digest, spec=spec))
            record = record.model_copy(update={"versions": [*record.versions, _sim_version(record, dv, number)]})
        number_of[number] = dv.digest
    for env in ENVIRONMENTS:
        if env not in want.environments:
            continue
        target = want.environments[env]
        version = record.version(target)
        if version is None:
            raise want.error(f"{name}@{target} is neither registered nor listed under versions",
                             f"environments.{env}")
        old = record.environments.get(env) or EnvPointer()
        if old.version == target:
            continue
        if old.previous == target and old.version is not None:
            changes.append(Change(name, "rollback", f"roll {name} {env} back from @{old.version} to @{target}",
                                  "none: rollback is instant and needs no approval (recorded)",
                                  version=target, digest=version.digest, environment=env))
            pointer = EnvPointer(version=target, previous=old.version)
        else:
            extra, n = _approval_gate(rules, env)
            status: Status = "ok"
            reasons: list[str] = []
            if env == "production":
                decision = policy.production_gate(record, version, strict)
                if not decision.ok:
                    status, reasons = "refused", decision.reasons
            if status == "ok" and n:
                waiting = any(r.version == target and r.environment == env for r in record.pending_approvals())
                status = "awaiting_approval" if waiting else "needs_approval"
            gate = (_GATE_PROD if env == "production" else "none") + extra
            changes.append(Change(name, "promote", f"promote {name}@{target} to {env} (now "
                                  f"{'@' + str(old.version) if old.version else 'empty'})", gate, status=status,
                                  reasons=reasons, version=target, digest=version.digest, environment=env,
                                  params={"approvals": n} if n else {}))
            if status in ("needs_approval", "awaiting_approval"):
                continue
            pointer = EnvPointer(version=target, previous=old.version if old.version is not None else old.previous)
        record = record.model_copy(update={"environments": {**record.environments, env: pointer}})
        running = record.running_experiment()
        if env == "production" and running is not None:
            ended = running.model_copy(update={"status": "stopped"})
            record = record.model_copy(update={"experiments": [ended if e.id == running.id else e
                                                               for e in record.experiments]})
    if want.experiment_managed:
        changes += _plan_experiment(record, want, strict)
    return changes


def _plan_experiment(record: ModelRecord, want: DesiredModel, strict: tuple[str, ...]) -> list[Change]:
    name, exp = want.name, want.experiment
    running = record.running_experiment()
    out: list[Change] = []
    control = record.env_version("production")
    if running is not None and (exp is None or running.treatment != exp.treatment or running.kind != exp.kind
                                or running.control != control):
        out.append(Change(name, "experiment_stop", f"stop experiment {running.id} (@{running.control} vs "
                          f"@{running.treatment})", "none", version=running.treatment,
                          params={"experiment": running.id}))
        running = None
    if exp is None or running is not None:
        return out
    treatment = record.version(exp.treatment)
    if treatment is None:
        raise want.error(f"{name}@{exp.treatment} is neither registered nor listed under versions",
                         "experiment")
    if control is None or control == exp.treatment:
        raise want.error("an experiment needs a production version (its control) other than the treatment",
                         "experiment")
    decision = policy.production_gate(record, treatment, strict)
    params = exp.model_dump(exclude_none=True)
    out.append(Change(name, "experiment_start", f"start {exp.kind} @{control} (control) vs @{exp.treatment}",
                      "experiment gate: the treatment is strictly pinned and holds a passing evaluation",
                      status="ok" if decision.ok else "refused", reasons=decision.reasons,
                      version=exp.treatment, digest=treatment.digest, params={**params, "control": control}))
    return out


def make_plan(records: Iterable[ModelRecord], desired: DesiredState, rules: ApprovalPolicy,
              extra_strict: Iterable[str] = (), source: str = "") -> Plan:
    """The ordered plan (models by name) that turns ``records`` into ``desired``; writes nothing."""
    by_name = {r.name: r for r in records}
    changes: list[Change] = []
    for name in sorted(desired.models):
        changes += plan_model(by_name.get(name), desired.models[name], rules, extra_strict)
    return Plan(source=source or ", ".join(desired.sources), changes=changes)


@dataclass
class ApplyResult:
    """What apply did: the applied changes, the first refusal (if any) and promotions awaiting approval."""

    applied: list[Change] = field(default_factory=list)
    refused: Change | None = None
    error: str | None = None
    awaiting: list[Change] = field(default_factory=list)

    def exit_code(self) -> int:
        if self.refused is not None:
            return 1
        return 3 if self.awaiting else 0

    def to_dict(self) -> dict[str, Any]:
        return {"applied": [c.to_dict() for c in self.applied],
                "refused": self.refused.to_dict() if self.refused else None, "error": self.error,
                "awaiting_approval": [c.to_dict() for c in self.awaiting], "exit_code": self.exit_code()}


def _number(reg: Any, name: str, digest: str | None, fallback: int | None) -> int:
    record = reg.get_model(name)
    v = record.by_digest(digest) if digest else None
    if v is None and fallback is None:
        raise InvalidInput(f"{name}: no version with digest {digest}", field="digest")
    return v.number if v is not None else int(fallback or 0)


def apply_change(reg: Any, change: Change, reason: str) -> None:
    """Apply one change through the registry's own operation (its gates are re-checked there)."""
    name = change.model
    if change.action == "model_set":
        reg.set_model_fields(name, reason=reason, **change.params)
    elif change.action == "register":
        reg.register(name, change.spec, reason=reason)
    elif change.action == "promote":
        reg.promote(name, _number(reg, name, change.digest, change.version), str(change.environment),
                    reason=reason)
    elif change.action == "rollback":
        reg.rollback(name, str(change.environment), reason=reason)
    elif change.action == "experiment_stop":
        reg.stop_experiment(name, change.params["experiment"], reason=reason)
    elif change.action == "experiment_start":
        p = change.params
        reg.start_experiment(name, control=p["control"], treatment=_number(reg, name, change.digest, change.version),
                             split=p.get("split") or 0.1, kind=p.get("kind", "ab"),
                             primary_metric=p.get("primary_metric", "quality_score"),
                             guardrails=p.get("guardrails") or None, min_effect=p.get("min_effect", 0.01),
                             min_samples=p.get("min_samples"), max_days=p.get("max_days"), steps=p.get("steps"),
                             step_min_samples=p.get("step_min_samples"), reason=reason)


def apply_plan(reg: Any, plan: Plan, *, reason: str, atomic: bool = False) -> ApplyResult:
    """Apply ``plan`` in order, stopping at the first refusal (everything before it stays applied).

    With ``atomic``, a plan holding any refused change applies nothing. A promotion into an environment
    under an approval policy records a pending request and is reported as awaiting approval.
    """
    result = ApplyResult()
    if atomic and plan.refused:
        result.refused = plan.refused[0]
        result.error = "; ".join(plan.refused[0].reasons) or "refused"
        return result
    for change in plan.changes:
        if change.status == "awaiting_approval":
            result.awaiting.append(change)
            continue
        if change.status == "refused":
            result.refused, result.error = change, "; ".join(change.reasons) or "refused"
            return result
        try:
            apply_change(reg, change, reason)
        except RegistryError as exc:
            if exc.exit_code != 1:
                raise
            result.refused, result.error = change, str(exc)
            return result
        (result.awaiting if change.status == "needs_approval" else result.applied).append(change)
    return result
