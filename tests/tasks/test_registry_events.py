"""Registry writes become modelctl.* events through one listener; a listener never fails a write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from registry import hooks
from registry.entities import HistoryEvent, ModelRecord
from registry.service import open_registry
from tasks import events

CONFIG = {"provider": "openai", "model_id": "gpt-4o-2024-08-06"}


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sent: list[dict[str, Any]] = []
    monkeypatch.setattr("prefect.events.emit_event", lambda **kw: sent.append(kw) or kw)  # Prefect's, not ours
    events.install()
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        yield sent
    hooks.remove_listener(events.on_registry_change)


def test_every_registry_change_is_one_event_with_model_and_version(tmp_path: Path,
                                                                    captured: list[dict[str, Any]]) -> None:
    reg = open_registry(str(tmp_path / "reg"), actor="t")
    reg.init()
    reg.register("summarizer", CONFIG)
    reg.register("summarizer", {**CONFIG, "temperature": 0.2})
    reg.record_eval("summarizer", 1, suite="s", passed=True)
    reg.record_eval("summarizer", 2, suite="s", passed=True)
    reg.promote("summarizer", 1, "production", reason="first")
    reg.promote("summarizer", 2, "production", reason="second")
    reg.rollback("summarizer", "production", reason="bad")
    exp = reg.start_experiment("summarizer", control=1, treatment=2, split=0.1, kind="canary", reason="try",
                               force=True)
    reg.update_experiment("summarizer", exp.id, split=0.0, status="rolled_back", reason="guardrail")
    reg.set_deprecated("summarizer", 2, True, reason="old")
    assert events.flush(timeout=30)  # sent from the background thread
    names = [e["event"] for e in captured]
    assert names == ["modelctl.model.registered", "modelctl.model.registered", "modelctl.model.evaluated",
                     "modelctl.model.evaluated", "modelctl.model.promoted", "modelctl.model.promoted",
                     "modelctl.model.rolled-back", "modelctl.experiment.started", "modelctl.experiment.aborted",
                     "modelctl.model.deprecated"]
    promoted = captured[5]
    assert promoted["resource"]["prefect.resource.id"] == "modelctl.model.summarizer"
    assert promoted["related"] == [{"prefect.resource.id": "modelctl.version.summarizer.2",
                                    "prefect.resource.role": "version"}]
    assert promoted["payload"]["after"] == {"environment": "production", "version": 2}
    aborted = captured[-2]
    assert aborted["resource"]["prefect.resource.id"] == f"modelctl.experiment.{exp.id}"
    assert {r["prefect.resource.id"] for r in aborted["related"]} == {
        "modelctl.model.summarizer", "modelctl.version.summarizer.1", "modelctl.version.summarizer.2"}


def test_a_failing_listener_or_emitter_never_fails_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(event: HistoryEvent, record: ModelRecord) -> None:
        raise RuntimeError("listener down")

    def unreachable(**kw: Any) -> None:
        raise ConnectionError("no server")

    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setattr("prefect.events.emit_event", unreachable)
    events.install()
    hooks.add_listener(broken)
    try:
        with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
            reg = open_registry(str(tmp_path / "reg"), actor="t")
            reg.init()
            version, created = reg.register("summarizer", CONFIG)
            assert created and reg.get_model("summarizer").version(1) == version
            assert events.flush(timeout=30)
    finally:
        hooks.remove_listener(broken)
        hooks.remove_listener(events.on_registry_change)


def test_a_registry_on_change_callback_sees_its_own_writes(tmp_path: Path) -> None:
    seen: list[str] = []
    reg = open_registry(str(tmp_path / "reg"), actor="t")
    reg.on_change = lambda event, record: seen.append(f"{event.action}:{record.name}")
    reg.init()
    reg.register("summarizer", CONFIG)
    reg.register("summarizer", CONFIG)  # identical: no write, no event
    assert seen == ["register:summarizer"]


def test_offline_the_cli_still_works_and_nothing_is_sent(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert events.request_evaluation("summarizer@1") is False


def test_a_registry_write_does_not_wait_for_the_event_to_be_sent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import time

    from prefect.settings import PREFECT_API_URL, temporary_settings

    release = threading.Event()
    sent: list[str] = []

    def slow_server(**kw: Any) -> Any:
        release.wait(10)  # a server that takes its time
        sent.append(kw["event"])
        return kw

    monkeypatch.setattr("prefect.events.emit_event", slow_server)
    events.install()
    try:
        with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
            reg = open_registry(str(tmp_path / "reg"), actor="t")
            reg.init()
            start = time.monotonic()
            reg.register("summarizer", CONFIG)
            assert time.monotonic() - start < 2 and sent == []
            release.set()
            assert events.flush(timeout=30) and sent == ["modelctl.model.registered"]
    finally:
        hooks.remove_listener(events.on_registry_change)
