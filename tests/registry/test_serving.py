"""The serving snapshot: answers from memory, refreshes on change, routes experiments, warns once."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest

from registry.entities import DeprecationPlan
from registry.errors import ModelNotFound, VersionNotFound
from registry.routing import assign_arm
from registry.service import Registry
from registry.serving import ServingSnapshot
from tests.registry.conftest import config


def _ship(reg: Registry, temperature: float) -> int:
    v, _ = reg.register("summarizer", config(temperature=temperature))
    reg.record_eval("summarizer", v.number, suite="s", passed=True)
    reg.promote("summarizer", v.number, "production", reason="ship")
    return v.number


def test_resolve_and_refresh(reg: Registry, store_uri: str) -> None:
    _ship(reg, 0.1)
    snap = ServingSnapshot(store_uri, refresh_seconds=0)
    first = snap.resolve("summarizer")
    assert (first.version, first.arm, first.config.temperature) == (1, None, 0.1)
    assert snap.resolve("summarizer") is first  # prebuilt, no store read
    _ship(reg, 0.2)
    assert snap.resolve("summarizer").version == 2
    with pytest.raises(ModelNotFound):
        snap.resolve("nope")
    with pytest.raises(VersionNotFound):
        snap.resolve("summarizer", "staging")


def test_no_refresh_before_interval(reg: Registry, store_uri: str) -> None:
    _ship(reg, 0.1)
    snap = ServingSnapshot(store_uri, refresh_seconds=3600)
    _ship(reg, 0.2)
    assert snap.resolve("summarizer").version == 1  # served from memory until the next check
    snap.reload()
    assert snap.resolve("summarizer").version == 2


def test_experiment_routing_matches_assign_arm(reg: Registry, store_uri: str) -> None:
    _ship(reg, 0.1)
    reg.register("summarizer", config(temperature=0.2))
    reg.record_eval("summarizer", 2, suite="s", passed=True)
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.3)
    snap = ServingSnapshot(store_uri, refresh_seconds=0)
    arms = {}
    for i in range(500):
        res = snap.resolve("summarizer", user_id=f"user-{i}")
        assert res.arm == assign_arm(exp.salt, f"user-{i}", 0.3)
        assert res.version == (2 if res.arm == "treatment" else 1) and res.experiment_id == exp.id
        arms[f"user-{i}"] = res.arm
    assert snap.resolve("summarizer").arm == "control"  # no user id: control
    assert snap.resolve("summarizer", "production", "user-1").arm == arms["user-1"]  # sticky
    reg.stop_experiment("summarizer", exp.id, reason="done")
    assert snap.resolve("summarizer", user_id="user-1").arm is None


def test_deprecation_warning_logged_once(reg: Registry, store_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    _ship(reg, 0.1)
    past = date.today() - timedelta(days=1)
    reg.upsert_deprecation_plan("summarizer", DeprecationPlan(
        model_id="claude-sonnet-4-5-20250929", severity="warning", soft_deadline=past,
        hard_deadline=past + timedelta(days=30), affected_versions=[1], replacement="claude-sonnet-5"), reason="scan")
    snap = ServingSnapshot(store_uri, refresh_seconds=0)
    with caplog.at_level(logging.WARNING, logger="modelctl.serving"):
        for _ in range(50):
            snap.resolve("summarizer")
    warnings = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(warnings) == 1 and "claude-sonnet-5" in warnings[0].getMessage()


def test_stale_serving_cache_is_never_trusted(reg: Registry, store_uri: str) -> None:
    """A crash between the model write and its derived serving document must not serve stale data."""
    _ship(reg, 0.1)
    _ship(reg, 0.2)
    store = reg.store
    stale = store.read_serving(["summarizer"], store.signatures())["summarizer"]
    assert stale.env_version("production") == 2 and not stale.history  # the cache is a reduced view
    record = store.read("summarizer")
    assert record is not None
    rolled = record.model_copy(update={"environments": {
        "production": record.environments["production"].model_copy(update={"version": 1, "previous": 2})}})
    from registry.stores.base import encode_record

    if store_uri.startswith("s3://"):
        import boto3

        bucket, _, prefix = store_uri[5:].partition("/")
        boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}models/summarizer.yaml", Body=encode_record(rolled))
    else:
        from pathlib import Path

        Path(store_uri, "models", "summarizer.yaml").write_bytes(encode_record(rolled) + b"\n")
    assert store.read_serving(["summarizer"], store.signatures()) == {}
    assert ServingSnapshot(store_uri).resolve("summarizer").version == 1


def test_public_resolve_reads_the_settings_once_per_interval_and_follows_a_new_registry(
        tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """``modelctl.resolve`` builds no settings per call; a changed MODELCTL_REGISTRY is seen on refresh."""
    import modelctl
    from registry import serving
    from registry.service import open_registry

    uris = []
    for name, temperature in (("one", 0.1), ("two", 0.2)):
        uri = f"{tmp_path}/{name}"
        reg = open_registry(uri, actor="tester")
        reg.init()
        _ship(reg, temperature)
        uris.append(uri)
    monkeypatch.setenv("MODELCTL_REGISTRY", uris[0])
    monkeypatch.setenv("MODELCTL_SNAPSHOT_REFRESH_SECONDS", "3600")
    serving.reset_default()
    calls = []
    real = serving.serving_settings
    monkeypatch.setattr(serving, "serving_settings", lambda: calls.append(1) or real())
    first = modelctl.resolve("summarizer")
    built = len(calls)
    for _ in range(10_000):
        assert modelctl.resolve("summarizer") is first
    assert len(calls) == built  # not one settings lookup on the hot path
    monkeypatch.setenv("MODELCTL_REGISTRY", uris[1])
    assert modelctl.resolve("summarizer") is first  # until the refresh interval passes
    serving._current.snapshot._next_check = 0.0  # type: ignore[union-attr]  # the interval has passed
    modelctl.resolve("summarizer")
    assert modelctl.resolve("summarizer").config.temperature == 0.2
    serving.reset_default()


@pytest.mark.parametrize("text", [
    None,  # as new_meta writes it
    b"kind: modelctl-registry\nschema_version: 2\ncreated_at: '2025-01-01T00:00:00Z'\n",
    b"kind: modelctl-registry\nschema_version: 3\ncreated_at: 2025-01-01T00:00:00Z\n",
    b"kind: modelctl-registry\nschema_version: 3\ncreated_at: '2025-01-01T00:00:00Z'\nnote: kept\n",
    b"schema_version: 3\nkind: modelctl-registry\n",
    b"models: {}\n",
])
def test_the_registry_document_reads_as_yaml_would(text: bytes | None) -> None:
    """The store's own registry.yaml is read without the YAML parser, with the parser's result."""
    from registry import yamlio
    from registry.stores.base import new_meta, parse_meta

    data = yamlio.dumps(new_meta()).encode() if text is None else text
    assert parse_meta(data) == yamlio.loads(data)


def test_the_plain_serving_read_answers_as_the_snapshot(reg: Registry, store_uri: str) -> None:
    """``modelctl resolve`` reads current serving documents as plain JSON: the snapshot's answer, or None
    (the snapshot answers) for templates, deprecation plans, stale documents and other stores."""
    from pathlib import Path

    from registry.serving_plain import resolve_plain

    def both(env: str = "production", user: str | None = None) -> tuple[object, object]:
        full = ServingSnapshot(store_uri, refresh_seconds=0).resolve("summarizer", env, user).to_dict()
        return resolve_plain(store_uri, "summarizer", env, user), full

    local = not store_uri.startswith("s3://")
    _ship(reg, 0.1)
    v2, _ = reg.register("summarizer", {**config(temperature=0.2, system_prompt="Be brief.", stop=["\n\n"]),
                                        "pricing": {"input_per_1m": 3, "output_per_1m": 15}})
    reg.record_eval("summarizer", v2.number, suite="s", passed=True)
    reg.promote("summarizer", v2.number, "staging", reason="stage")
    reg.start_experiment("summarizer", control=1, treatment=2, split=0.4)
    cases = [both(), both("staging"), *(both(user=f"user-{i}") for i in range(30))]
    for plain, full in cases:
        assert plain == (full if local else None)
    assert {full["arm"] for _, full in cases[2:]} == {"control", "treatment"}  # type: ignore[index]
    assert resolve_plain(store_uri, "nope", "production", None) is None
    assert resolve_plain(store_uri, "summarizer", "nowhere", None) is None
    v3, _ = reg.register("summarizer", config(temperature=0.5, system_prompt="Hello {{ who }}"))
    reg.promote("summarizer", v3.number, "development", reason="try", force=True)
    plain, full = both("development")
    assert plain is None and full["variables"] == ["who"]  # type: ignore[index]
    if local:
        document = Path(store_uri, "models", "summarizer.yaml")
        document.write_bytes(document.read_bytes() + b"\n")  # the serving document is now stale
        assert resolve_plain(store_uri, "summarizer", "staging", None) is None
    past = date.today() - timedelta(days=1)
    reg.upsert_deprecation_plan("summarizer", DeprecationPlan(
        model_id="claude-sonnet-4-5-20250929", severity="warning", soft_deadline=past,
        hard_deadline=past + timedelta(days=30), affected_versions=[2], replacement="claude-sonnet-5"), reason="scan")
    assert resolve_plain(store_uri, "summarizer", "staging", None) is None
