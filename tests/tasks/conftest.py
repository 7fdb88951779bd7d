"""Fake provider servers on 127.0.0.1 and fast retry settings for the real SDKs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.providers.base import reset_clients
from tests.tasks.providers.fakes import (
    FakeProvider,
    anthropic_message,
    anthropic_sse,
    openai_chat,
    openai_sse,
)


@pytest.fixture(autouse=True)
def fast_retries(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    cfg = tmp_path_factory.getbasetemp() / "provider-config.yaml"
    cfg.write_text("provider_timeout_seconds: 0.5\nprovider_max_attempts: 3\nretry_base_seconds: 0.01\n"
                   "retry_max_seconds: 0.2\n")
    monkeypatch.setenv("MODELCTL_CONFIG", str(cfg))
    reset_clients()
    yield
    reset_clients()


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeProvider]:
    server = FakeProvider(openai_chat(), sse=openai_sse)
    yield server
    server.close()


@pytest.fixture(scope="session")
def anthropic_server() -> Iterator[FakeProvider]:
    server = FakeProvider(anthropic_message(), request_id_header="request-id", sse=anthropic_sse)
    yield server
    server.close()


@pytest.fixture
def openai_env(openai_server: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    openai_server.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    return openai_server


@pytest.fixture
def anthropic_env(anthropic_server: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    anthropic_server.reset()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    return anthropic_server


EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
