"""OpenTelemetry spans for gateway calls, following the GenAI semantic conventions.

Off unless the application configures an OpenTelemetry SDK (a ``TracerProvider`` with an exporter, e.g.
``opentelemetry-instrument`` or ``trace.set_tracer_provider``): modelctl only uses the API, so without an
SDK nothing is recorded and a call pays one check. Each span says which registered version served the
request (``modelctl.model``, ``modelctl.version``, ``modelctl.digest``, ``modelctl.environment``,
``modelctl.experiment_id``, ``modelctl.arm``). Message content is added only when the model's content
capture is on, redacted like the request log.

A stream (``Gateway.stream``, ``AsyncGateway.stream``) is the same span, started when the stream opens and
ended when it ends, fails or is closed: the usage of the final chunk, the time to the first chunk
(``gen_ai.response.time_to_first_chunk`` in seconds, and a ``gen_ai.first_chunk`` event), an error status
when it fails (before or after the first chunk), ``modelctl.abandoned`` when the caller stopped early.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from registry.serving import Resolution

SYSTEMS = {"openai": "openai", "anthropic": "anthropic", "bedrock": "aws.bedrock", "local": "modelctl.local"}


_tracers: dict[int, tuple[Any, Any | None]] = {}  # id(tracer provider) -> (provider, its tracer or None)


def tracer() -> Any | None:
    """The gateway's tracer when an SDK tracer provider is configured, else None.

    Looked up on every call (an application may configure tracing after the first request), but made once
    per tracer provider: an SDK's ``get_tracer`` builds a new tracer each time.
    """
    try:
        from opentelemetry import trace
    except ImportError:  # the API is optional too
        return None
    provider = trace.get_tracer_provider()
    known = _tracers.get(id(provider))
    if known is not None and known[0] is provider:
        return known[1]
    made = None if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider) \
        else provider.get_tracer("modelctl.gateway")
    _tracers.clear()  # one provider at a time (tests and applications replace it, never alternate)
    _tracers[id(provider)] = (provider, made)
    return made


def _request_attributes(res: Resolution, operation: str) -> dict[str, Any]:
    config = res.config
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation, "gen_ai.system": SYSTEMS.get(config.provider, config.provider),
        "gen_ai.provider.name": SYSTEMS.get(config.provider, config.provider),
        "gen_ai.request.model": config.model_id, "modelctl.model": res.name, "modelctl.version": res.version,
        "modelctl.digest": res.digest, "modelctl.environment": res.environment}
    for key, value in (("gen_ai.request.temperature", config.temperature),
                       ("gen_ai.request.max_tokens", config.max_tokens), ("gen_ai.request.top_p", config.top_p),
                       ("modelctl.experiment_id", res.experiment_id), ("modelctl.arm", res.arm)):
        if value is not None:
            attrs[key] = value
    return attrs


@contextmanager
def call_span(res: Resolution, operation: str = "chat") -> Iterator[Any | None]:
    """A CLIENT span around one provider call (None when tracing is off); errors are recorded on it."""
    t = tracer()
    if t is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    with t.start_as_current_span(f"{operation} {res.config.model_id}", kind=SpanKind.CLIENT,
                                 attributes=_request_attributes(res, operation)) as span:
        try:
            yield span
        except Exception as exc:
            span.set_attribute("error.type", type(exc).__name__)
            raise


def record_response(span: Any | None, *, request_id: str, response_model: str | None, input_tokens: int,
                    output_tokens: int, finish_reason: str | None, provider_request_id: str | None,
                    cost_usd: float, content: tuple[str, str] | None = None) -> None:
    """Response attributes; ``content`` (input, output), already redacted, only when capture is on."""
    if span is None:
        return
    attrs: dict[str, Any] = {"gen_ai.usage.input_tokens": input_tokens, "gen_ai.usage.output_tokens": output_tokens,
                             "modelctl.request_id": request_id, "modelctl.cost_usd": cost_usd}
    if response_model:
        attrs["gen_ai.response.model"] = response_model
    if finish_reason:
        attrs["gen_ai.response.finish_reasons"] = [finish_reason]
    if provider_request_id:
        attrs["gen_ai.response.id"] = provider_request_id
    if content is not None:
        attrs["gen_ai.input.messages"] = json.dumps([{"role": "user", "parts": [{"type": "text",
                                                                                   "content": content[0]}]}])
        attrs["gen_ai.output.messages"] = json.dumps([{"role": "assistant", "parts": [{"type": "text",
                                                                                         "content": content[1]}]}])
    span.set_attributes(attrs)


def start_stream_span(res: Resolution) -> Any | None:
    """The CLIENT span of a stream (None when tracing is off), started now and ended by ``end_stream_span``.

    A stream outlives the call that opened it (chunks are read later, maybe in another task), so the span
    is started, not made current: it is the child of whatever span was current when the stream opened.
    """
    t = tracer()
    if t is None:
        return None
    from opentelemetry.trace import SpanKind

    attrs = _request_attributes(res, "chat")
    attrs["modelctl.stream"] = True
    return t.start_span(f"chat {res.config.model_id}", kind=SpanKind.CLIENT, attributes=attrs)


def first_chunk(span: Any | None, ttft_ms: float) -> None:
    """Time to the first chunk: an attribute (seconds, as the GenAI conventions' time-to-first-chunk metric)
    and a span event at that moment."""
    if span is None:
        return
    span.set_attribute("gen_ai.response.time_to_first_chunk", ttft_ms / 1000)
    span.add_event("gen_ai.first_chunk", {"modelctl.ttft_ms": ttft_ms})


def end_stream_span(span: Any | None, *, error: BaseException | None = None, abandoned: bool = False) -> None:
    """End a stream's span: an error status when the stream failed, ``modelctl.abandoned`` when the caller
    stopped reading before the end."""
    if span is None:
        return
    if error is not None:
        from opentelemetry.trace import Status, StatusCode

        span.set_attribute("error.type", type(error).__name__)
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    if abandoned:
        span.set_attribute("modelctl.abandoned", True)
    span.end()
