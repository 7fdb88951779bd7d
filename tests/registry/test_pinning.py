"""Pinning levels per provider."""

from __future__ import annotations

import pytest

from registry.entities import ModelConfig
from registry.pinning import classify


@pytest.mark.parametrize(("provider", "model_id", "level"), [
    ("anthropic", "claude-sonnet-4-5-20250929", "strict"),
    ("anthropic", "claude-3-5-sonnet-20240620", "strict"),
    ("anthropic", "claude-sonnet-4-5", "family"),
    ("anthropic", "claude-sonnet-4-5-*", "family"),
    ("anthropic", "claude-3-5-sonnet-latest", "family"),
    ("anthropic", "claude-sonnet-*", "tier"),
    ("openai", "gpt-4o-2024-08-06", "strict"),
    ("openai", "gpt-3.5-turbo-0125", "strict"),
    ("openai", "ft:gpt-4o-mini:org:classification-v2:abc123", "strict"),
    ("openai", "ft:gpt-4o-mini-2024-07-18:acme::9xYz", "strict"),
    ("openai", "text-embedding-3-small", "strict"),
    ("openai", "gpt-4o", "family"),
    ("openai", "chatgpt-4o-latest", "family"),
    ("openai", "gpt-*", "tier"),
    ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "strict"),
    ("bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "strict"),
    ("bedrock", "anthropic.claude-3-5-sonnet", "family"),
    ("local", "lead-3-v1", "strict"),
    ("local", "lead-3", "family"),
])
def test_levels(provider: str, model_id: str, level: str) -> None:
    assert classify(ModelConfig(provider=provider, model_id=model_id)) == level  # type: ignore[arg-type]


def test_users_extend_the_strict_list() -> None:
    cfg = ModelConfig(provider="openai", model_id="my-snapshotless-model")
    assert classify(cfg) == "family"
    assert classify(cfg, ["my-snapshotless-model"]) == "strict"
