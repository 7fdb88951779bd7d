"""The real openai and anthropic SDKs against wire-format servers on 127.0.0.1."""

from __future__ import annotations

import pytest

from registry.entities import ModelConfig, Pricing
from tasks.providers import (
    PermanentProviderError,
    ProviderUnavailable,
    TransientProviderError,
    complete,
    embed,
)
from tests.tasks.providers.fakes import FakeProvider, error_body, openai_chat, openai_embeddings

OPENAI = ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06", system_prompt="Classify the ticket.",
                     temperature=0.0, max_tokens=5, top_p=0.9, stop=["\n"], tools=["lookup_order"],
                     response_format="json_object", params={"seed": 7})
ANTHROPIC = ModelConfig(provider="anthropic", model_id="claude-sonnet-4-5-20250929",
                        system_prompt="Summarize concisely.", temperature=0.3, max_tokens=256, top_p=0.95,
                        stop=["END"], tools=[{"name": "search", "input_schema": {"type": "object"}}])
PRICE = Pricing(input_per_1m=2.5, output_per_1m=10.0)
MESSAGES = [{"role": "user", "content": "I was charged twice"}]


def test_openai_request_matches_the_registry_version(openai_env: FakeProvider) -> None:
    out = complete(OPENAI, MESSAGES, pricing=PRICE, model="triage", version=3)
    sent = openai_env.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    body = sent["body"]
    assert body["model"] == "gpt-4o-2024-08-06"
    assert body["messages"] == [{"role": "system", "content": "Classify the ticket."}, *MESSAGES]
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["stop"]) == (0.0, 5, 0.9, ["\n"])
    assert body["tools"][0]["function"]["name"] == "lookup_order"
    assert body["response_format"] == {"type": "json_object"} and body["seed"] == 7
    assert sent["headers"]["authorization"] == "Bearer sk-test-not-a-real-key"
    assert (out.text, out.input_tokens, out.output_tokens, out.finish_reason) == ("billing", 12, 3, "stop")
    assert out.cost_usd == pytest.approx((12 * 2.5 + 3 * 10) / 1e6)
    assert out.request_id == "req_1" and out.latency_ms > 0


def test_openai_429_with_retry_after_is_retried(openai_env: FakeProvider) -> None:
    openai_env.script.append((429, error_body("rate_limit_exceeded", "slow down"), {"retry-after": "0.05"}, 0.0))
    openai_env.script.append((500, error_body("server_error", "boom"), {}, 0.0))
    assert complete(OPENAI, MESSAGES).text == "billing"
    assert len(openai_env.requests) == 3


def test_openai_400_fails_at_once_naming_model_version_provider(openai_env: FakeProvider) -> None:
    openai_env.script.append((400, error_body("invalid_request_error", "max_tokens too large"), {}, 0.0))
    with pytest.raises(PermanentProviderError) as exc:
        complete(OPENAI, MESSAGES, model="triage", version=3)
    assert len(openai_env.requests) == 1
    message = str(exc.value)
    assert "triage@3" in message and "openai:gpt-4o-2024-08-06" in message and "400" in message
    assert "sk-test" not in message


def test_openai_timeouts_exhaust_retries(openai_env: FakeProvider) -> None:
    for _ in range(3):
        openai_env.script.append((200, openai_chat(), {}, 1.5))  # client timeout is 0.5 s
    with pytest.raises(TransientProviderError, match="after 3 attempts"):
        complete(OPENAI, MESSAGES, model="triage", version=3)
    assert len(openai_env.requests) == 3


def test_openai_persistent_5xx_is_transient_error(openai_env: FakeProvider) -> None:
    for _ in range(3):
        openai_env.script.append((503, error_body("overloaded", "try later"), {}, 0.0))
    with pytest.raises(TransientProviderError) as exc:
        complete(OPENAI, MESSAGES)
    assert exc.value.exit_code == 5


def test_openai_embeddings(openai_env: FakeProvider) -> None:
    openai_env.script.append((200, openai_embeddings([[0.1, 0.2], [0.3, 0.4]]), {}, 0.0))
    cfg = ModelConfig(provider="openai", model_id="text-embedding-3-small", params={"dimensions": 2})
    assert embed(cfg, ["a", "b"]) == [[0.1, 0.2], [0.3, 0.4]]
    body = openai_env.requests[-1]["body"]
    assert openai_env.requests[-1]["path"] == "/v1/embeddings"
    assert body["model"] == "text-embedding-3-small" and body["input"] == ["a", "b"] and body["dimensions"] == 2


def test_anthropic_request_matches_the_registry_version(anthropic_env: FakeProvider) -> None:
    messages = [{"role": "system", "content": "Audience: executives."}, *MESSAGES]
    out = complete(ANTHROPIC, messages, pricing=Pricing(input_per_1m=3, output_per_1m=15))
    sent = anthropic_env.requests[-1]
    body = sent["body"]
    assert sent["path"] == "/v1/messages"
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["system"] == "Summarize concisely.\n\nAudience: executives."
    assert body["messages"] == MESSAGES
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["stop_sequences"]) == (0.3, 256, 0.95, ["END"])
    assert body["tools"] == [{"name": "search", "input_schema": {"type": "object"}}]
    key = "sk-ant-test-not-a-real-key"
    assert sent["headers"].get("x-api-key") == key or sent["headers"].get("authorization") == f"Bearer {key}"
    assert (out.text, out.input_tokens, out.output_tokens, out.finish_reason) == ("A summary.", 20, 5, "end_turn")
    assert out.cost_usd == pytest.approx((20 * 3 + 5 * 15) / 1e6) and out.request_id == "req_1"


def test_anthropic_errors(anthropic_env: FakeProvider) -> None:
    anthropic_env.script.append((429, error_body("rate_limit_error", "slow"), {"retry-after": "0"}, 0.0))
    anthropic_env.script.append((529, error_body("overloaded_error", "busy"), {}, 0.0))
    assert complete(ANTHROPIC, MESSAGES).text == "A summary."
    anthropic_env.script.append((401, error_body("authentication_error", "bad key"), {}, 0.0))
    with pytest.raises(ProviderUnavailable, match="summarizer@2.*anthropic:claude-sonnet-4-5-20250929.*401.*"
                                                  "ANTHROPIC_API_KEY"):
        complete(ANTHROPIC, MESSAGES, model="summarizer", version=2)  # a refused key: exit 5, not bad input
