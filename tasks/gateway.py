"""The application gateway: resolve (with experiment routing) -> call -> log.

    gw = Gateway()                    # registry from MODELCTL_REGISTRY, log from MODELCTL_LOG
    resp = gw.complete("summarizer", messages=[{"role": "user", "content": text}], user_id="u-42")
    gw.feedback(resp.request_id, thumbs_up=True, quality_score=0.9, label="billing", verified_by="agent-7")
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from registry.errors import InvalidInput
from registry.serving import Resolution, ServingSnapshot, snapshot_for
from registry.settings import get_settings
from tasks import providers, telemetry
from tasks.request_log import RequestLogWriter, hash_user, now_iso, redactor


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    """What the application gets back, tied to the version that served it."""

    text: str
    request_id: str
    model: str
    version: int
    digest: str
    environment: str
    arm: str | None
    experiment_id: str | None
    input_tokens: int
    output_tokens: int
    latency_ms: float
    cost_usd: float
    finish_reason: str | None
    provider_request_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _input_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")


class Gateway:
    """Calls models through the registry and logs every request with the version that served it."""

    def __init__(self, registry_uri: str | None = None, log_uri: str | None = None, *,
                 snapshot: ServingSnapshot | None = None, writer: RequestLogWriter | None = None) -> None:
        self.snapshot = snapshot or (ServingSnapshot(registry_uri) if registry_uri else snapshot_for())
        self.log = writer or RequestLogWriter(log_uri or get_settings().log)
        self._hash_key = get_settings().hash_key()
        self._redact = redactor()

    def resolve(self, name: str, environment: str = "production", user_id: str | None = None) -> Resolution:
        """The version that would serve this user."""
        return self.snapshot.resolve(name, environment, user_id)

    def _record(self, res: Resolution, request_id: str, user_id: str | None, latency_ms: float,
                completion: providers.Completion | None, error: BaseException | None,
                messages: list[dict[str, Any]] | None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "timestamp": now_iso(), "request_id": request_id, "model": res.name, "model_id": res.config.model_id,
            "version": res.version, "digest": res.digest, "environment": res.environment,
            "experiment_id": res.experiment_id, "variant": res.arm, "user_id": hash_user(user_id, self._hash_key),
            "latency_ms": round(latency_ms, 3),
            "input_tokens": completion.input_tokens if completion else 0,
            "output_tokens": completion.output_tokens if completion else 0,
            "cost_usd": completion.cost_usd if completion else 0.0,
            "error": 1 if error is not None else 0, "error_type": type(error).__name__ if error else None,
        }
        if res.capture_content and messages is not None:
            record["input_text"] = self._redact.sub("[REDACTED]", _input_text(messages))
            if completion is not None:
                record["output_text"] = self._redact.sub("[REDACTED]", completion.text)
        return record

    def complete(self, name: str, messages: list[dict[str, Any]], *, user_id: str | None = None,
                 environment: str = "production") -> GatewayResponse:
        """Resolve ``name`` for ``user_id``, call its provider with the version's configuration, log it."""
        if not messages:
            raise InvalidInput("messages must not be empty", field="messages")
        res = self.snapshot.resolve(name, environment, user_id)
        request_id = uuid.uuid4().hex
        start = time.perf_counter()
        with telemetry.call_span(res, "chat") as span:
            try:
                completion = providers.complete(res.config, messages, pricing=res.pricing, model=res.name,
                                                version=res.version)
            except Exception as exc:
                self.log.append("requests", self._record(res, request_id, user_id,
                                                         (time.perf_counter() - start) * 1000, None, exc, messages))
                raise
            latency = (time.perf_counter() - start) * 1000
            record = self._record(res, request_id, user_id, latency, completion, None, messages)
            telemetry.record_response(
                span, request_id=request_id, response_model=completion.model_id,
                input_tokens=completion.input_tokens, output_tokens=completion.output_tokens,
                finish_reason=completion.finish_reason, provider_request_id=completion.request_id,
                cost_usd=completion.cost_usd,
                content=(record["input_text"], record.get("output_text", "")) if "input_text" in record else None)
        self.log.append("requests", record)
        return GatewayResponse(text=completion.text, request_id=request_id, model=res.name, version=res.version,
                               digest=res.digest, environment=res.environment, arm=res.arm,
                               experiment_id=res.experiment_id, input_tokens=completion.input_tokens,
                               output_tokens=completion.output_tokens, latency_ms=latency,
                               cost_usd=completion.cost_usd, finish_reason=completion.finish_reason,
                               provider_request_id=completion.request_id)

    def embed(self, name: str, texts: list[str], *, user_id: str | None = None,
              environment: str = "production") -> list[list[float]]:
        """Embeddings from the version serving ``name`` (logged like a completion, without content)."""
        res = self.snapshot.resolve(name, environment, user_id)
        request_id, start = uuid.uuid4().hex, time.perf_counter()
        try:
            vectors = providers.embed(res.config, texts, model=res.name, version=res.version)
        except Exception as exc:
            self.log.append("requests", self._record(res, request_id, user_id, (time.perf_counter() - start) * 1000,
                                                     None, exc, None))
            raise
        tokens = sum(len(t.split()) for t in texts)
        done = providers.Completion("", tokens, 0, 0.0, res.pricing.cost(tokens, 0) if res.pricing else 0.0,
                                    None, None, res.config.model_id)
        self.log.append("requests", self._record(res, request_id, user_id, (time.perf_counter() - start) * 1000,
                                                 done, None, None))
        return vectors

    def feedback(self, request_id: str, *, thumbs_up: bool | None = None, quality_score: float | None = None,
                 label: str | None = None, verified_by: str | None = None) -> None:
        """Attach feedback to a logged request (joined by request_id when the log is read)."""
        if quality_score is not None and not 0 <= quality_score <= 1:
            raise InvalidInput(f"quality_score must be in [0, 1], got {quality_score}", field="quality_score")
        if thumbs_up is None and quality_score is None and label is None:
            raise InvalidInput("feedback needs thumbs up/down, a score or a label", field="feedback")
        self.log.append("feedback", {"timestamp": now_iso(), "request_id": request_id, "thumbs_up": thumbs_up,
                                     "quality_score": quality_score, "label": label, "verified_by": verified_by})

    def close(self) -> None:
        """Flush the request log."""
        self.log.close()
