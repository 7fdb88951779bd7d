"""OpenTelemetry spans from the gateway: GenAI semantic conventions plus the serving version.

Needs the optional ``otel`` extra (opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402
from opentelemetry.util._once import Once  # noqa: E402

from registry.service import open_registry  # noqa: E402
from tasks import telemetry  # noqa: E402
from tasks.gateway import AsyncGateway, Gateway  # noqa: E402
from tasks.providers import PermanentProviderError, TransientProviderError  # noqa: E402
from tasks.request_log import RequestLogWriter  # noqa: E402
from tests.tasks.providers.fakes import FakeProvider, error_body, openai_chat, openai_sse  # noqa: E402


def _reset_globals() -> None:
    """What opentelemetry's own test utilities do between tests: forget the global tracer provider."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    _reset_globals()
    sdk = TracerProvider()
    trace.set_tracer_provider(sdk)
    yield sdk
    sdk.shutdown()
    _reset_globals()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    reg.register("triage", {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "temperature": 0.2,
                            "max_tokens": 5, "pricing": {"input_per_1m": 2.5, "output_per_1m": 10}})
    reg.record_eval("triage", 1, suite="s", passed=True)
    reg.promote("triage", 1, "production", reason="base")
    gw = Gateway(uri, writer=RequestLogWriter(str(tmp_path / "logs"), flush_interval=60))
    yield gw
    gw.close()


def test_off_without_an_sdk(gateway: Gateway, openai_env: FakeProvider) -> None:
    _reset_globals()
    assert telemetry.tracer() is None
    assert gateway.complete("triage", [{"role": "user", "content": "hi"}]).text == "billing"


