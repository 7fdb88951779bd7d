"""Fault injection: a proxy in front of moto drops the response of the first conditional PUT of a model
document. botocore retries the PUT and gets 412 although the first one was committed; the change must be
recognised by its idempotency token (its history event id) and applied exactly once."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from registry.service import open_registry
from tests.registry.conftest import config


class DroppingProxy:
    """Forwards HTTP to ``upstream``; swallows the response of the first ``drops`` conditional PUTs."""

    def __init__(self, upstream: str, drops: int = 1) -> None:
        self.upstream = urlsplit(upstream)
        self.drops = drops
        self.dropped: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                conditional = self.command == "PUT" and "/models/" in self.path and (
                    "If-Match" in self.headers or "If-None-Match" in self.headers)
                if conditional and resp.status == 200 and proxy.drops > 0:
                    proxy.drops -= 1
                    proxy.dropped.append(self.path)
                    self.close_connection = True  # committed upstream, but the client never hears of it
                    return
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DroppingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[DroppingProxy, str]]:
    uri = f"s3://{s3_bucket}/reg/"
    reg = open_registry(uri, actor="setup")
    reg.init()
    reg.register("m", config())
    with DroppingProxy(s3_endpoint, drops=0) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        yield p, uri


def test_lost_response_of_a_committed_put_applies_the_change_once(proxy: tuple[DroppingProxy, str]) -> None:
    p, uri = proxy
    reg = open_registry(uri, actor="tester")
    p.drops = 1
    rec = reg.record_eval("m", 1, suite="s", passed=True, scores={"accuracy": 0.9})
    assert p.dropped, "the proxy did not drop a response: the test proves nothing"
    record = reg.get_model("m")
    assert [e.suite for e in record.evaluations] == ["s"]
    assert [e.action for e in record.history] == ["register", "evaluate"]
    assert rec.passed


def test_lost_response_of_experiment_start_is_not_reported_refused(proxy: tuple[DroppingProxy, str]) -> None:
    p, uri = proxy
    reg = open_registry(uri, actor="tester")
    reg.register("m", config(temperature=0.5))
    p.drops = 1
    exp = reg.start_experiment("m", control=1, treatment=2, split=0.1, force=True, reason="test")
    assert p.dropped
    record = reg.get_model("m")
    assert [e.id for e in record.experiments] == [exp.id]
    assert [e.action for e in record.history].count("experiment_start") == 1


def test_lost_response_of_a_create_is_success(proxy: tuple[DroppingProxy, str]) -> None:
    p, uri = proxy
    reg = open_registry(uri, actor="tester")
    p.drops = 1
    version, created = reg.register("fresh", config())
    assert p.dropped and created and version.number == 1
    assert [e.action for e in reg.get_model("fresh").history] == ["register"]
