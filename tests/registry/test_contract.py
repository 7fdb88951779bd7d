"""The store contract: the same behaviour on every backend (file and S3)."""

from __future__ import annotations

import pytest

from registry.entities import DeprecationPlan
from registry.errors import InvalidInput, ModelNotFound, PolicyViolation, VersionNotFound
from registry.service import Registry, open_registry
from tests.registry.conftest import config, snapshot_bytes


def _passing(reg: Registry, name: str, number: int) -> None:
    reg.record_eval(name, number, suite="smoke", passed=True, scores={"accuracy": 0.97})


def test_register_assigns_numbers_and_digest(reg: Registry) -> None:
    v1, created1 = reg.register("summarizer", config(), reason="first")
    v2, created2 = reg.register("summarizer", config(temperature=0.2))
    assert (v1.number, v2.number, created1, created2) == (1, 2, True, True)
    assert len(v1.digest) == 64 and v1.digest != v2.digest
    import hashlib
    import json

    canonical = {k: v for k, v in config().items() if v is not None}
    assert v1.digest == hashlib.sha256(json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_identical_configuration_is_idempotent(reg: Registry, store_uri: str) -> None:
    v1, _ = reg.register("summarizer", config(), reason="first")
    before = snapshot_bytes(store_uri)
    again, created = reg.register("summarizer", {**config(), "description": "metadata is outside the digest"})
    assert not created and again.number == v1.number
    assert snapshot_bytes(store_uri) == before
    assert [e.action for e in reg.history("summarizer")] == ["register"]


def test_versions_are_immutable(reg: Registry) -> None:
    v1, _ = reg.register("summarizer", config())
    reg.register("summarizer", config(system_prompt="Other"))
    reg.record_eval("summarizer", 1, suite="s", passed=True)
    reg.promote("summarizer", 1, "production", reason="go")
    stored = reg.get_version("summarizer", 1)
    assert stored.config == v1.config and stored.digest == v1.digest == stored.config.digest()
    with pytest.raises(Exception):
        stored.config.temperature = 0.9  # type: ignore[misc]


def test_production_gate_needs_a_passing_eval_for_the_exact_digest(reg: Registry, store_uri: str) -> None:
    reg.register("summarizer", config())
    reg.register("summarizer", config(temperature=0.1))
    _passing(reg, "summarizer", 2)  # a pass on another digest does not count
    before = snapshot_bytes(store_uri)
    with pytest.raises(PolicyViolation) as exc:
        reg.promote("summarizer", 1, "production", reason="ship")
    assert "no evaluation record" in str(exc.value)
    reg.record_eval("summarizer", 1, suite="s", passed=False)
    with pytest.raises(PolicyViolation, match="did not pass"):
        reg.promote("summarizer", 1, "production", reason="ship")
    reg.record_eval("summarizer", 1, suite="s", passed=True)
    before = snapshot_bytes(store_uri)
    assert reg.promote("summarizer", 1, "production", reason="ship").stage == "production"
    assert snapshot_bytes(store_uri) != before


def test_latest_eval_record_decides(reg: Registry) -> None:
    reg.register("summarizer", config())
    _passing(reg, "summarizer", 1)
    reg.record_eval("summarizer", 1, suite="s", passed=False)
    with pytest.raises(PolicyViolation):
        reg.promote("summarizer", 1, "production", reason="ship")


def test_force_overrides_eval_gate_only_and_is_recorded(reg: Registry) -> None:
    reg.register("summarizer", config())
    with pytest.raises(InvalidInput):
        reg.promote("summarizer", 1, "production", reason="", force=True)
    reg.promote("summarizer", 1, "production", reason="incident hotfix", force=True)
    event = reg.history("summarizer")[-1]
    assert event.action == "promote" and event.forced and event.reason == "incident hotfix"
    assert reg.get_model("summarizer").environments["production"].forced


@pytest.mark.parametrize("model_id", ["claude-sonnet-4-5", "claude-sonnet-4-5-*", "claude-3-5-sonnet-latest",
                                      "claude-sonnet-*"])
def test_unpinned_never_reaches_production_even_forced(reg: Registry, store_uri: str, model_id: str) -> None:
    reg.register("summarizer", config(model_id=model_id))
    _passing(reg, "summarizer", 1)
    before = snapshot_bytes(store_uri)
    for force in (False, True):
        with pytest.raises(PolicyViolation, match="pinning"):
            reg.promote("summarizer", 1, "production", reason="x", force=force)
    assert snapshot_bytes(store_uri) == before
    reg.promote("summarizer", 1, "staging", reason="staging has no pinning gate")


def test_rollback_round_trip(reg: Registry) -> None:
    for t in (0.1, 0.2, 0.3):
        v, _ = reg.register("summarizer", config(temperature=t))
        _passing(reg, "summarizer", v.number)
        reg.promote("summarizer", v.number, "production", reason=f"t={t}")
    model = reg.get_model("summarizer")
    assert model.environments["production"].version == 3 and model.environments["production"].previous == 2
    assert [v.stage for v in model.versions] == ["archived", "archived", "production"]
    assert reg.rollback("summarizer", "production", reason="regression").number == 2
    model = reg.get_model("summarizer")
    assert model.environments["production"].previous == 3
    assert [v.stage for v in model.versions] == ["archived", "production", "archived"]
    # never back to the version just rolled back from: the previous good one
    assert reg.rollback("summarizer", "production", reason="again").number == 1


def test_rollback_without_target_is_refused(reg: Registry, store_uri: str) -> None:
    reg.register("summarizer", config())
    _passing(reg, "summarizer", 1)
    reg.promote("summarizer", 1, "production", reason="first")
    before = snapshot_bytes(store_uri)
    with pytest.raises(PolicyViolation, match="no rollback target"):
        reg.rollback("summarizer", "production", reason="x")
    assert snapshot_bytes(store_uri) == before


def test_unknown_model_and_version(reg: Registry, store_uri: str) -> None:
    reg.register("summarizer", config())
    before = snapshot_bytes(store_uri)
    with pytest.raises(ModelNotFound):
        reg.promote("nope", 1, "staging", reason="x")
    with pytest.raises(VersionNotFound):
        reg.promote("summarizer", 7, "staging", reason="x")
    with pytest.raises(VersionNotFound):
        reg.get_version("summarizer", "production")
    assert snapshot_bytes(store_uri) == before


def test_history_records_every_change(reg: Registry) -> None:
    reg.register("summarizer", config(), reason="r1")
    reg.record_eval("summarizer", 1, suite="s", passed=True)
    reg.promote("summarizer", 1, "staging", reason="stage")
    reg.promote("summarizer", 1, "production", reason="ship")
    reg.register("summarizer", config(temperature=0.5), reason="r2")
    _passing(reg, "summarizer", 2)
    reg.promote("summarizer", 2, "production", reason="ship2")
    reg.rollback("summarizer", "production", reason="back")
    reg.set_deprecated("summarizer", 2, True, reason="bad")
    assert reg.archive("summarizer", 2, reason="already archived: no change").stage == "archived"
    reg.register("summarizer", config(temperature=0.9), reason="r3")
    reg.archive("summarizer", 3, reason="abandoned")
    events = reg.history("summarizer")
    assert [e.action for e in events] == ["register", "evaluate", "promote", "promote", "register", "evaluate",
                                          "promote", "rollback", "deprecate", "register", "archive"]
    assert all(e.actor == "tester" and e.time.tzinfo is not None for e in events)
    assert events[7].before == {"environment": "production", "version": 2}
    assert events[7].after == {"environment": "production", "version": 1}


def test_experiment_rules(reg: Registry) -> None:
    for t in (0.1, 0.2):
        reg.register("summarizer", config(temperature=t))
    _passing(reg, "summarizer", 1)
    reg.promote("summarizer", 1, "production", reason="base")
    with pytest.raises(PolicyViolation, match="evaluation"):
        reg.start_experiment("summarizer", control=1, treatment=2, split=0.1)
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.1, force=True, reason="early test")
    assert exp.forced and exp.status == "running"
    with pytest.raises(PolicyViolation, match="already running"):
        reg.start_experiment("summarizer", control=1, treatment=2, split=0.1, force=True, reason="again")
    name, found = reg.find_experiment(exp.id)
    assert name == "summarizer" and found.salt == exp.salt
    stopped = reg.stop_experiment("summarizer", exp.id, reason="done")
    assert stopped.status == "stopped"
    assert [e.action for e in reg.history("summarizer")][-2:] == ["experiment_start", "experiment_stop"]


def test_deprecation_plan_upsert_is_idempotent(reg: Registry, store_uri: str) -> None:
    reg.register("summarizer", config())
    plan = DeprecationPlan(model_id="claude-sonnet-4-5-20250929", provider="anthropic", affected_versions=[1],
                           replacement="claude-sonnet-5")
    assert reg.upsert_deprecation_plan("summarizer", plan, reason="scan")
    before = snapshot_bytes(store_uri)
    assert not reg.upsert_deprecation_plan("summarizer", plan, reason="scan again")
    assert snapshot_bytes(store_uri) == before


def test_aux_documents(reg: Registry) -> None:
    assert reg.read_aux("deprecation-scan.json") is None
    reg.write_aux("deprecation-scan.json", b'{"a": 1}')
    assert reg.read_aux("deprecation-scan.json") == b'{"a": 1}'


def test_uninitialised_store_is_reported(tmp_path) -> None:
    from registry.errors import RegistryNotFound

    with pytest.raises(RegistryNotFound, match="modelctl init"):
        open_registry(str(tmp_path / "missing")).list_models()
