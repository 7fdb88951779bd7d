"""A wire-format OpenAI server in its own process, cheap enough not to be what a benchmark measures.

Run: ``python bench/fake_server.py [--delay SECONDS]``; prints the base URL, then serves until killed.

The tests' ``FakeProvider`` (``http.server``, a thread per connection) spends 0.24 ms of server CPU per
request, a thread each and the GIL between them; this one 0.05 ms: the same bodies from one asyncio event
loop (``--threaded`` serves the tests' one, for comparison). Alone with a raw aiohttp client, 32 calls in
flight at 50 ms, both measured 1.04 x the ideal at load 1.1 (millisecond timers, the loopback round trip):
that is the floor of any client figure here. HTTP/1.1 keep-alive, ``Content-Length`` bodies, the answer written
``delay`` seconds after the request arrived (``call_later``, no thread sleeps), and ``stream: true``
answered as chunked server-sent events like the OpenAI API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def spawn(delay: float, threaded: bool = False) -> tuple[subprocess.Popen[str], str]:
    """Start the server process (``threaded``: the tests' ``FakeProvider`` instead); returns it and its URL."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__)), "--delay", str(delay),
                             *(["--threaded"] if threaded else [])], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


class _Answers:
    """The prepared bytes of every answer (built once: the server does no per-request JSON work)."""

    def __init__(self) -> None:
        sys.path.insert(0, str(ROOT))
        from tests.tasks.providers.fakes import openai_chat, openai_sse

        payload = openai_chat("billing")
        body = json.dumps(payload).encode()
        self.json = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req_bench\r\n"
                     b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-request-id: req_bench\r\n" \
               b"transfer-encoding: chunked\r\n\r\n"
        events = [f"data: {d if isinstance(d, str) else json.dumps(d)}\n\n".encode() for _, d in openai_sse(payload)]
        self.sse = [head + self._chunk(events[0]), *(self._chunk(e) for e in events[1:]), b"0\r\n\r\n"]

    @staticmethod
    def _chunk(raw: bytes) -> bytes:
        return f"{len(raw):x}\r\n".encode() + raw + b"\r\n"


class _Connection(asyncio.Protocol):
    """One keep-alive connection: requests parsed from the buffer, each answered after the delay."""

    def __init__(self, answers: _Answers, delay: float) -> None:
        self.answers, self.delay = answers, delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body, self.buffer = self.buffer[end + 4:end + 4 + length], self.buffer[end + 4 + length:]
            stream = b'"stream"' in body and json.loads(body or b"{}").get("stream") is True
            asyncio.get_running_loop().call_later(self.delay, self._answer, stream)

    def _answer(self, stream: bool) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if stream:
            self.transport.writelines(self.answers.sse)
        else:
            self.transport.write(self.answers.json)


async def serve(delay: float) -> None:
    """Serve on an ephemeral port of 127.0.0.1; print the base URL once listening."""
    answers = _Answers()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(answers, delay), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"http://127.0.0.1:{port}\n")
    sys.stdout.flush()
    async with server:
        await server.serve_forever()


def threaded(delay: float) -> None:
    """The tests' thread-per-connection ``FakeProvider``, served until killed."""
    import time

    sys.path.insert(0, str(ROOT))
    from tests.tasks.providers.fakes import FakeProvider, openai_chat, openai_sse

    server = FakeProvider(openai_chat("billing"), default_delay=delay, sse=openai_sse)
    sys.stdout.write(server.url + "\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--threaded", action="store_true", help="the tests' FakeProvider (for comparison)")
    args = parser.parse_args()
    if args.threaded:
        threaded(args.delay)
    asyncio.run(serve(args.delay))


if __name__ == "__main__":
    main()
