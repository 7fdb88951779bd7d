"""Gateway and request-log benchmarks.

Run: ``.venv/bin/python bench/gateway_bench.py [--quick]``.

1. Gateway overhead: ``Gateway.complete`` vs the same SDK path without the gateway (the client's ``post``,
   the answer read as JSON) against the same local server, interleaved call by call, the typed
   ``chat.completions.create`` printed beside; the overhead is the difference of the medians. The same for the time to
   the first streamed token: ``Gateway.stream`` vs the same SDK path without the gateway (the client's
   ``post``, chunks as JSON), with the SDK's typed ``stream=True`` call printed beside (include_usage).
2. Request logging: serialising and appending prepared records to local files from one process.
3. Reading 1,000,000 records with feedback joined into a DataFrame (JSONL, then compacted Parquet).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MODELCTL_USER_HASH_KEY", "bench-key")

from registry.service import open_registry  # noqa: E402
from tasks.gateway import Gateway  # noqa: E402
from tasks.providers.base import reset_clients  # noqa: E402
from tasks.request_log import RequestLogWriter, compact, hash_user, load_requests  # noqa: E402
from tests.tasks.providers.fakes import FakeProvider, openai_chat, openai_sse  # noqa: E402


def bench_overhead(n: int) -> list[str]:
    server = FakeProvider(openai_chat())
    os.environ["OPENAI_BASE_URL"] = server.url + "/v1"
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    import openai

    tmp = tempfile.mkdtemp(prefix="modelctl-bench-")
    reg = open_registry(os.path.join(tmp, "reg"), actor="bench")
    reg.init()
    reg.register("triage", {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "system_prompt": "Classify.",
                            "temperature": 0.0, "max_tokens": 5, "pricing": {"input_per_1m": 2.5, "output_per_1m": 10}})
    reg.record_eval("triage", 1, suite="s", passed=True)
    reg.promote("triage", 1, "production", reason="bench")
    gw = Gateway(os.path.join(tmp, "reg"), writer=RequestLogWriter(os.path.join(tmp, "logs")))
    raw = openai.OpenAI(max_retries=0)
    messages = [{"role": "user", "content": "I was charged twice"}]
    kwargs = {"model": "gpt-4o-2024-08-06", "messages": [{"role": "system", "content": "Classify."}, *messages],
              "temperature": 0.0, "max_tokens": 5}
    from tasks.providers.openai_provider import _response_class

    response = _response_class()

    def typed() -> None:
        raw.chat.completions.create(**kwargs)

    def post() -> None:  # the SDK path the provider layer takes: the client's post, the answer read as JSON
        json.loads(raw.post("/chat/completions", body=kwargs, cast_to=response).content)

    paths: list[Callable[[int], Any]] = [lambda _: typed(), lambda _: post(),
                                         lambda i: gw.complete("triage", messages, user_id=f"user-{i % 1000}")]
    for i in range(50):  # warm every path
        for path in paths:
            path(i)
    wall: list[list[float]] = [[], [], []]
    cpu: list[list[float]] = [[], [], []]
    for i in range(n):  # interleaved, the order rotating
        for k in range(3):
            j = (i + k) % 3
            t0, c0 = time.perf_counter(), time.thread_time()
            paths[j](i)
            wall[j].append(time.perf_counter() - t0)
            cpu[j].append(time.thread_time() - c0)
    gw.close()
    server.close()
    reset_clients()
    typed_med, post_med, gw_med = (statistics.median(w) * 1e6 for w in wall)
    typed_cpu, post_cpu, gw_cpu = (statistics.median(c) * 1e6 for c in cpu)
    return [f"raw openai SDK create() (typed)                  median {typed_med:8.1f} us   (client CPU {typed_cpu:.1f} us)",
            f"raw SDK client.post (the gateway's SDK path)     median {post_med:8.1f} us   (client CPU {post_cpu:.1f} us)",
            f"Gateway.complete (resolve, call, log)            median {gw_med:8.1f} us   (client CPU {gw_cpu:.1f} us)",
            f"gateway overhead over the same SDK path          median {gw_med - post_med:8.1f} us   (target < 100 us); "
            f"in client thread CPU {gw_cpu - post_cpu:.1f} us",
            f"Gateway.complete vs the typed create() call      median {gw_med - typed_med:8.1f} us; in client CPU "
            f"{gw_cpu - typed_cpu:.1f} us"]


def bench_ttft(n: int) -> list[str]:
    server = FakeProvider(openai_chat("Your refund is on its way."), sse=openai_sse)
    os.environ["OPENAI_BASE_URL"] = server.url + "/v1"
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    import openai

    tmp = tempfile.mkdtemp(prefix="modelctl-bench-")
    reg = open_registry(os.path.join(tmp, "reg"), actor="bench")
    reg.init()
    reg.register("chat", {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "system_prompt": "Be kind.",
                          "temperature": 0.0, "max_tokens": 50, "pricing": {"input_per_1m": 2.5, "output_per_1m": 10}})
    reg.record_eval("chat", 1, suite="s", passed=True)
    reg.promote("chat", 1, "production", reason="bench")
    gw = Gateway(os.path.join(tmp, "reg"), writer=RequestLogWriter(os.path.join(tmp, "logs")))
    raw = openai.OpenAI(max_retries=0)
    messages = [{"role": "user", "content": "Where is my refund?"}]
    kwargs = {"model": "gpt-4o-2024-08-06", "messages": [{"role": "system", "content": "Be kind."}, *messages],
              "temperature": 0.0, "max_tokens": 50, "stream": True, "stream_options": {"include_usage": True}}

    def raw_first() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.thread_time()
        first = cpu = 0.0
        with raw.chat.completions.create(**kwargs) as chunks:
            for chunk in chunks:
                if not first and chunk.choices and chunk.choices[0].delta.content:
                    first, cpu = time.perf_counter() - t0, time.thread_time() - c0
        return first, cpu

    def post_first() -> tuple[float, float]:
        """The SDK path the gateway takes: the client's ``post``, chunks read as JSON (no pydantic models)."""
        t0, c0 = time.perf_counter(), time.thread_time()
        first = cpu = 0.0
        with raw.post("/chat/completions", body=kwargs, cast_to=object, stream=True,
                      stream_cls=openai.Stream[object]) as chunks:
            for chunk in chunks:
                if not first and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                    first, cpu = time.perf_counter() - t0, time.thread_time() - c0
        return first, cpu

    def gateway_first(i: int) -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.thread_time()
        first = cpu = 0.0
        with gw.stream("chat", messages, user_id=f"user-{i % 1000}") as chunks:
            for _ in chunks:
                if not first:
                    first, cpu = time.perf_counter() - t0, time.thread_time() - c0
        return first, cpu

    paths: list[Callable[[int], tuple[float, float]]] = [lambda _: raw_first(), lambda _: post_first(), gateway_first]
    for i in range(50):
        for path in paths:
            path(i)
    timings: list[list[tuple[float, float]]] = [[], [], []]
    for i in range(n):  # interleaved, the order rotating so no path always goes first
        for k in range(3):
            j = (i + k) % 3
            timings[j].append(paths[j](i))
    gw.close()
    server.close()
    reset_clients()
    raw_med, post_med, gw_med = (statistics.median(t[0] for t in ts) * 1e6 for ts in timings)
    raw_cpu, post_cpu, gw_cpu = (statistics.median(t[1] for t in ts) * 1e6 for ts in timings)
    return [f"raw openai SDK stream=True, first token        median {raw_med:8.1f} us   (client thread CPU "
            f"{raw_cpu:.1f} us; typed chunks)",
            f"raw SDK client.post stream, first token        median {post_med:8.1f} us   (client thread CPU "
            f"{post_cpu:.1f} us; the SDK path the gateway takes)",
            f"Gateway.stream, first token                    median {gw_med:8.1f} us   (client thread CPU "
            f"{gw_cpu:.1f} us)",
            f"time-to-first-token overhead over the same SDK path  median {gw_med - post_med:8.1f} us   "
            f"(target < 100 us); in client CPU {gw_cpu - post_cpu:.1f} us",
            f"time-to-first-token vs the typed stream=True call    median {gw_med - raw_med:8.1f} us; in client CPU "
            f"{gw_cpu - raw_cpu:.1f} us"]


