"""The shared event emitter: name grammar and offline behaviour."""

import pytest

from tasks.events import emit, model_related


def test_emit_rejects_names_outside_the_grammar() -> None:
    with pytest.raises(ValueError):
        emit("deprecation.x", "detected", resource_id="m")


def test_emit_offline_is_a_logged_no_op() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Prefect's in-process settings, not the environment: a session test server may already be running.
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert emit("deprecation", "detected", resource_id="m", related=model_related("m", [1])) is False


def test_model_related_names_model_and_versions() -> None:
    ids = [r["prefect.resource.id"] for r in model_related("m", [1, 2])]
    assert ids == ["modelctl.model.m", "modelctl.version.m.1", "modelctl.version.m.2"]
