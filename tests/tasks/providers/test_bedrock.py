"""Bedrock Converse through a real botocore client with Stubber (validates against the service model)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from registry.entities import ModelConfig, Pricing
from tasks.providers import PermanentProviderError, TransientProviderError, base, complete

CFG = ModelConfig(provider="bedrock", model_id="anthropic.claude-3-5-sonnet-20240620-v1:0", system_prompt="Be brief.",
                  temperature=0.2, max_tokens=100, top_p=0.9, stop=["END"], params={"top_k": 50})
RESPONSE = {"output": {"message": {"role": "assistant", "content": [{"text": "Short answer."}]}},
            "stopReason": "end_turn", "usage": {"inputTokens": 11, "outputTokens": 3, "totalTokens": 14},
            "metrics": {"latencyMs": 120}, "ResponseMetadata": {"RequestId": "br-req-1", "HTTPStatusCode": 200}}
EXPECTED = {"modelId": CFG.model_id, "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "system": [{"text": "Be brief."}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
            "additionalModelRequestFields": {"top_k": 50}}


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch):
    client = boto3.client("bedrock-runtime", region_name="us-east-1")
    monkeypatch.setitem(base._clients, "bedrock", client)
    with Stubber(client) as stub:
        yield stub


def test_converse_request_and_response(stubbed: Stubber) -> None:
    stubbed.add_response("converse", RESPONSE, EXPECTED)
    out = complete(CFG, [{"role": "user", "content": "hi"}], pricing=Pricing(input_per_1m=3, output_per_1m=15))
    assert (out.text, out.input_tokens, out.output_tokens, out.request_id) == ("Short answer.", 11, 3, "br-req-1")
    assert out.cost_usd == pytest.approx((11 * 3 + 3 * 15) / 1e6)
    stubbed.assert_no_pending_responses()


def test_throttling_is_retried_validation_is_not(stubbed: Stubber) -> None:
    stubbed.add_client_error("converse", "ThrottlingException", "slow down", 429, expected_params=EXPECTED)
    stubbed.add_response("converse", RESPONSE, EXPECTED)
    assert complete(CFG, [{"role": "user", "content": "hi"}]).text == "Short answer."
    stubbed.add_client_error("converse", "ValidationException", "bad model", 400, expected_params=EXPECTED)
    with pytest.raises(PermanentProviderError, match="bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0"):
        complete(CFG, [{"role": "user", "content": "hi"}], model="assistant", version=1)
    for _ in range(3):
        stubbed.add_client_error("converse", "ServiceUnavailableException", "down", 503, expected_params=EXPECTED)
    with pytest.raises(TransientProviderError):
        complete(CFG, [{"role": "user", "content": "hi"}])
