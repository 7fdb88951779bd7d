"""The application gateway: resolve (with experiment routing) -> call -> log.

    gw = Gateway()                    # registry from MODELCTL_REGISTRY, log from MODELCTL_LOG
    resp = gw.complete("summarizer", messages=[{"role": "user", "content": text}], user_id="u-42")
    gw.feedback(resp.request_id, thumbs_up=True, quality_score=0.9, label="billing", verified_by="agent-7")

    with gw.stream("assistant", variables={"customer_name": "Ada"}) as chunks:   # tokens as they arrive
        for text in chunks:
            ...
    chunks.response                   # the GatewayResponse, once the stream is done

``AsyncGateway`` has the same methods as coroutines (``await agw.complete(...)``, ``async with
agw.stream(...)``) over the providers' async clients. Every request, streamed or not, is logged once
through ``_record``; a stream closed before its end is logged with ``abandoned`` = 1.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from registry.errors import InvalidInput
from registry.serving import Resolution, ServingSnapshot, snapshot_for
from registry.settings import get_settings
from registry.templates import render_request
from tasks import providers, telemetry
from tasks.gateway_streams import AsyncGatewayStream, GatewayStream
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
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{id, name, arguments}]
    ttft_ms: float | None = None  # streamed requests: time to the first token

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def message(self) -> dict[str, Any]:
        """This answer as the assistant turn of the next call's messages (tool calls included)."""
        turn: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.tool_calls:
            turn["tool_calls"] = self.tool_calls
        return turn


@dataclass(slots=True)
class _Call:
    """One request on its way: the resolution, the rendered request and when it started."""

    res: Resolution
    config: Any
    messages: list[dict[str, Any]]
    user_id: str | None
    start: float = field(default_factory=time.perf_counter)
    _request_id: str | None = None

    @property
    def request_id(self) -> str:
        """Made when first needed: for a stream, after the first chunk has reached the caller."""
        if self._request_id is None:
            self._request_id = uuid.uuid4().hex
        return self._request_id

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000


def _input_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") != "system")


class _GatewayBase:
    """What the sync and async gateways share: resolve, render, record."""

    def __init__(self, registry_uri: str | None = None, log_uri: str | None = None, *,
                 snapshot: ServingSnapshot | None = None, writer: RequestLogWriter | None = None) -> None:
        self.snapshot = snapshot or (ServingSnapshot(registry_uri) if registry_uri else snapshot_for())
        self.log = writer or RequestLogWriter(log_uri or get_settings().log)
        self._hash_key = get_settings().hash_key()
        self._redact = redactor()

    def resolve(self, name: str, environment: str = "production", user_id: str | None = None) -> Resolution:
        """The version that would serve this user."""
        return self.snapshot.resolve(name, environment, user_id)

    def _prepare(self, name: str, messages: list[dict[str, Any]] | None, variables: dict[str, Any] | None,
                 user_id: str | None, environment: str) -> _Call:
        """Resolve for the user and render the version's templates with the request's variables."""
        res = self.snapshot.resolve(name, environment, user_id)
        config, rendered = render_request(res.config, messages, variables)
        if not rendered:
            raise InvalidInput("messages must not be empty (or give variables for a prompt_template)",
                               field="messages")
        return _Call(res, config, rendered, user_id)

    def _trace(self, span: Any, call: _Call, completion: providers.Completion) -> None:
        """The response attributes of the call's OpenTelemetry span (content only when capture is on)."""
        if span is None:
            return
        content = None
        if call.res.capture_content:
            content = (self._redact.sub("[REDACTED]", _input_text(call.messages)),
                       self._redact.sub("[REDACTED]", completion.text))
        telemetry.record_response(span, request_id=call.request_id, response_model=completion.model_id,
                                  input_tokens=completion.input_tokens, output_tokens=completion.output_tokens,
                                  finish_reason=completion.finish_reason, provider_request_id=completion.request_id,
                                  cost_usd=completion.cost_usd, content=content)

    def _finish(self, call: _Call, completion: providers.Completion | None, error: BaseException | None, *,
                ttft_ms: float | None = None, abandoned: bool = False) -> GatewayResponse | None:
        """Log the request once; the response when it completed."""
        latency = call.elapsed_ms()
        self.log.append("requests", self._record(call.res, call.request_id, call.user_id, latency, completion, error,
                                                 call.messages, ttft_ms=ttft_ms, abandoned=abandoned))
        if completion is None or abandoned:
            return None
        res = call.res
        return GatewayResponse(text=completion.text, request_id=call.request_id, model=res.name, version=res.version,
                               digest=res.digest, environment=res.environment, arm=res.arm,
                               experiment_id=res.experiment_id, input_tokens=completion.input_tokens,
                               output_tokens=completion.output_tokens, latency_ms=latency,
                               cost_usd=completion.cost_usd, finish_reason=completion.finish_reason,
                               provider_request_id=completion.request_id,
                               tool_calls=[c.to_dict() for c in completion.tool_calls], ttft_ms=ttft_ms)

    def _record(self, res: Resolution, request_id: str, user_id: str | None, latency_ms: float,
                completion: providers.Completion | None, error: BaseException | None,
                messages: list[dict[str, Any]] | None, *, ttft_ms: float | None = None,
                abandoned: bool = False) -> dict[str, Any]:
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
        if ttft_ms is not None:
            record["ttft_ms"] = round(ttft_ms, 3)
        if abandoned:
            record["abandoned"] = 1
        if completion is not None and completion.tool_calls:
            record["tool_names"] = ",".join(c.name for c in completion.tool_calls)
        if res.capture_content and messages is not None:
            record["input_text"] = self._redact.sub("[REDACTED]", _input_text(messages))
            if completion is not None:
                record["output_text"] = self._redact.sub("[REDACTED]", completion.text)
        return record

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


