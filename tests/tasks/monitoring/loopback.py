"""A loopback provider speaking OpenAI's chat-completions wire format, answering from a simulated model.

Modes: ``same`` (the reference model), ``switch`` (another model silently serves a share of the inputs),
``length`` (only the answer lengths change), ``fingerprint`` (same answers, a new ``system_fingerprint``).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from tasks.monitoring.simulate import SimulatedModel

MODEL_ID = "gpt-4o-2024-08-06"
BASE = SimulatedModel(name=MODEL_ID, fingerprint="fp_44709d6fcb")
OTHER = SimulatedModel(name=MODEL_ID, style=2, topic_share=0.3, fingerprint=BASE.fingerprint)
LONGER = SimulatedModel(name=MODEL_ID, length_scale=1.3, fingerprint=BASE.fingerprint)


class LoopbackProvider:
    """``/v1/chat/completions`` on 127.0.0.1; ``configure`` picks the mode and the seed."""

    def __init__(self) -> None:
        self.mode, self.switched, self.calls = "same", set[str](), 0
        self.rng = np.random.default_rng(0)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                text = next(m["content"] for m in body["messages"] if m["role"] == "user")
                data = json.dumps(outer.answer(text)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def configure(self, mode: str, seed: int, switched: set[str] | None = None) -> None:
        with self.lock:
            self.mode, self.rng, self.switched = mode, np.random.default_rng(seed), switched or set()

    def answer(self, text: str) -> dict[str, Any]:
        with self.lock:
            self.calls += 1
            model = {"length": LONGER}.get(self.mode, BASE)
            if self.mode == "switch" and text in self.switched:
                model = OTHER
            content = model.answer(text, self.rng)
            fingerprint = "fp_new_snapshot" if self.mode == "fingerprint" else model.fingerprint
        words = len(content.split())
        return {"id": f"chatcmpl-{self.calls}", "object": "chat.completion", "created": 1_700_000_000,
                "model": model.name, "system_fingerprint": fingerprint,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": len(text.split()), "completion_tokens": words,
                          "total_tokens": len(text.split()) + words}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
