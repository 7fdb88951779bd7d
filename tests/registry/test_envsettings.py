"""The serving path's settings reader answers as the pydantic-settings class, values and errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from registry.envsettings import serving_settings
from registry.settings import Settings, get_settings

CASES = [
    {},
    {"MODELCTL_REGISTRY": "/tmp/elsewhere"},
    {"modelctl_registry": "/tmp/lowercase"},
    {"MODELCTL_REGISTRY": ""},
    {"MODELCTL_SNAPSHOT_REFRESH_SECONDS": "0"},
    {"MODELCTL_SNAPSHOT_REFRESH_SECONDS": "3600"},
    {"MODELCTL_SNAPSHOT_REFRESH_SECONDS": "0.25", "MODELCTL_LOCK_TIMEOUT_SECONDS": "5"},
    {"MODELCTL_SNAPSHOT_REFRESH_SECONDS": " 1.5 "},
    {"MODELCTL_SNAPSHOT_REFRESH_SECONDS": "1e2"},
    {"MODELCTL_SNAPSHOT_REFRESH_SECONDS": "-3"},
    {"MODELCTL_NOW": "2026-01-02T03:04:05Z"},
    {"MODELCTL_ACTOR": "someone", "MODELCTL_UNRELATED": "x"},
]
BAD = [
    {"MODELCTL_SNAPSHOT_REFRESH_SECONDS": "soon"},
    {"MODELCTL_LOCK_TIMEOUT_SECONDS": "0"},
    {"MODELCTL_LOCK_TIMEOUT_SECONDS": "inf"},
    {"MODELCTL_NOW": "yesterday"},
]


def _environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("MODELCTL_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("env", CASES)
def test_the_same_values_as_the_settings_class(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    _environment(monkeypatch, env)
    full, light = get_settings(), serving_settings()
    assert (light.registry, light.snapshot_refresh_seconds, light.lock_timeout_seconds, light.now) == (
        full.registry, full.snapshot_refresh_seconds, full.lock_timeout_seconds, full.now)


@pytest.mark.parametrize("env", BAD)
def test_the_same_errors_as_the_settings_class(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    _environment(monkeypatch, env)
    with pytest.raises(ValidationError) as full:
        get_settings()
    with pytest.raises(ValidationError) as light:
        serving_settings()
    assert light.value.errors() == full.value.errors()


def test_the_defaults_are_the_settings_class_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    _environment(monkeypatch, {})
    light = serving_settings()
    fields = Settings.model_fields
    assert light.registry == fields["registry"].default
    assert light.snapshot_refresh_seconds == fields["snapshot_refresh_seconds"].default
    assert light.lock_timeout_seconds == fields["lock_timeout_seconds"].default