class Gateway(_GatewayBase):
    """Calls models through the registry and logs every request with the version that served it."""

    def complete(self, name: str, messages: list[dict[str, Any]] | None = None, *,
                 variables: dict[str, Any] | None = None, user_id: str | None = None,
                 environment: str = "production") -> GatewayResponse:
        """Resolve ``name`` for ``user_id``, render its templates with ``variables``, call its provider, log it."""
        call = self._prepare(name, messages, variables, user_id, environment)
        with telemetry.call_span(call.res, "chat") as span:
            try:
                completion = providers.complete(call.config, call.messages, pricing=call.res.pricing,
                                                model=call.res.name, version=call.res.version)
            except Exception as exc:
                self._finish(call, None, exc)
                raise
            self._trace(span, call, completion)
        return self._finish(call, completion, None)  # type: ignore[return-value]

    def stream(self, name: str, messages: list[dict[str, Any]] | None = None, *,
               variables: dict[str, Any] | None = None, user_id: str | None = None,
               environment: str = "production") -> GatewayStream:
        """Like ``complete``, but the text arrives in chunks; see ``GatewayStream``."""
        call = self._prepare(name, messages, variables, user_id, environment)
        events = providers.stream(call.config, call.messages, pricing=call.res.pricing, model=call.res.name,
                                  version=call.res.version)
        return GatewayStream(self, call, events)


class AsyncGateway(_GatewayBase):
    """The gateway for asyncio applications, over the providers' async clients."""

    async def complete(self, name: str, messages: list[dict[str, Any]] | None = None, *,
                       variables: dict[str, Any] | None = None, user_id: str | None = None,
                       environment: str = "production") -> GatewayResponse:
        """``Gateway.complete`` as a coroutine."""
        call = self._prepare(name, messages, variables, user_id, environment)
        with telemetry.call_span(call.res, "chat") as span:
            try:
                completion = await providers.acomplete(call.config, call.messages, pricing=call.res.pricing,
                                                       model=call.res.name, version=call.res.version)
            except Exception as exc:
                self._finish(call, None, exc)
                raise
            self._trace(span, call, completion)
        return self._finish(call, completion, None)  # type: ignore[return-value]

    def stream(self, name: str, messages: list[dict[str, Any]] | None = None, *,
               variables: dict[str, Any] | None = None, user_id: str | None = None,
               environment: str = "production") -> AsyncGatewayStream:
        """``Gateway.stream`` for ``async for`` / ``async with``."""
        call = self._prepare(name, messages, variables, user_id, environment)
        events = providers.astream(call.config, call.messages, pricing=call.res.pricing, model=call.res.name,
                                   version=call.res.version)
        return AsyncGatewayStream(self, call, events)

    async def aclose(self) -> None:
        """Close this event loop's provider clients and flush the request log."""
        from tasks.providers.base import aclose_loop_clients

        await aclose_loop_clients()
        self.close()