def _records(n: int, day: str) -> list[dict]:
    users = [hash_user(f"user-{i}") for i in range(10_000)]
    return [{"timestamp": f"{day}T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}.000000Z",
             "request_id": f"req-{day}-{i:08d}", "model": "triage", "model_id": "gpt-4o-2024-08-06",
             "version": 1 + i % 2, "digest": "ab" * 32, "environment": "production", "experiment_id": "triage-exp-1",
             "variant": "treatment" if i % 10 == 0 else "control", "user_id": users[i % 10_000],
             "latency_ms": 100.0 + i % 900, "input_tokens": 40 + i % 50, "output_tokens": 3, "cost_usd": 0.00013,
             "error": 1 if i % 97 == 0 else 0} for i in range(n)]


def bench_logging(n_write: int, n_read: int) -> list[str]:
    tmp = tempfile.mkdtemp(prefix="modelctl-bench-")
    uri = os.path.join(tmp, "logs")
    records = _records(n_write, "2026-11-20")
    writer = RequestLogWriter(uri, flush_interval=3600, batch_size=10**9, max_pending=10**9)
    t0 = time.perf_counter()
    for r in records:
        writer.append("requests", r)
    writer.flush()
    write_s = time.perf_counter() - t0
    writer.close()

    read_uri = os.path.join(tmp, "read")
    writer = RequestLogWriter(read_uri, flush_interval=3600, batch_size=10**9, max_pending=10**9)
    per_day = n_read // 4
    for d in range(4):
        for r in _records(per_day, f"2026-11-1{d}"):
            writer.append("requests", r)
        writer.flush()
    for i in range(0, n_read, 5):  # feedback on one request in five
        d = (i // per_day) % 4
        writer.append("feedback", {"timestamp": f"2026-11-1{d}T23:00:00.000000Z",
                                   "request_id": f"req-2026-11-1{d}-{i % per_day:08d}",
                                   "quality_score": (i % 10) / 10, "thumbs_up": i % 3 != 0})
    writer.close()
    t0 = time.perf_counter()
    frame = load_requests(read_uri)
    read_jsonl = time.perf_counter() - t0
    assert len(frame) == per_day * 4 and frame["quality_score"].notna().sum() > 0
    compact(read_uri, quiet_seconds=0)
    t0 = time.perf_counter()
    frame = load_requests(read_uri)
    read_parquet = time.perf_counter() - t0
    assert len(frame) == per_day * 4
    return [f"request logging to local files          {n_write / write_s:>10,.0f} records/s   (target >= 100,000/s)",
            f"read {per_day * 4:,} records + feedback join, JSONL          {read_jsonl:6.2f} s   (target < 5 s)",
            f"read {per_day * 4:,} records + feedback join, compacted Parquet {read_parquet:6.2f} s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print("# gateway overhead against a local OpenAI-compatible server")
    for row in bench_overhead(300 if args.quick else 2000):
        print(row)
    print("# time to first token, streamed, against the same kind of server")
    for row in bench_ttft(300 if args.quick else 2000):
        print(row)
    print("# request log")
    for row in bench_logging(50_000 if args.quick else 500_000, 100_000 if args.quick else 1_000_000):
        print(row)


if __name__ == "__main__":
    main()
