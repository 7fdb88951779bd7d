"""The registry client: every change is one atomic read-modify-write of one model, history included.

Policy decisions (pinning, the evaluation gate) are pure functions in ``registry.policy``; this module
applies them and raises ``PolicyViolation`` listing every unmet criterion. A refused call writes nothing.
"""

from __future__ import annotations

import difflib
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from registry import hooks, policy
from registry.entities import (
    ENVIRONMENTS,
    MODEL_KINDS,
    AnalysisRecord,
    DeprecationPlan,
    EnvPointer,
    EvalRecord,
    Experiment,
    HistoryEvent,
    ModelRecord,
    Version,
    utcnow,
)
from registry.errors import InvalidInput, ModelNotFound, PolicyViolation, VersionNotFound
from registry.numbers import finite
from registry.refs import parse_ref  # noqa: F401 - re-exported: registry.service.parse_ref
from registry.settings import get_settings
from registry.spec import VersionSpec, parse_spec
from registry.stores import Store, open_store
from registry.stores.base import check_name


def _require_reason(reason: str | None, what: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput(f"{what} needs --reason", field="reason")
    return reason


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _check_experiment_numbers(*, split: float, min_effect: float, max_days: float | None,
                              min_samples: int | None, step_min_samples: int | None,
                              guardrails: dict[str, float] | None, steps: list[float] | None) -> None:
    """Non-finite numbers and negative counts or durations are bad input (exit 2), never stored."""
    finite(split, "split")
    finite(min_effect, "min_effect")
    finite(max_days, "max_days", positive=True)
    finite(min_samples, "min_samples", minimum=1)
    finite(step_min_samples, "step_min_samples", minimum=1)
    for metric, value in (guardrails or {}).items():
        finite(value, f"guardrails.{metric}", minimum=0)
    for i, step in enumerate(steps or []):
        finite(step, f"steps.{i}")


def restage(record: ModelRecord, versions: list[Version] | None = None) -> list[Version]:
    """Stages follow the environment pointers; a version that left production is archived."""
    pointed = {env: record.env_version(env) for env in ENVIRONMENTS}
    out = []
    for v in versions if versions is not None else record.versions:
        if v.number == pointed["production"]:
            stage = "production"
        elif v.number == pointed["staging"]:
            stage = "staging"
        elif v.number == pointed["development"]:
            stage = "development"
        elif v.stage in ("production", "archived"):
            stage = "archived"
        else:
            stage = "development"
        out.append(v if v.stage == stage else v.model_copy(update={"stage": stage}))
    return out


def rollback_target(record: ModelRecord, environment: str) -> tuple[int | None, list[str]]:
    """The version a rollback of ``environment`` goes to, and why more recent ones were skipped.

    Candidates are the versions the environment served, most recent first (the pointer's previous
    version, then the history). A version rolled back from is not a candidate again until it is
    promoted anew.
    """
    current = record.env_version(environment)
    served: list[int] = []
    rolled_back_from: set[int] = set()
    for e in record.history:
        before, after = e.before or {}, e.after or {}
        if e.action not in ("promote", "rollback") or after.get("environment") != environment:
            continue
        if e.action == "rollback" and isinstance(before.get("version"), int):
            rolled_back_from.add(before["version"])
        if isinstance(after.get("version"), int):
            if e.action == "promote":
                rolled_back_from.discard(after["version"])
            served.append(after["version"])
    pointer = record.environments.get(environment)
    order = [pointer.previous] if pointer is not None and pointer.previous is not None else []
    order += list(reversed(served))
    skipped: list[str] = []
    seen: set[int] = set()
    for number in order:
        if number in seen or number == current:
            continue
        seen.add(number)
        version = record.version(number)
        if version is None:
            continue
        latest = record.latest_eval(version.digest)
        if number in rolled_back_from:
            skipped.append(f"{record.name}@{number}: rolled back from")
        elif version.deprecated:
            skipped.append(f"{record.name}@{number}: deprecated")
        elif latest is not None and not latest.passed:
            skipped.append(f"{record.name}@{number}: its latest evaluation failed ({latest.suite})")
        else:
            return number, skipped
    return None, skipped


class Registry:
    """Operations on a registry store, each recorded in history with actor, time and reason."""

    def __init__(self, store: Store, actor: str | None = None,
                 on_change: hooks.Listener | None = None) -> None:
        settings = get_settings()
        self.store = store
        self.on_change = on_change  # besides the process-wide listeners of registry.hooks
        self.actor = actor or settings.resolved_actor()
        file_config = settings.file_config()
        self.extra_strict = tuple(file_config.strict_model_ids)
        self.require_flow_evaluation = file_config.require_flow_evaluation

    @property
    def uri(self) -> str:
        return self.store.uri

    # -- helpers --------------------------------------------------------------------------------
    def _event(self, action: str, model: str, *, version: int | None = None, reason: str | None = None,
               before: Any = None, after: Any = None, forced: bool = False) -> HistoryEvent:
        return HistoryEvent(id=uuid.uuid4().hex, time=utcnow(), actor=self.actor, action=action,
                            model=model, version=version, reason=reason, before=before, after=after,
                            forced=forced)

    def _change(self, name: str, fn: Callable[[ModelRecord], ModelRecord | None]) -> ModelRecord:
        """Apply ``fn`` to an existing model atomically; ModelNotFound when absent."""
        def mutate(current: ModelRecord | None) -> ModelRecord | None:
            if current is None:
                raise self._unknown_model(name)
            return fn(current)

        result = self._write(name, mutate)
        return result if result is not None else self.get_model(name)

    def _write(self, name: str, mutate: Callable[[ModelRecord | None], ModelRecord | None]) -> ModelRecord | None:
        """``store.update`` and then the change listeners, with the history event the write appended."""
        before = {"events": 0}

        def counted(current: ModelRecord | None) -> ModelRecord | None:
            before["events"] = len(current.history) if current is not None else 0
            return mutate(current)

        result = self.store.update(name, counted)
        if result is not None:  # one write may append several events (an analysis, a promotion, a stop)
            for event in result.history[before["events"]:]:
                hooks.notify(event, result, [self.on_change] if self.on_change else None)
        return result

    @staticmethod
    def _with(record: ModelRecord, event: HistoryEvent, **changes: Any) -> ModelRecord:
        return record.model_copy(update={**changes, "history": [*record.history, event]})

    @staticmethod
    def _version(record: ModelRecord, number: int) -> Version:
        v = record.version(number)
        if v is None:
            raise VersionNotFound(f"unknown version {record.name}@{number} "
                                  f"(versions: 1..{len(record.versions)})")
        return v

    # -- reads ----------------------------------------------------------------------------------
    def init(self) -> bool:
        """Create the registry if missing; True when created."""
        return self.store.initialize()

    def list_models(self) -> list[ModelRecord]:
        """Every model, sorted by name."""
        return sorted(self.store.read_all(), key=lambda r: r.name)

    def get_model(self, name: str) -> ModelRecord:
        """One model; ModelNotFound when absent."""
        record = self.store.read(check_name(name))
        if record is None:
            raise self._unknown_model(name)
        return record

    def _unknown_model(self, name: str) -> ModelNotFound:
        """ModelNotFound naming the closest registered name, when one is close."""
        try:
            names = self.store.names() if self.store.exists() else []
        except Exception:  # noqa: BLE001 - a suggestion must never hide the real error
            names = []
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return ModelNotFound(f"unknown model {name!r} in {self.uri}{hint}")

    def get_version(self, name: str, ref: int | str | None) -> Version:
        """A version by number or environment name (None: production, else the latest)."""
        record = self.get_model(name)
        return self.version_of(record, ref)

    def version_of(self, record: ModelRecord, ref: int | str | None) -> Version:
        """Resolve a reference against a record already read."""
        if isinstance(ref, int):
            return self._version(record, ref)
        if ref is None:
            number = record.env_version("production") or (record.versions[-1].number if record.versions else None)
            if number is None:
                raise VersionNotFound(f"model {record.name!r} has no versions")
            return self._version(record, number)
        if ref not in ENVIRONMENTS:
            raise InvalidInput(f"unknown environment {ref!r}; one of {', '.join(ENVIRONMENTS)}",
                               field="environment")
        number = record.env_version(ref)
        if number is None:
            raise VersionNotFound(f"{record.name}@{ref}: no version in {ref}")
        return self._version(record, number)

    def history(self, name: str | None = None) -> list[HistoryEvent]:
        """Events of one model, or of every model, oldest first."""
        records = [self.get_model(name)] if name else self.store.read_all()
        return sorted((e for r in records for e in r.history), key=lambda e: (e.time, e.id))

    def read_aux(self, key: str) -> bytes | None:
        """A side document kept beside the registry."""
        return self.store.read_aux(key)

    def write_aux(self, key: str, data: bytes) -> None:
        """Write a side document."""
        self.store.write_aux(key, data)

    # -- versions -------------------------------------------------------------------------------
    def register(self, name: str, spec: VersionSpec | dict[str, Any], *, reason: str | None = None,
                 source_file: str | None = None) -> tuple[Version, bool]:
        """Register a configuration; an identical configuration returns the existing version."""
        if "@" in name:
            raise InvalidInput(f"register takes a model name, not a reference: {name!r} (the version number "
                               "is assigned by the registry)", field="name")
        check_name(name)
        if not isinstance(spec, VersionSpec):
            spec = parse_spec(spec, source=source_file or "<input>")
        config = spec.config()
        digest = config.digest()
        model_fields = spec.model_fields_given()
        if "kind" in model_fields and model_fields["kind"] not in MODEL_KINDS:
            raise InvalidInput(f"unknown kind {model_fields['kind']!r}; one of {', '.join(MODEL_KINDS)}",
                               file=source_file, field="kind")
        outcome: dict[str, Any] = {}

        if "kind" not in model_fields and (spec.dimension or "embed" in config.model_id.lower()):
            inferred_kind: dict[str, Any] = {"kind": "embedding"}
        else:
            inferred_kind = {}

        def mutate(current: ModelRecord | None) -> ModelRecord | None:
            record = current or ModelRecord(name=name, **{**inferred_kind, **model_fields})
            if current is not None:
                differing = {k: v for k, v in model_fields.items() if getattr(current, k) != v}
                if differing:
                    raise InvalidInput(f"model fields {sorted(differing)} differ from the registered model; "
                                       f"change them with `modelctl model set {name}`", file=source_file,
                                       field=sorted(differing)[0])
            existing = record.by_digest(digest)
            if existing is not None:
                outcome.update(version=existing, created=False)
                return None
            version = Version(number=len(record.versions) + 1, digest=digest, config=config,
                              created_at=utcnow(), created_by=self.actor, **spec.metadata())
            event = self._event("register", name, version=version.number, reason=reason,
                                after={"version": version.number, "digest": digest})
            outcome.update(version=version, created=True)
            return self._with(record, event, versions=[*record.versions, version])

        self._write(name, mutate)
        return outcome["version"], outcome["created"]

    def promote(self, name: str, version: int, to: str, *, reason: str | None, force: bool = False,
                migration_acknowledged: bool = False) -> Version:
        """Point an environment at a version, enforcing the production gates.

        A change of embedding model or dimension in production also needs ``migration_acknowledged`` (its
        plan is recorded). Promoting a running experiment's treatment to production completes the
        experiment (shipped); promoting anything else there stops it, since its control no longer serves
        production.
        """
        if to not in ENVIRONMENTS:
            raise InvalidInput(f"unknown environment {to!r}; one of {', '.join(ENVIRONMENTS)}", field="to")
        reason = _require_reason(reason, "promote")
        return self._version(self._change(name, lambda r: self._promoted(r, version, to, reason, force,
                                                                         migration_acknowledged)), version)

    def _promoted(self, record: ModelRecord, version: int, to: str, reason: str, force: bool,
                  migration_acknowledged: bool = False, approved: bool = False) -> ModelRecord | None:
        """``record`` with ``to`` pointing at ``version`` (gates checked), or None when it already does.

        Under an approval policy for ``to`` (and unless ``approved``), the gates are checked and a pending
        request is recorded instead of moving the pointer.
        """
        name = record.name
        target = self._version(record, version)
        old = record.environments.get(to) or EnvPointer()
        if old.version == version:
            return None
        if not approved and self._approvals_required(to):
            return self._requested(record, version, to, reason, force)
        forced = False
        migration = policy.embedding_migration(record, target, to) if to == "production" else None
        if migration and not migration_acknowledged:
            raise PolicyViolation(f"refused: {name}@{version} changes the embedding space in production",
                                  [migration, "after planning the re-embedding, pass --migration-acknowledged"])
        if to == "production":
            decision = policy.production_gate(record, target, self.extra_strict, self.require_flow_evaluation)
            if not decision.ok:
                if decision.blocking or not force:
                    hint = [] if decision.blocking else ["override the evaluation gate with --force --reason"]
                    raise PolicyViolation(f"refused: {name}@{version} cannot go to production",
                                          [*decision.reasons, *hint])
                forced = True
        pointer = EnvPointer(version=version, previous=old.version if old.version is not None else old.previous,
                             updated_at=utcnow(), updated_by=self.actor, forced=forced, reason=reason)
        envs = {**record.environments, to: pointer}
        event = self._event("promote", name, version=version, reason=reason, forced=forced,
                            before={"environment": to, "version": old.version},
                            after={"environment": to, "version": version,
                                   **({"migration": migration} if migration else {})})
        updated = self._with(record.model_copy(update={"environments": envs}), event)
        running = updated.running_experiment()
        if to == "production" and running is not None:
            status = "shipped" if running.treatment == version else "stopped"
            why = (f"treatment promoted to production: {reason}" if status == "shipped"
                   else f"production moved to {name}@{version}, not this experiment's control: {reason}")
            updated = self._ended(updated, running, status, why)
        versions = restage(updated)
        if to == "production":  # the seed's deployed_date: when a version first reached production
            versions = [v.model_copy(update={"deployed_date": utcnow().date()})
                        if v.number == version and v.deployed_date is None else v for v in versions]
        return updated.model_copy(update={"versions": versions})

    def _ended(self, record: ModelRecord, exp: Experiment, status: str, reason: str, **extra: Any) -> ModelRecord:
        """``record`` with ``exp`` ended in ``status`` (and an experiment_stop event)."""
        new = exp.model_copy(update={"status": status, "stopped_at": utcnow(), **extra})
        event = self._event("experiment_stop", record.name, version=exp.treatment, reason=reason,
                            before={"experiment": exp.id, "status": exp.status},
                            after={"experiment": exp.id, "status": status, **extra})
        return self._with(record, event, experiments=[new if e.id == exp.id else e for e in record.experiments])

    def apply_experiment_decision(self, name: str, experiment_id: str, *, analysis: AnalysisRecord, action: str,
                                  reason: str, expected_step: int | None = None, split: float | None = None,
                                  step_index: int | None = None) -> Experiment:
        """Record an analysis and apply what it decided in one atomic write, re-checking every gate.

        ``action`` is ``record`` (the analysis only), ``advance`` (a canary's next step), ``abort`` /
        ``rollback`` (all traffic back to the control), or ``ship`` / ``complete`` (promote the treatment
        to production through the normal gates and end the experiment). A refused application raises
        ``PolicyViolation`` and writes nothing, not even the analysis.
        """
        if action not in ("record", "advance", "abort", "rollback", "ship", "complete"):
            raise InvalidInput(f"unknown experiment action {action!r}", field="action")

        def fn(record: ModelRecord) -> ModelRecord:
            exp = next((e for e in record.experiments if e.id == experiment_id), None)
            if exp is None:
                raise VersionNotFound(f"unknown experiment {experiment_id!r} on {name}")
            if action != "record":
                if exp.status != "running":
                    raise PolicyViolation(f"refused: {experiment_id} is {exp.status}; nothing applied")
                if expected_step is not None and exp.step_index != expected_step:
                    raise PolicyViolation(f"refused: {experiment_id} moved to step {exp.step_index + 1} since this "
                                          f"analysis of step {expected_step + 1}; nothing applied")
            noted = exp.model_copy(update={"analyses": [*exp.analyses, analysis]})
            event = self._event("experiment_analysis", name, version=exp.treatment, reason=reason,
                                after={"experiment": exp.id, "decision": analysis.decision, "action": action})
            out = self._with(record, event, experiments=[noted if e.id == exp.id else e for e in record.experiments])
            if action == "advance":
                if split is None or step_index is None or not 0 < split < 1:
                    raise InvalidInput("an advance needs the next step's split in (0, 1)", field="split")
                moved = noted.model_copy(update={"split": split, "step_index": step_index,
                                                 "step_started_at": utcnow()})
                event = self._event("experiment_update", name, version=exp.treatment, reason=reason,
                                    before={"experiment": exp.id, "split": exp.split, "step_index": exp.step_index},
                                    after={"experiment": exp.id, "split": split, "step_index": step_index})
                return self._with(out, event, experiments=[moved if e.id == exp.id else e for e in out.experiments])
            if action in ("abort", "rollback"):
                return self._ended(out, noted, "rolled_back", reason, **({"split": 0.0} if exp.kind == "canary" else {}))
            if action in ("ship", "complete"):
                shipped = self._ended(out, noted, "shipped", reason)
                promoted = self._promoted(shipped, exp.treatment, "production", reason, force=False)
                return promoted if promoted is not None else shipped
            return out

        record = self._change(name, fn)
        return next(e for e in record.experiments if e.id == experiment_id)

    def rollback(self, name: str, environment: str, *, reason: str | None) -> Version:
        """Point an environment back at its previous *good* version: walking back through the versions it
        served, skip the deprecated, those whose latest evaluation failed, and those rolled back from."""
        if environment not in ENVIRONMENTS:
            raise InvalidInput(f"unknown environment {environment!r}", field="env")
        reason = _require_reason(reason, "rollback")

        def fn(record: ModelRecord) -> ModelRecord:
            old = record.environments.get(environment)
            if old is None or old.version is None:
                raise PolicyViolation(f"refused: {name} has no rollback target in {environment}")
            target, skipped = rollback_target(record, environment)
            if target is None:
                raise PolicyViolation(f"refused: {name} has no rollback target in {environment} (no previous "
                                      "good version)", skipped)
            pointer = EnvPointer(version=target, previous=old.version, updated_at=utcnow(),
                                 updated_by=self.actor, reason=reason)
            envs = {**record.environments, environment: pointer}
            event = self._event("rollback", name, version=target, reason=reason,
                                before={"environment": environment, "version": old.version},
                                after={"environment": environment, "version": target,
                                       **({"skipped": skipped} if skipped else {})})
            updated = record.model_copy(update={"environments": envs})
            return self._with(updated, event, versions=restage(updated))

        record = self._change(name, fn)
        return self._version(record, record.env_version(environment) or 0)

    def annotate(self, name: str, version: int, *, reason: str | None = None, **metadata: Any) -> Version:
        """Change a version's metadata (pricing, corpus size, notes, ...): never its configuration or digest."""
        allowed = {"pricing", "corpus_size", "corpus_avg_tokens", "dimension", "notes", "description",
                   "retrain_schedule", "tags"}
        metadata = {k: v for k, v in metadata.items() if v is not None}
        unknown = set(metadata) - allowed
        if unknown:
            raise InvalidInput(f"not version metadata: {sorted(unknown)}", field=sorted(unknown)[0])
        if not metadata:
            raise InvalidInput("nothing to annotate: give --pricing, --corpus-size, --notes, ...", field="metadata")

        def fn(record: ModelRecord) -> ModelRecord | None:
            v = self._version(record, version)
            try:
                new = Version.model_validate({**v.model_dump(), **metadata})
            except ValidationError as exc:
                err = exc.errors()[0]
                raise InvalidInput(str(err["msg"]), field=".".join(str(x) for x in err["loc"])) from exc
            if new == v:
                return None
            before = {k: _plain(getattr(v, k)) for k in metadata}
            after = {k: _plain(getattr(new, k)) for k in metadata}
            versions = [new if x.number == version else x for x in record.versions]
            event = self._event("annotate", name, version=version, reason=reason, before=before, after=after)
            return self._with(record, event, versions=versions)

        return self._version(self._change(name, fn), version)

    def archive(self, name: str, version: int, *, reason: str | None) -> Version:
        """Archive a version no environment points at."""
        reason = _require_reason(reason, "archive")

        def fn(record: ModelRecord) -> ModelRecord | None:
            v = self._version(record, version)
            using = [e for e in ENVIRONMENTS if record.env_version(e) == version]
            if using:
                raise PolicyViolation(f"refused: {name}@{version} is in {', '.join(using)}; promote another "
                                      "version first")
            if v.stage == "archived":
                return None
            versions = [x.model_copy(update={"stage": "archived"}) if x.number == version else x
                        for x in record.versions]
            event = self._event("archive", name, version=version, reason=reason,
                                before={"stage": v.stage}, after={"stage": "archived"})
            return self._with(record, event, versions=versions)

        return self._version(self._change(name, fn), version)

    def set_deprecated(self, name: str, version: int, deprecated: bool, *, reason: str | None) -> Version:
        """Flag (or unflag) a version as deprecated."""
        reason = _require_reason(reason, "deprecate")

        def fn(record: ModelRecord) -> ModelRecord | None:
            v = self._version(record, version)
            if v.deprecated == deprecated:
                return None
            versions = [x.model_copy(update={"deprecated": deprecated}) if x.number == version else x
                        for x in record.versions]
            event = self._event("deprecate" if deprecated else "undeprecate", name, version=version,
                                reason=reason, before={"deprecated": v.deprecated}, after={"deprecated": deprecated})
            return self._with(record, event, versions=versions)

        return self._version(self._change(name, fn), version)

    def set_model_fields(self, name: str, *, reason: str | None = None, **fields: Any) -> ModelRecord:
        """Set purpose, owner, kind or capture_content of a model."""
        fields = {k: v for k, v in fields.items() if v is not None}
        unknown = set(fields) - {"purpose", "owner", "kind", "capture_content"}
        if unknown:
            raise InvalidInput(f"unknown model field(s): {sorted(unknown)}", field=sorted(unknown)[0])
        if "kind" in fields and fields["kind"] not in MODEL_KINDS:
            raise InvalidInput(f"unknown kind {fields['kind']!r}; one of {', '.join(MODEL_KINDS)}", field="kind")

        def fn(record: ModelRecord) -> ModelRecord | None:
            before = {k: getattr(record, k) for k in fields}
            if before == fields:
                return None
            event = self._event("model_update", name, reason=reason, before=before, after=fields)
            return self._with(record, event, **fields)

        return self._change(name, fn)

    def record_eval(self, name: str, version: int, *, suite: str, passed: bool,
                    scores: dict[str, float] | None = None, suite_digest: str | None = None,
                    decision: str | None = None, gates: dict[str, Any] | None = None,
                    baseline: str | None = None, flow_run_id: str | None = None, source: str = "manual",
                    reason: str | None = None, suite_uri: str | None = None) -> EvalRecord:
        """Record an evaluation result on a version's digest (the latest per digest is the gate)."""
        if not suite:
            raise InvalidInput("an evaluation record needs a suite name", field="suite")
        holder: dict[str, EvalRecord] = {}

        def fn(record: ModelRecord) -> ModelRecord:
            v = self._version(record, version)
            rec = EvalRecord(digest=v.digest, version=version, suite=suite, suite_digest=suite_digest,
                             suite_uri=suite_uri, passed=passed, decision=decision or ("passed" if passed else "failed"),
                             scores=scores or {}, gates=gates or {}, baseline=baseline,
                             flow_run_id=flow_run_id, source=source,  # type: ignore[arg-type]
                             time=utcnow(), actor=self.actor)
            holder["record"] = rec
            event = self._event("evaluate", name, version=version, reason=reason,
                                after={"suite": suite, "passed": passed, "decision": rec.decision,
                                       "digest": v.digest, "scores": rec.scores})
            return self._with(record, event, evaluations=[*record.evaluations, rec])

        self._change(name, fn)
        return holder["record"]

    # -- experiments ----------------------------------------------------------------------------
    def start_experiment(self, name: str, *, control: int, treatment: int, split: float, kind: str = "ab",
                         primary_metric: str = "quality_score", guardrails: dict[str, float] | None = None,
                         min_effect: float = 0.01, min_samples: int | None = None,
                         max_days: float | None = None, steps: list[float] | None = None,
                         step_min_samples: int | None = None, force: bool = False,
                         reason: str | None = None) -> Experiment:
        """Start an A/B test or canary splitting the model's production traffic."""
        if kind not in ("ab", "canary"):
            raise InvalidInput(f"unknown experiment kind {kind!r}", field="kind")
        _check_experiment_numbers(split=split, min_effect=min_effect, max_days=max_days, min_samples=min_samples,
                                  step_min_samples=step_min_samples, guardrails=guardrails, steps=steps)
        if steps:
            if any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(steps):
                raise InvalidInput("canary steps must be increasing percentages in (0, 100]", field="steps")
            split = steps[0] / 100
        if not 0 < split <= 1:
            raise InvalidInput(f"split must be in (0, 1], got {split}", field="split")
        if force:
            reason = _require_reason(reason, "a forced experiment start")
        holder: dict[str, Experiment] = {}

        def fn(record: ModelRecord) -> ModelRecord:
            if policy.is_embedding(record):
                raise PolicyViolation(f"refused: {name} is an embedding model; an experiment would split users "
                                      "across two vector spaces (queries embedded by one model, documents by "
                                      "the other); migrate the corpus and promote with --migration-acknowledged")
            running = record.running_experiment()
            if running is not None:
                raise PolicyViolation(f"refused: experiment {running.id} is already running on {name}; "
                                      "stop it first")
            self._version(record, control)
            target = self._version(record, treatment)
            if control == treatment:
                raise InvalidInput("control and treatment are the same version", field="treatment")
            decision = policy.production_gate(record, target, self.extra_strict)
            forced = False
            if not decision.ok:
                if decision.blocking or not force:
                    raise PolicyViolation(f"refused: {name}@{treatment} cannot take production traffic",
                                          decision.reasons)
                forced = True
            now = utcnow()
            exp = Experiment(
                id=f"{name}-exp-{len(record.experiments) + 1}", kind=kind,  # type: ignore[arg-type]
                control=control, treatment=treatment, split=split, salt=secrets.token_hex(8),
                started_at=now, ends_at=now + timedelta(days=max_days) if max_days else None,
                primary_metric=primary_metric, guardrails=guardrails or {}, min_effect=min_effect,
                min_samples=min_samples, max_days=max_days, steps=steps, step_min_samples=step_min_samples,
                forced=forced, reason=reason, step_started_at=now)
            holder["exp"] = exp
            event = self._event("experiment_start", name, version=treatment, reason=reason, forced=forced,
                                after={"experiment": exp.id, "kind": kind, "control": control,
                                       "treatment": treatment, "split": split})
            return self._with(record, event, experiments=[*record.experiments, exp])

        self._change(name, fn)
        return holder["exp"]

    def _replace_experiment(self, name: str, experiment_id: str, action: str, reason: str | None,
                            changes: Callable[[Experiment], dict[str, Any]]) -> Experiment:
        holder: dict[str, Experiment] = {}

        def fn(record: ModelRecord) -> ModelRecord | None:
            exp = next((e for e in record.experiments if e.id == experiment_id), None)
            if exp is None:
                raise VersionNotFound(f"unknown experiment {experiment_id!r} on {name}")
            update = changes(exp)
            new = exp.model_copy(update=update)
            holder["exp"] = new
            if new == exp:
                return None
            before = {k: getattr(exp, k) for k in update if k != "analyses"}
            after = {k: v for k, v in update.items() if k != "analyses"}
            if "analyses" in update:
                after["decision"] = update["analyses"][-1].decision
            event = self._event(action, name, version=exp.treatment, reason=reason,
                                before={"experiment": exp.id, **before}, after={"experiment": exp.id, **after})
            return self._with(record, event,
                              experiments=[new if e.id == experiment_id else e for e in record.experiments])

        self._change(name, fn)
        return holder["exp"]

    def update_experiment(self, name: str, experiment_id: str, *, split: float | None = None,
                          step_index: int | None = None, status: str | None = None,
                          analysis: AnalysisRecord | None = None, reason: str | None = None) -> Experiment:
        """Change a running experiment's split or step, or attach an analysis."""
        if split is not None and not 0 <= split <= 1:
            raise InvalidInput(f"split must be in [0, 1], got {split}", field="split")

        def changes(exp: Experiment) -> dict[str, Any]:
            out: dict[str, Any] = {}
            if split is not None:
                out["split"] = split
            if step_index is not None:
                out["step_index"] = step_index
                out["step_started_at"] = utcnow()
            if status is not None:
                out["status"] = status
                if status != "running":
                    out["stopped_at"] = utcnow()
            if analysis is not None:
                out["analyses"] = [*exp.analyses, analysis]
            return out

        action = "experiment_analysis" if analysis is not None and split is None else "experiment_update"
        return self._replace_experiment(name, experiment_id, action, reason, changes)

    def stop_experiment(self, name: str, experiment_id: str, *, status: str = "stopped",
                        reason: str | None) -> Experiment:
        """End an experiment; production traffic goes back to the current production version."""
        if status not in ("stopped", "shipped", "rolled_back"):
            raise InvalidInput(f"unknown final status {status!r}", field="status")
        reason = _require_reason(reason, "experiment stop")

        def changes(exp: Experiment) -> dict[str, Any]:
            if exp.status != "running":
                raise PolicyViolation(f"refused: experiment {experiment_id} is already {exp.status}")
            return {"status": status, "stopped_at": utcnow()}

        return self._replace_experiment(name, experiment_id, "experiment_stop", reason, changes)

    def find_experiment(self, experiment_id: str) -> tuple[str, Experiment]:
        """The model and experiment with this id."""
        model = experiment_id.rsplit("-exp-", 1)[0]
        candidates = [model] if "-exp-" in experiment_id else self.store.names()
        for name in candidates:
            record = self.store.read(name)
            for exp in record.experiments if record else []:
                if exp.id == experiment_id:
                    return name, exp
        raise VersionNotFound(f"unknown experiment {experiment_id!r}")

    # -- deprecations ---------------------------------------------------------------------------
    def upsert_deprecation_plan(self, name: str, plan: DeprecationPlan, *, reason: str | None) -> bool:
        """Create or update the plan for ``plan.model_id``; False (and no write) when unchanged."""
        changed = {"value": False}

        def fn(record: ModelRecord) -> ModelRecord | None:
            old = next((p for p in record.deprecation_plans if p.model_id == plan.model_id), None)
            if old is not None and old.model_copy(update={"updated_at": None}) == plan.model_copy(
                    update={"updated_at": None}):
                return None
            new = plan if plan.updated_at else plan.model_copy(update={"updated_at": utcnow()})
            plans = [new if p.model_id == plan.model_id else p for p in record.deprecation_plans]
            if old is None:
                plans.append(new)
            changed["value"] = True
            event = self._event("deprecation_update", name, reason=reason,
                                before=old.model_dump(mode="json", exclude_none=True) if old else None,
                                after=new.model_dump(mode="json", exclude_none=True))
            return self._with(record, event, deprecation_plans=plans)

        self._change(name, fn)
        return changed["value"]

    def drop_deprecation_plan(self, name: str, model_id: str, *, reason: str | None) -> bool:
        """Remove the plan for ``model_id`` (a ``none-announced`` plan whose versions no longer serve, or that a
        notice now covers); False (and no write) when there is none."""
        changed = {"value": False}

        def fn(record: ModelRecord) -> ModelRecord | None:
            old = next((p for p in record.deprecation_plans if p.model_id == model_id), None)
            if old is None:
                return None
            changed["value"] = True
            event = self._event("deprecation_update", name, reason=reason,
                                before=old.model_dump(mode="json", exclude_none=True), after=None)
            return self._with(record, event, deprecation_plans=[p for p in record.deprecation_plans
                                                                if p.model_id != model_id])

        self._change(name, fn)
        return changed["value"]

    # -- approvals (registry/approvals.py holds the rules) ------------------------------------------
    def _approvals_required(self, environment: str) -> int:
        from registry.approvals import required_approvals

        return required_approvals(self, environment)

    def _requested(self, record: ModelRecord, version: int, to: str, reason: str, force: bool) -> ModelRecord | None:
        from registry.approvals import request_promotion

        return request_promotion(self, record, version, to, reason, force)

    # -- validation -----------------------------------------------------------------------------
    def validate(self) -> policy.ValidationReport:
        """Every policy violation in the registry (and warnings that do not fail it)."""
        return policy.validate_records(self.list_models(), self.extra_strict, utcnow().date())


def open_registry(uri: str | None = None, actor: str | None = None) -> Registry:
    """A Registry on the store at ``uri`` (default: MODELCTL_REGISTRY or ./model-registry)."""
    return Registry(open_store(uri or get_settings().registry), actor=actor)
