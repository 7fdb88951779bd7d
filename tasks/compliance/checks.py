"""The ten checklist items as pure functions of a ``ComplianceState``: each returns a verdict (pass, fail or
not-applicable) with a one-line summary and the evidence behind it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from registry.entities import ENVIRONMENTS, Experiment, HistoryEvent, ModelRecord, Version
from registry.pinning import classify
from tasks.compliance.state import ComplianceState, in_use
from tasks.compliance.verdicts import ITEMS, ComplianceReport, ModelCompliance, Status, Verdict
from tasks.deprecations.plans import reembedding_estimate
from tasks.training.schedules import RETRAIN_SCHEDULES


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _age_days(now: datetime, then: datetime) -> float:
    return round((now - then).total_seconds() / 86400, 2)


@dataclass(frozen=True)
class Subject:
    """The model, the version the items are judged on, and where versions serve."""

    record: ModelRecord
    version: Version | None
    environment: str | None
    serving: dict[str, int]
    production: Version | None


def subject_of(record: ModelRecord) -> Subject:
    """Production's version if any, else the highest environment's, else the experiment's treatment."""
    serving: dict[str, int] = {env: n for env in ENVIRONMENTS if (n := record.env_version(env))}
    exp = record.running_experiment()
    if exp is not None:
        serving[f"experiment:{exp.id}"] = exp.treatment
    env: str | None = next((e for e in ("production", "staging", "development") if e in serving), None)
    env = env or next(iter(serving), None)
    version = record.version(serving[env]) if env else None
    production = record.version(serving["production"]) if "production" in serving else None
    return Subject(record, version, env, serving, production)


Check = Callable[[Subject, ComplianceState], tuple[Status, str, dict[str, Any]]]
NA: Status = "not-applicable"
NO_PRODUCTION: tuple[Status, str, dict[str, Any]] = (NA, "serves no production traffic", {})