def test_span_per_call_in_memory(gateway: Gateway, openai_env: FakeProvider, provider: TracerProvider) -> None:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    message = [{"role": "user", "content": "refund me: bob@example.com"}]
    resp = gateway.complete("triage", message, user_id="u-1")
    (span,) = exporter.get_finished_spans()
    a = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-2024-08-06" and span.kind == SpanKind.CLIENT
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.system"] == "openai"
    assert a["gen_ai.request.model"] == "gpt-4o-2024-08-06" and a["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 3)
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 5
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    assert (a["modelctl.model"], a["modelctl.version"], a["modelctl.digest"], a["modelctl.environment"]) == \
        ("triage", 1, resp.digest, "production")
    assert a["modelctl.request_id"] == resp.request_id
    assert "gen_ai.input.messages" not in a  # content capture is off for this model


def test_content_only_when_capture_is_on_and_redacted(tmp_path: Path, openai_env: FakeProvider,
                                                      provider: TracerProvider) -> None:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    reg.init()
    reg.register("triage", {"provider": "openai", "model_id": "gpt-4o-2024-08-06"})
    reg.record_eval("triage", 1, suite="s", passed=True)
    reg.promote("triage", 1, "production", reason="base")
    reg.set_model_fields("triage", capture_content=True)
    gw = Gateway(uri, writer=RequestLogWriter(str(tmp_path / "logs"), flush_interval=60))
    gw.complete("triage", [{"role": "user", "content": "refund me: bob@example.com"}])
    gw.close()
    a = dict(exporter.get_finished_spans()[0].attributes or {})
    sent = json.loads(str(a["gen_ai.input.messages"]))
    assert sent[0]["parts"][0]["content"] == "refund me: [REDACTED]"
    assert json.loads(str(a["gen_ai.output.messages"]))[0]["parts"][0]["content"] == "billing"


def test_a_failed_call_is_an_error_span(gateway: Gateway, openai_env: FakeProvider,
                                        provider: TracerProvider) -> None:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    openai_env.script.append((400, error_body("invalid_request_error", "bad"), {}, 0.0))
    with pytest.raises(Exception, match="bad"):
        gateway.complete("triage", [{"role": "user", "content": "hi"}])
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "PermanentProviderError"  # type: ignore[index]


class Collector:
    """A loopback OTLP/HTTP collector: stores every ExportTraceServiceRequest posted to /v1/traces."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                outer.bodies.append(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_otlp_http_export_to_a_loopback_collector(gateway: Gateway, openai_env: FakeProvider,
                                                  provider: TracerProvider) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    collector = Collector()
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.url)))
    resp = gateway.complete("triage", [{"role": "user", "content": "hi"}])
    collector.server.shutdown()
    request = ExportTraceServiceRequest.FromString(collector.bodies[0])
    span = request.resource_spans[0].scope_spans[0].spans[0]
    attrs = {kv.key: kv.value for kv in span.attributes}
    assert span.name == "chat gpt-4o-2024-08-06"
    assert attrs["modelctl.version"].int_value == 1 and attrs["modelctl.digest"].string_value == resp.digest
    assert attrs["gen_ai.usage.output_tokens"].int_value == 3


@pytest.fixture
def spans(provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def _stream_span(exporter: InMemorySpanExporter) -> Any:
    (span,) = exporter.get_finished_spans()
    a = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-2024-08-06" and span.kind == SpanKind.CLIENT and a["modelctl.stream"] is True
    assert (a["gen_ai.system"], a["gen_ai.request.model"], a["modelctl.version"]) == ("openai", "gpt-4o-2024-08-06", 1)
    return span


def test_a_stream_is_one_span_with_usage_and_time_to_first_chunk(gateway: Gateway, openai_env: FakeProvider,
                                                                 spans: InMemorySpanExporter) -> None:
    openai_env.script.append((200, openai_chat("Your refund is on its way."), {}, 0.0))
    chunks = gateway.stream("triage", [{"role": "user", "content": "refund?"}])
    first = next(chunks)
    assert first and not spans.get_finished_spans()  # open while the stream is read
    rest = list(chunks)
    span = _stream_span(spans)
    a = dict(span.attributes or {})
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (12, 3)
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)  # type: ignore[arg-type]
    assert a["modelctl.request_id"] == chunks.request_id and first + "".join(rest) == "Your refund is on its way."
    ttft = a["gen_ai.response.time_to_first_chunk"]
    assert chunks.response is not None and 0 < ttft * 1000 <= chunks.response.latency_ms  # type: ignore[operator]
    (event,) = [e for e in span.events if e.name == "gen_ai.first_chunk"]
    assert span.start_time <= event.timestamp <= span.end_time  # type: ignore[operator]
    assert span.status.status_code == StatusCode.UNSET and "modelctl.abandoned" not in a


def test_an_async_stream_is_traced_alike(gateway: Gateway, openai_env: FakeProvider,
                                         spans: InMemorySpanExporter) -> None:
    agw = AsyncGateway(snapshot=gateway.snapshot, writer=gateway.log)

    async def run() -> str:
        async with agw.stream("triage", [{"role": "user", "content": "hi"}]) as chunks:
            text = "".join([p async for p in chunks])
        from tasks.providers.base import aclose_loop_clients

        await aclose_loop_clients()
        return text

    assert asyncio.run(run()) == "billing"
    a = dict(_stream_span(spans).attributes or {})
    assert a["gen_ai.usage.output_tokens"] == 3 and a["gen_ai.response.time_to_first_chunk"] > 0  # type: ignore[operator]


def test_a_stream_left_early_is_marked_abandoned(gateway: Gateway, openai_env: FakeProvider,
                                                 spans: InMemorySpanExporter) -> None:
    openai_env.script.append((200, openai_chat("one two three four five six seven eight " * 5), {}, 0.0))
    openai_env.chunk_delay = 0.05
    with gateway.stream("triage", [{"role": "user", "content": "long answer"}]) as chunks:
        next(chunks)
    a = dict(_stream_span(spans).attributes or {})
    assert a["modelctl.abandoned"] is True and a["gen_ai.response.time_to_first_chunk"] > 0  # type: ignore[operator]


def test_a_stream_refused_at_once_is_an_error_span(gateway: Gateway, openai_env: FakeProvider,
                                                   spans: InMemorySpanExporter) -> None:
    openai_env.script.append((400, error_body("invalid_request_error", "bad"), {}, 0.0))
    with pytest.raises(PermanentProviderError), gateway.stream("triage", [{"role": "user", "content": "hi"}]) as s:
        list(s)
    span = _stream_span(spans)
    assert span.status.status_code == StatusCode.ERROR and span.attributes["error.type"] == "PermanentProviderError"  # type: ignore[index]
    assert "gen_ai.response.time_to_first_chunk" not in (span.attributes or {})
    assert [e.name for e in span.events] == ["exception"]


def test_a_stream_that_breaks_midway_is_an_error_span(gateway: Gateway, openai_env: FakeProvider,
                                                      spans: InMemorySpanExporter) -> None:
    def broken(payload: dict) -> list:
        events = openai_sse(payload)
        return [*events[:2], (None, {"error": {"message": "overloaded", "type": "server_error"}})]

    openai_env.sse = broken
    try:
        with pytest.raises(TransientProviderError, match="interrupted"), \
                gateway.stream("triage", [{"role": "user", "content": "hi"}]) as chunks:
            for _ in chunks:
                pass
    finally:
        openai_env.sse = openai_sse
    span = _stream_span(spans)
    assert span.status.status_code == StatusCode.ERROR and "overloaded" in (span.status.description or "")
    assert span.attributes["error.type"] == "TransientProviderError"  # type: ignore[index]
    assert "gen_ai.response.time_to_first_chunk" in (span.attributes or {})


def test_tracing_configured_after_the_first_call_is_used(gateway: Gateway, openai_env: FakeProvider) -> None:
    _reset_globals()
    assert gateway.stream("triage", [{"role": "user", "content": "hi"}]).collect().text == "billing"
    sdk = TracerProvider()
    exporter = InMemorySpanExporter()
    sdk.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(sdk)
    try:
        gateway.stream("triage", [{"role": "user", "content": "hi"}]).collect()
        gateway.complete("triage", [{"role": "user", "content": "hi"}])
        assert [s.attributes.get("modelctl.stream") for s in exporter.get_finished_spans()] == [True, None]  # type: ignore[union-attr]
    finally:
        sdk.shutdown()
        _reset_globals()
