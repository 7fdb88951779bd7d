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


def openai_tool_call(name: str, arguments: dict, call_id: str = "call_1", tin: int = 30, tout: int = 9) -> dict:
    body = openai_chat("", tin=tin, tout=tout)
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}
    body["choices"][0]["finish_reason"] = "tool_calls"
    return body


def anthropic_tool_use(name: str, arguments: dict, call_id: str = "toolu_1", text: str = "Let me check.") -> dict:
    body = anthropic_message(text, tin=40, tout=12)
    body["content"].append({"type": "tool_use", "id": call_id, "name": name, "input": arguments})
    body["stop_reason"] = "tool_use"
    return body


def _pieces(text: str, n: int = 3) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i:i + size] for i in range(0, len(text), size)]


def openai_sse(payload: dict) -> list[tuple[str | None, dict | str]]:
    """A chat.completion as the chunks of ``stream=True`` with ``include_usage`` (usage in a last chunk)."""
    head = {k: payload[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    choice, events = payload["choices"][0], []

    def chunk(delta: dict, finish: str | None = None) -> tuple[None, dict]:
        return None, {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events.append(chunk({"role": "assistant", "content": ""}))
    for piece in _pieces(choice["message"].get("content") or ""):
        events.append(chunk({"content": piece}))
    for i, call in enumerate(choice["message"].get("tool_calls") or []):
        args = _pieces(call["function"]["arguments"], 2)
        events.append(chunk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                             "function": {"name": call["function"]["name"], "arguments": args[0]}}]}))
        for rest in args[1:]:
            events.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": rest}}]}))
    events.append(chunk({}, choice["finish_reason"]))
    events.append((None, {**head, "choices": [], "usage": payload["usage"]}))
    events.append((None, "[DONE]"))
    return events