def check_registry(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    v, r = s.version, s.record
    fields = {"provider": v.config.provider if v else None, "version": f"{r.name}@{v.number}" if v else None,
              "model_id": v.config.model_id if v else None, "purpose": r.purpose,
              "status": v.stage if v else None, "owner": r.owner}
    missing = [k for k, val in fields.items() if not val]
    if missing:
        return "fail", "missing " + ", ".join(missing) + " (modelctl model set NAME --purpose/--owner)", \
            {**fields, "missing": missing}
    return "pass", f"{fields['provider']} {fields['model_id']} ({fields['status']}), owner {r.owner}", \
        {**fields, "missing": []}


def check_pinned(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    exp = s.record.running_experiment()
    numbers = ([s.production.number] if s.production else []) + ([exp.control, exp.treatment] if exp else [])
    if not numbers:
        return NO_PRODUCTION
    rows = []
    for n in dict.fromkeys(numbers):
        v = s.record.version(n)
        if v is not None:
            rows.append({"version": n, "model_id": v.config.model_id,
                         "pin": classify(v.config, state.extra_strict)})
    loose = [f"@{r['version']} {r['model_id']} ({r['pin']})" for r in rows if r["pin"] != "strict"]
    if loose:
        return "fail", "not strictly pinned: " + ", ".join(loose), {"versions": rows}
    return "pass", ", ".join(f"@{r['version']} {r['model_id']}" for r in rows) + " strictly pinned", {"versions": rows}


def check_evaluation(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    v = s.version
    assert v is not None
    rec = s.record.latest_eval(v.digest)
    base: dict[str, Any] = {"version": v.number, "digest": v.digest}
    if rec is None:
        return "fail", f"no evaluation record for @{v.number} (digest {v.digest[:12]})", base
    produced = {"flow": "flow", "import": "imported"}.get(rec.source, "manual")
    age = _age_days(state.now, rec.time)
    evidence = {**base, "suite": rec.suite, "source": rec.source, "produced_by": produced, "passed": rec.passed,
                "decision": rec.decision, "time": _iso(rec.time), "age_days": age, "flow_run_id": rec.flow_run_id,
                "scores": rec.scores}
    limit = state.thresholds.evaluation_max_age_days
    problems = ([] if rec.passed else ["did not pass"]) + (
        ["not produced by the evaluation flow"] if state.thresholds.require_flow_evaluation and produced != "flow"
        else []) + ([f"older than {limit} days"] if limit is not None and age > limit else [])
    text = f"{produced} evaluation on suite {rec.suite}, {'passed' if rec.passed else 'failed'}, {age:g} days old"
    return ("fail", text + ": " + "; ".join(problems), evidence) if problems else ("pass", text, evidence)


def last_production_change(record: ModelRecord) -> HistoryEvent | None:
    """The newest history event that moved production's pointer."""
    for event in reversed(record.history):
        after = event.after if isinstance(event.after, dict) else {}
        if event.action in ("promote", "rollback") and after.get("environment") == "production":
            return event
    return None


def _change_evidence(event: HistoryEvent) -> dict[str, Any]:
    before = event.before if isinstance(event.before, dict) else {}
    return {"action": event.action, "version": event.version, "previous": before.get("version"),
            "time": _iso(event.time), "actor": event.actor, "reason": event.reason, "forced": event.forced}


def _shipped_with(record: ModelRecord, event: HistoryEvent) -> Experiment | None:
    """The experiment this promotion shipped: its ``shipped`` stop is written in the same change, right
    before (an analysis shipped it) or right after (its treatment was promoted) the promotion."""
    at = next(i for i, e in enumerate(record.history) if e.id == event.id)
    for near in record.history[max(at - 1, 0):at + 2]:
        after = near.after if isinstance(near.after, dict) else {}
        if near.action == "experiment_stop" and after.get("status") == "shipped":
            return next((e for e in record.experiments if e.id == after.get("experiment")), None)
    return None


def check_controlled_rollout(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    if s.production is None:
        return NO_PRODUCTION
    event = last_production_change(s.record)
    if event is None:
        return "fail", "no recorded production change", {}
    evidence = _change_evidence(event)
    if event.action == "rollback":
        return "pass", f"rollback to @{event.version} (a version that served before)", {**evidence, "via": "rollback"}
    exp = _shipped_with(s.record, event)
    if exp is not None:
        return "pass", f"{exp.kind} {exp.id} shipped @{exp.treatment}", {
            **evidence, "via": exp.kind, "experiment": exp.id, "split": exp.split, "analyses": len(exp.analyses),
            "decision": exp.analyses[-1].decision if exp.analyses else None}
    if evidence["previous"] is None:
        return NA, "first production version: no control to compare against", {**evidence, "via": "first"}
    if event.forced and event.reason:
        return "pass", f"forced by {event.actor}: {event.reason}", {**evidence, "via": "forced"}
    return "fail", f"@{event.version} promoted without an A/B test or canary ({event.reason})", \
        {**evidence, "via": "promote"}


def check_deprecation_plan(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    today = state.now.date()
    plans = [p for p in s.record.deprecation_plans if p.status != "migrated"]
    rows, problems = [], []
    for where, number in s.serving.items():
        plan = next((p for p in plans if number in p.affected_versions), None)
        if plan is None:
            problems.append(f"@{number} ({where}) has no plan (a deprecation scan plans every model in use)")
            continue
        when = plan.timeline.hard_deadline or plan.timeline.not_before
        rows.append({"version": number, "where": where, "model_id": plan.model_id, "status": plan.status,
                     "severity": plan.severity, "hard_deadline": plan.timeline.hard_deadline,
                     "not_before": plan.timeline.not_before, "review_date": plan.review_date,
                     "target": plan.migration.target, "eval_status": plan.migration.eval_status})
        if when is None and plan.review_date is None:
            problems.append(f"@{number}: plan for {plan.model_id} has no timeline")
        elif plan.timeline.hard_deadline is not None and plan.timeline.hard_deadline <= today:
            problems.append(f"@{number}: {plan.model_id} passed its shutdown date {plan.timeline.hard_deadline}")
        elif plan.status == "none-announced" and plan.review_date is not None and plan.review_date < today:
            problems.append(f"@{number}: review date {plan.review_date} has passed")
    evidence = {"plans": rows}
    if problems:
        return "fail", "; ".join(problems), evidence
    return "pass", "; ".join(f"@{r['version']} {r['status']}, " + (
        f"review {r['review_date']}" if r["status"] == "none-announced"
        else f"shutdown {r['hard_deadline'] or 'not before ' + str(r['not_before'])}")
        + f" -> {r['target'] or 'target unset'}" for r in rows), evidence


def check_deprecation_tracking(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    v = s.version
    assert v is not None
    provider, limit = v.config.provider, state.thresholds.scan_max_age_days
    scan = state.scan
    if scan is None:
        return "fail", "no deprecation scan recorded (modelctl deprecations scan)", {"provider": provider}
    when = _parse(scan.get("scanned_at"))
    covered = scan.get("providers")
    age = _age_days(state.now, when) if when else None
    failed: list[dict[str, str]] = scan.get("failed_sources") or []
    evidence: dict[str, Any] = {
        "provider": provider, "scanned_at": scan.get("scanned_at"), "max_age_days": limit, "age_days": age,
        "providers_covered": covered, "failed_sources": failed,
        "skipped_sources": [s["source"] for s in scan.get("skipped_sources") or []]}
    problems = []
    if age is None or age > limit:
        problems.append(f"the last successful scan is older than {limit} days")
    if covered is None:
        problems.append("the last scan did not record the providers it covered (scan again)")
    elif provider not in covered:
        problems.append(f"no source of the last scan covers {provider}")
    if failed:
        problems.append(f"{len(failed)} source(s) failed")
    if problems:
        return "fail", "; ".join(problems), evidence
    return "pass", f"scanned {age:g} days ago, covering {provider}", evidence


def _fine_tuned(v: Version) -> bool:
    lin = v.lineage
    return v.config.model_id.startswith("ft:") or bool(lin and (lin.fine_tune_id or lin.trainer or lin.training_data))


def check_fine_tune(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    v = s.version
    assert v is not None
    if not _fine_tuned(v):
        return NA, "not a fine-tuned model", {}
    lin = v.lineage
    has_eval = bool(lin and lin.evaluation) or s.record.latest_eval(v.digest) is not None
    fields = {"training_data": lin.training_data if lin else None,
              "training_data_sha256": lin.training_data_sha256 if lin else None,
              "fine_tune_id": lin.fine_tune_id if lin else None,
              "hyperparameters": lin.hyperparameters if lin else None, "evaluation": has_eval}
    missing = [k for k, val in fields.items() if not val]
    schedule = (v.retrain_schedule or "").lower() or None
    evidence = {**fields, "missing": missing, "retrain_schedule": schedule,
                "scheduled_deployment": f"fine-tune/{schedule}-retrain" if schedule in RETRAIN_SCHEDULES else None}
    problems = ([f"lineage lacks {', '.join(missing)}"] if missing else []) + (
        [] if evidence["scheduled_deployment"] else
        [f"retrain schedule {schedule!r} is not one the fine-tune deployment runs ({', '.join(RETRAIN_SCHEDULES)})"
         if schedule else "no retrain schedule"])
    if problems:
        return "fail", "; ".join(problems), evidence
    return "pass", f"lineage complete; retrained {schedule} by {evidence['scheduled_deployment']}", evidence


def check_release_process(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    if s.production is None:
        return NO_PRODUCTION
    event = last_production_change(s.record)
    if event is None:
        return "fail", "no recorded production change", {}
    reason = event.reason or ""
    via = "apply" if "[apply " in reason else "approval" if "approved by" in reason else "recorded"
    evidence = {**_change_evidence(event), "via": via}
    if via == "apply":
        return "pass", f"applied from reviewed desired state by {event.actor}", evidence
    if via == "approval":
        return "pass", f"approved promotion: {reason}", evidence
    if reason.strip() and event.actor:
        return "pass", f"{event.action} by {event.actor}: {reason}", evidence
    return "fail", "the last production change carries no reason or actor", evidence


def check_embedding(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    v = s.version
    assert v is not None
    if s.record.kind != "embedding":
        return NA, f"not an embedding model (kind {s.record.kind})", {}
    plan = next((p for p in s.record.deprecation_plans if v.number in p.affected_versions), None)
    estimate = reembedding_estimate(v)
    evidence: dict[str, Any] = {"version": v.number, "dimension": v.dimension, "corpus_size": v.corpus_size,
                                "corpus_avg_tokens": v.corpus_avg_tokens, "estimate": estimate,
                                "plan_estimate": plan.migration.estimated_effort if plan else None}
    if v.corpus_size is None:
        return "fail", f"no corpus size on record (modelctl annotate {s.record.name}@{v.number} --corpus-size N)", \
            evidence
    return "pass", estimate, evidence


def check_monitored(s: Subject, state: ComplianceState) -> tuple[Status, str, dict[str, Any]]:
    v = s.production
    if v is None:
        return NO_PRODUCTION
    limit = state.thresholds.monitor_max_age_hours
    found: list[tuple[datetime, str, str]] = []
    result = ((state.monitor.get(s.record.name) or {}).get("versions") or {}).get(str(v.number))
    if result and result.get("digest") in (None, v.digest) and (when := _parse(result.get("time"))):
        found.append((when, "monitor", str(result.get("status"))))
    probe = state.probes.get((s.record.name, v.digest))
    if probe and (when := _parse(probe.get("time"))):
        found.append((when, "drift-probe", str(probe.get("status"))))
    if not found:
        return "fail", f"no monitor result for @{v.number} (modelctl monitor / the monitor deployment)", \
            {"version": v.number, "max_age_hours": limit}
    when, source, status = max(found)
    age = round((state.now - when).total_seconds() / 3600, 2)
    evidence = {"version": v.number, "source": source, "time": _iso(when), "age_hours": age,
                "max_age_hours": limit, "result": status}
    if age > limit:
        return "fail", f"the newest {source} result is {age:g} h old (limit {limit} h)", evidence
    return "pass", f"{source} {status}, {age:g} h ago", evidence


CHECKS: dict[str, Check] = {
    "registry": check_registry, "pinned": check_pinned, "evaluation": check_evaluation,
    "controlled-rollout": check_controlled_rollout, "deprecation-plan": check_deprecation_plan,
    "deprecation-tracking": check_deprecation_tracking, "fine-tune-pipeline": check_fine_tune,
    "release-process": check_release_process, "embedding-migration": check_embedding,
    "monitored": check_monitored,
}


def evaluate_model(record: ModelRecord, state: ComplianceState) -> ModelCompliance:
    """Every checklist item for one model."""
    s = subject_of(record)
    items = []
    for number, (key, title) in enumerate(ITEMS, 1):
        evidence: dict[str, Any]
        if s.version is None or not in_use(record):
            status, summary, evidence = NA, "not in use (serves no environment or experiment arm)", {}
        else:
            status, summary, evidence = CHECKS[key](s, state)
        items.append(Verdict(key, number, title, status, summary, _plain(evidence)))
    return ModelCompliance(record.name, s.version.number if s.version else None, s.environment, s.serving, items)


def evaluate(state: ComplianceState) -> ComplianceReport:
    """The checklist for every model of the state (pure: the same state and ``now`` give the same report)."""
    return ComplianceReport(_iso(state.now), state.thresholds.model_dump(),
                            [evaluate_model(r, state) for r in sorted(state.records, key=lambda r: r.name)])


def _plain(value: Any) -> Any:
    """Evidence as JSON-ready values (dates as ISO strings)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return _iso(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
