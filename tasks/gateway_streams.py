"""Streams of the gateway: text chunks as they arrive, one request-log record when they end or are left.

``Gateway.stream`` returns a ``GatewayStream`` and ``AsyncGateway.stream`` an ``AsyncGatewayStream``; both
log through the gateway's one ``_finish`` -> ``_record`` path.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import TYPE_CHECKING

from tasks import providers, telemetry

if TYPE_CHECKING:
    from tasks.gateway import GatewayResponse, _Call, _GatewayBase


class _StreamState:
    """What a stream has delivered so far (for the log record and the span, whether it completes or not).

    Per chunk it only keeps the text: the clock is read once, at the first chunk, and the record and the
    span are written once, when the stream ends, fails or is left.
    """

    def __init__(self, gw: _GatewayBase, call: _Call) -> None:
        self.gw, self.call = gw, call
        self.parts: list[str] = []
        self.ttft_ms: float | None = None
        self.response: GatewayResponse | None = None
        self.logged = False
        self.span = telemetry.start_stream_span(call.res)

    def on_event(self, event: providers.StreamEvent) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.call.elapsed_ms()
            telemetry.first_chunk(self.span, self.ttft_ms)
        if event.text:
            self.parts.append(event.text)
        if event.completion is not None:
            self.logged = True
            self.gw._trace(self.span, self.call, event.completion)
            telemetry.end_stream_span(self.span)
            self.response = self.gw._finish(self.call, event.completion, None, ttft_ms=self.ttft_ms)

    def on_error(self, exc: BaseException) -> None:
        self.logged = True
        telemetry.end_stream_span(self.span, error=exc)
        self.gw._finish(self.call, None, exc, ttft_ms=self.ttft_ms)

    def on_abandon(self) -> None:
        """The caller stopped reading: log what was delivered (output tokens estimated from the text)."""
        if self.logged:
            return
        self.logged = True
        text = "".join(self.parts)
        tokens = len(text) // 4 + (1 if text else 0)
        pricing = self.call.res.pricing
        partial = providers.Completion(text, 0, tokens, self.call.elapsed_ms(),
                                       pricing.cost(0, tokens) if pricing else 0.0, None, None,
                                       self.call.res.config.model_id)
        self.gw._trace(self.span, self.call, partial)
        telemetry.end_stream_span(self.span, abandoned=True)
        self.gw._finish(self.call, partial, None, ttft_ms=self.ttft_ms, abandoned=True)


class GatewayStream:
    """Text chunks as they arrive. ``response`` is the ``GatewayResponse`` once the stream has ended
    (usage, cost, tool calls, time to first token); closing it earlier logs the request as abandoned."""

    def __init__(self, gw: _GatewayBase, call: _Call, events: Iterator[providers.StreamEvent]) -> None:
        self._state = _StreamState(gw, call)
        self._events = events
        self._chunks = self._run()

    @property
    def response(self) -> GatewayResponse | None:
        return self._state.response

    @property
    def request_id(self) -> str:
        return self._state.call.request_id

    def _run(self) -> Generator[str, None, None]:
        state = self._state
        try:
            for event in self._events:
                state.on_event(event)
                if event.text:
                    yield event.text
        except GeneratorExit:
            state.on_abandon()
            raise
        except Exception as exc:
            state.on_error(exc)
            raise

    def __iter__(self) -> Iterator[str]:
        return self._chunks

    def __next__(self) -> str:
        return next(self._chunks)

    def collect(self) -> GatewayResponse:
        """Read to the end; the response."""
        for _ in self._chunks:
            pass
        assert self._state.response is not None
        return self._state.response

    def close(self) -> None:
        """Stop reading: closes the provider's connection and logs an unfinished request as abandoned."""
        self._chunks.close()
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
        self._state.on_abandon()

    def __enter__(self) -> GatewayStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._state.logged:
            with contextlib.suppress(Exception):  # at interpreter exit the log may already be gone
                self.close()


class AsyncGatewayStream:
    """``GatewayStream`` for ``async for``; ``aclose()`` (or leaving ``async with``) ends it early."""

    def __init__(self, gw: _GatewayBase, call: _Call, events: AsyncIterator[providers.StreamEvent]) -> None:
        self._state = _StreamState(gw, call)
        self._events = events
        self._chunks = self._run()

    @property
    def response(self) -> GatewayResponse | None:
        return self._state.response

    @property
    def request_id(self) -> str:
        return self._state.call.request_id

    async def _run(self) -> AsyncGenerator[str, None]:
        state = self._state
        try:
            async for event in self._events:
                state.on_event(event)
                if event.text:
                    yield event.text
        except GeneratorExit:
            state.on_abandon()
            raise
        except Exception as exc:
            state.on_error(exc)
            raise

    def __aiter__(self) -> AsyncIterator[str]:
        return self._chunks

    async def __anext__(self) -> str:
        return await self._chunks.__anext__()

    async def collect(self) -> GatewayResponse:
        """Read to the end; the response."""
        async for _ in self._chunks:
            pass
        assert self._state.response is not None
        return self._state.response

    async def aclose(self) -> None:
        """Stop reading (see ``GatewayStream.close``)."""
        await self._chunks.aclose()
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
        self._state.on_abandon()

    async def __aenter__(self) -> AsyncGatewayStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
