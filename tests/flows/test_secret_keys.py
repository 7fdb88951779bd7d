"""API keys from a Prefect Secret block when the environment variable is unset (never stored anywhere else)."""

from __future__ import annotations

import pytest

from registry.entities import ModelConfig
from tasks.providers import complete
from tasks.providers.base import reset_clients
from tests.tasks.providers.fakes import FakeProvider, openai_chat


def test_openai_key_from_a_secret_block(prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret

    Secret(value="sk-from-secret-block").save("openai-api-key", overwrite=True)
    server = FakeProvider(openai_chat())
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    reset_clients()
    try:
        assert complete(ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06"), [{"role": "user", "content": "hi"}]).text
        assert server.requests[-1]["headers"]["authorization"] == "Bearer sk-from-secret-block"
    finally:
        reset_clients()
        server.close()
