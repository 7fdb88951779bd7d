"""Local HTTP servers that speak the providers' wire formats, for the real SDKs to call."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def openai_chat(text: str = "billing", model: str = "gpt-4o-2024-08-06", tin: int = 12, tout: int = 3) -> dict:
    return {"id": "chatcmpl-abc123", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                         "logprobs": None}],
            "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}}


def openai_embeddings(vectors: list[list[float]], model: str = "text-embedding-3-small") -> dict:
    return {"object": "list", "model": model, "usage": {"prompt_tokens": 4, "total_tokens": 4},
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]}


def anthropic_message(text: str = "A summary.", model: str = "claude-sonnet-4-5-20250929", tin: int = 20,
                      tout: int = 5) -> dict:
    return {"id": "msg_01XYZ", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": tin, "output_tokens": tout}}


def error_body(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message, "code": kind}, "type": "error"}


class FakeProvider:
    """Records every request; answers from a script of (status, body, headers, delay) or a default."""

    def __init__(self, default: dict, request_id_header: str = "x-request-id", default_delay: float = 0.0) -> None:
        self.default = default
        self.default_delay = default_delay
        self.script: deque[tuple[int, dict, dict[str, str], float]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.header = request_id_header
        self.get_routes: dict[str, dict] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real provider APIs
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                path = self.path.split("?", 1)[0]
                outer.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": None})
                payload = outer.get_routes.get(path)
                data = json.dumps(payload if payload is not None else {"error": {"message": "not found"}}).encode()
                self.send_response(200 if payload is not None else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                outer.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                status, payload, headers, delay = (outer.script.popleft() if outer.script
                                                   else (200, outer.default, {}, outer.default_delay))
                if delay:
                    time.sleep(delay)
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.send_header(outer.header, f"req_{len(outer.requests)}")
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
