"""Session-wide servers: moto's S3 over HTTP on 127.0.0.1 and Prefect's test harness.

Both are opt-in fixtures, so tests that need neither pay nothing for them.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

os.environ.setdefault("MODELCTL_USER_HASH_KEY", "test-hash-key")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _atomic_moto_server(port: int):  # type: ignore[no-untyped-def]
    """moto's threaded S3 server with each request handled atomically, as S3 itself does.

    moto checks ``If-Match``/``If-None-Match`` and then writes without a lock, so two racing
    conditional puts can both succeed under load — a race real S3 does not have. Serialising requests
    (the threads still accept connections concurrently) keeps the concurrency tests about our store.
    """
    import threading

    from moto.server import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        ThreadedMotoServer,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class AtomicMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def atomic(environ, start_response):  # type: ignore[no-untyped-def]
                with lock:
                    return list(app(environ, start_response))

            self._server = make_server(self._ip_address, self._port, atomic, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return AtomicMotoServer(ip_address="127.0.0.1", port=port, verbose=False)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint (moto's server) on 127.0.0.1; sets AWS_ENDPOINT_URL for boto3."""
    port = free_port()
    server = _atomic_moto_server(port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield endpoint
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A fresh, empty bucket on the moto server."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session (starting one costs 7-15 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