def anthropic_sse(payload: dict) -> list[tuple[str | None, dict | str]]:
    """A message as the server-sent events of ``messages.stream``."""
    start = {**payload, "content": [], "stop_reason": None,
             "usage": {"input_tokens": payload["usage"]["input_tokens"], "output_tokens": 1}}
    events: list[tuple[str | None, dict | str]] = [("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(payload["content"]):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {"type": "text", "text": ""}}))
            for piece in _pieces(block["text"]):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                       "delta": {"type": "text_delta", "text": piece}}))
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}))
            for piece in _pieces(json.dumps(block["input"]), 2):
                events.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                       "delta": {"type": "input_json_delta", "partial_json": piece}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": payload["stop_reason"],
                                                                        "stop_sequence": None},
                                     "usage": {"output_tokens": payload["usage"]["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def bedrock_converse(text: str = "Short answer.", tools: list[tuple[str, str, dict]] = (), tin: int = 11,
                     tout: int = 3) -> dict:
    content: list[dict] = [{"text": text}] if text else []
    content += [{"toolUse": {"toolUseId": i, "name": n, "input": a}} for i, n, a in tools]
    return {"output": {"message": {"role": "assistant", "content": content}},
            "stopReason": "tool_use" if tools else "end_turn",
            "usage": {"inputTokens": tin, "outputTokens": tout, "totalTokens": tin + tout}, "metrics": {"latencyMs": 9}}


def _eventstream_message(event_type: str, payload: dict) -> bytes:
    """One message of AWS's binary event-stream encoding (prelude, headers, payload, CRC32s)."""
    import struct
    import zlib

    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"),
                        (":message-type", "event")):
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def bedrock_eventstream(payload: dict) -> list[bytes]:
    """A Converse answer as the event stream of ConverseStream."""
    out = [_eventstream_message("messageStart", {"role": "assistant"})]
    for i, block in enumerate(payload["output"]["message"]["content"]):
        if "text" in block:
            for piece in _pieces(block["text"]):
                out.append(_eventstream_message("contentBlockDelta", {"contentBlockIndex": i,
                                                                      "delta": {"text": piece}}))
        else:
            use = block["toolUse"]
            out.append(_eventstream_message("contentBlockStart", {"contentBlockIndex": i, "start": {
                "toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}}))
            for piece in _pieces(json.dumps(use["input"]), 2):
                out.append(_eventstream_message("contentBlockDelta", {"contentBlockIndex": i,
                                                                      "delta": {"toolUse": {"input": piece}}}))
        out.append(_eventstream_message("contentBlockStop", {"contentBlockIndex": i}))
    out.append(_eventstream_message("messageStop", {"stopReason": payload["stopReason"]}))
    out.append(_eventstream_message("metadata", {"usage": payload["usage"], "metrics": {"latencyMs": 9}}))
    return out


def error_body(kind: str, message: str) -> dict:
    return {"error": {"type": kind, "message": message, "code": kind}, "type": "error"}


class FakeProvider:
    """Records every request; answers from a script of (status, body, headers, delay) or a default."""

    def __init__(self, default: dict, request_id_header: str = "x-request-id", default_delay: float = 0.0,
                 sse: Any = None) -> None:
        self.default = default
        self.default_delay = default_delay
        self.sse = sse  # payload -> server-sent events, for requests with "stream": true
        self.chunk_delay = 0.0  # seconds between streamed events
        self.disconnects = 0  # streams the client closed before the end
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
                if status == 200 and outer.sse is not None and (body.get("stream") or self.path.endswith("-stream")):
                    self._stream(outer.sse(payload), headers)
                    return
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

            def _stream(self, events: list, headers: dict[str, str]) -> None:
                try:
                    self.send_response(200)
                    binary = bool(events) and isinstance(events[0], bytes)
                    self.send_header("content-type", "application/vnd.amazon.eventstream" if binary
                                     else "text/event-stream")
                    self.send_header("transfer-encoding", "chunked")
                    self.send_header(outer.header, f"req_{len(outer.requests)}")
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    for item in events:
                        if isinstance(item, bytes):
                            raw = item
                        else:
                            name, data = item
                            raw = ((f"event: {name}\n" if name else "") +
                                   f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n").encode()
                        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                        self.wfile.flush()
                        if outer.chunk_delay:
                            time.sleep(outer.chunk_delay)
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    outer.disconnects += 1
                    self.close_connection = True

        class Server(ThreadingHTTPServer):
            request_queue_size = 256

            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is not an error
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()
        self.chunk_delay = 0.0
        self.disconnects = 0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeFineTuning:
    """OpenAI's files, fine_tuning.jobs (create, retrieve, list by metadata, events, checkpoints, cancel)
    and chat completions, with state, on 127.0.0.1 for the real SDK.

    ``outcome`` is where every new job ends (succeeded | failed | cancelled); each retrieve advances a job
    one status. ``fail_retrieves`` answers that many retrieves with HTTP 500 (a provider outage mid-poll).
    ``answers`` maps a user message to the fine-tuned model's reply (default ``billing``).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                status, payload = outer.handle("GET", self.path, b"", dict(self.headers))
                self._send(status, payload)

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, payload = outer.handle("POST", self.path, body, dict(self.headers))
                self._send(status, payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self, outcome: str = "succeeded", fail_retrieves: int = 0,
              answers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.outcome, self.fail_retrieves, self.answers = outcome, fail_retrieves, answers or {}
            self.files: dict[str, dict] = {}
            self.contents: dict[str, bytes] = {}
            self.jobs: dict[str, dict] = {}
            self.events: dict[str, list[dict]] = {}
            self.paths: list[tuple[str, str]] = []
            self.job_requests: list[dict] = []

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _event(self, job_id: str, message: str) -> None:
        events = self.events.setdefault(job_id, [])
        events.append({"id": f"ftevent-{job_id[-6:]}-{len(events)}", "object": "fine_tuning.job.event",
                       "created_at": 1_700_000_000 + len(events), "level": "info", "message": message,
                       "type": "message"})

    def handle(self, method: str, raw_path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        from urllib.parse import parse_qsl, urlsplit

        parts = urlsplit(raw_path)
        path, query = parts.path.removeprefix("/v1"), dict(parse_qsl(parts.query))
        with self.lock:
            self.paths.append((method, raw_path))
            if method == "POST" and path == "/files":
                return 200, self._upload(body, headers)
            if method == "GET" and path == "/files":
                return 200, {"object": "list", "has_more": False,
                             "data": [f for f in self.files.values() if f["purpose"] == query.get("purpose", f["purpose"])]}
            if method == "POST" and path == "/fine_tuning/jobs":
                return 200, self._create(json.loads(body))
            if method == "GET" and path == "/fine_tuning/jobs":
                wanted = {k[len("metadata["):-1]: v for k, v in query.items() if k.startswith("metadata[")}
                data = [j for j in reversed(self.jobs.values())
                        if all((j["metadata"] or {}).get(k) == v for k, v in wanted.items())]
                return 200, {"object": "list", "data": data, "has_more": False}
            if path.startswith("/fine_tuning/jobs/"):
                return self._job_route(method, path.split("/")[3:])
            if method == "POST" and path == "/chat/completions":
                request = json.loads(body)
                user = next((m["content"] for m in reversed(request["messages"]) if m["role"] == "user"), "")
                return 200, openai_chat(self.answers.get(user, "billing"), model=request["model"])
        return 404, {"error": {"message": f"no route {method} {path}", "type": "invalid_request_error"}}

    def _upload(self, body: bytes, headers: dict[str, str]) -> dict:
        import re as _re

        name = _re.search(rb'filename="([^"]+)"', body)
        purpose = _re.search(rb'name="purpose"\r\n\r\n([^\r]+)', body)
        file_id = f"file-{len(self.files) + 1:04d}"
        self.contents[file_id] = body
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(body), "created_at": 1_700_000_000,
                               "filename": name.group(1).decode() if name else "upload.jsonl",
                               "purpose": purpose.group(1).decode() if purpose else "fine-tune",
                               "status": "processed"}
        return self.files[file_id]

    def _create(self, request: dict) -> dict:
        job_id = f"ftjob-{len(self.jobs) + 1:04d}"
        self.job_requests.append(request)
        job = {"id": job_id, "object": "fine_tuning.job", "created_at": 1_700_000_000, "error": None,
               "fine_tuned_model": None, "finished_at": None, "model": request["model"],
               "organization_id": "org-test", "result_files": [], "seed": request.get("seed", 0),
               "status": "validating_files", "trained_tokens": None, "training_file": request["training_file"],
               "validation_file": request.get("validation_file"), "metadata": request.get("metadata"),
               "method": request.get("method"), "hyperparameters": {"n_epochs": "auto"},
               "suffix": request.get("suffix"), "_outcome": self.outcome}
        self.jobs[job_id] = job
        self._event(job_id, f"Created fine-tuning job: {job_id}")
        return self._public(job)

    @staticmethod
    def _public(job: dict) -> dict:
        return {k: v for k, v in job.items() if not k.startswith("_")}

    def _advance(self, job: dict) -> None:
        if job["status"] == "validating_files":
            if job["_outcome"] == "failed":
                job.update(status="failed", error={"code": "invalid_training_file", "param": "training_file",
                                                   "message": "The job failed due to an invalid training file. "
                                                              "Line 3: missing assistant message."})
                self._event(job["id"], "Training file validation failed")
            else:
                job["status"] = "running"
                self._event(job["id"], "Validated training file; fine-tuning started")
        elif job["status"] == "running":
            if job["_outcome"] == "cancelled":
                job["status"] = "cancelled"
                self._event(job["id"], "Fine-tuning job cancelled")
            else:
                suffix = job.get("suffix") or "ft"
                job.update(status="succeeded", fine_tuned_model=f"ft:{job['model']}:org-test:{suffix}:{job['id'][-4:]}X",
                           finished_at=1_700_000_100, trained_tokens=12345)
                self._event(job["id"], "Step 10/10: training loss=0.05")
                self._event(job["id"], "The job has successfully completed")

    def _job_route(self, method: str, rest: list[str]) -> tuple[int, dict]:
        job = self.jobs.get(rest[0])
        if job is None:
            return 404, {"error": {"message": f"no job {rest[0]}", "type": "invalid_request_error"}}
        tail = rest[1] if len(rest) > 1 else ""
        if method == "GET" and tail == "":
            if self.fail_retrieves > 0:
                self.fail_retrieves -= 1
                return 500, {"error": {"message": "internal error", "type": "server_error"}}
            self._advance(job)
            return 200, self._public(job)
        if method == "POST" and tail == "cancel":
            job.update(status="cancelled")
            self._event(job["id"], "Fine-tuning job cancelled by user")
            return 200, self._public(job)
        if method == "GET" and tail == "events":
            return 200, {"object": "list", "has_more": False, "data": list(reversed(self.events.get(job["id"], [])))}
        if method == "GET" and tail == "checkpoints":
            data = [] if job["status"] != "succeeded" else [
                {"id": f"ftckpt-{job['id'][-4:]}", "object": "fine_tuning.job.checkpoint", "created_at": 1_700_000_090,
                 "fine_tuned_model_checkpoint": f"{job['fine_tuned_model']}:ckpt-step-10",
                 "fine_tuning_job_id": job["id"], "step_number": 10,
                 "metrics": {"step": 10, "train_loss": 0.05, "valid_loss": 0.07}}]
            return 200, {"object": "list", "data": data, "has_more": False,
                         "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}
        return 404, {"error": {"message": "no route", "type": "invalid_request_error"}}

    def count(self, method: str, path: str) -> int:
        """How many requests went to exactly ``method`` ``/v1<path>`` (query ignored)."""
        return sum(1 for m, p in self.paths if m == method and p.split("?", 1)[0] == "/v1" + path)
