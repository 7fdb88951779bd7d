"""Evaluation runner benchmark: 2,000 cases x 2 versions against a provider answering in 50 ms.

Run: ``.venv/bin/python bench/eval_bench.py [--quick]``.

The runner's own overhead is measured with the local provider sleeping 50 ms per call (client cost
~0); the same run through the real openai SDK against a local HTTP server that answers in 50 ms is
printed beside it, then with that server in its own process (a real provider is another machine; the
runner's calls go through ``AsyncOpenAI`` on one event loop per version; ``bench/fake_server.py``, one
asyncio loop). Beside it: the server alone with a raw aiohttp client (the floor of this set-up), and the
bare SDK without the runner — the sync SDK in a thread pool, ``AsyncOpenAI.chat.completions.create`` on
httpx (the SDK's default) and on aiohttp, and the client's ``post`` on aiohttp (the provider layer's
path) — each with its client CPU per call and the load average. Ideal wall time = 2 x cases x 0.05 s
/ concurrency (the two versions share one provider's limit). Then the fully cached re-run, timed inside the warm process, with the CLI's figure (a fresh
process, in-process pipeline) beside it, and a 10-case evaluation from the CLI in-process beside the same
through the flow (``--prefect``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MODELCTL_USER_HASH_KEY", "bench-key")

from bench.fake_server import spawn  # noqa: E402
from registry.entities import ModelConfig  # noqa: E402
from registry.service import open_registry  # noqa: E402
from tasks.evaluation import ResponseCache, load_suite  # noqa: E402
from tasks.evaluation.runner import Target, run_cases  # noqa: E402
from tests.tasks.providers.fakes import FakeProvider, openai_chat  # noqa: E402

LATENCY_S = 0.05


def make_suite(directory: Path, n: int) -> Path:
    rows = [{"id": f"c{i:05d}", "input": f"ticket number {i}: I was charged twice", "expected": "billing"}
            for i in range(n)]
    (directory / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    suite = directory / "suite.yaml"
    suite.write_text("name: bench\ndataset: cases.jsonl\nscorers:\n  - type: exact_match\n    normalize: [strip, lower]\n"
                     "gates:\n  exact_match: '>= 0.0'\n")
    return suite


def run_pair(targets: list[Target], suite: Path, concurrency: int, cache: ResponseCache | None,
             repeat_cases: int | None = None) -> float:
    loaded = load_suite(suite)
    if repeat_cases is not None:
        loaded = replace(loaded, cases=loaded.cases[:repeat_cases])
    start = time.perf_counter()
    threads = [threading.Thread(target=run_cases, args=(t, loaded.cases, loaded.suite.scorers),
                                kwargs={"concurrency": concurrency, "cache": cache, "progress": False})
               for t in targets]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - start


def load() -> str:
    """The machine's 1-minute load average (the 2 cores are shared: read every figure beside it)."""
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def bare_threads(base_url: str, calls: int, concurrency: int) -> float:
    """The sync SDK alone, ``concurrency`` threads: the baseline of a thread-pool runner."""
    from concurrent.futures import ThreadPoolExecutor

    import openai

    client = openai.OpenAI(base_url=base_url, max_retries=0)
    messages = [{"role": "user", "content": "ticket"}]
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda _: client.chat.completions.create(model="gpt-4o-2024-08-06", messages=messages),
                      range(calls)))
    return time.perf_counter() - start


def bare_async(base_url: str, calls: int, concurrency: int, transport: str = "httpx", typed: bool = True) -> float:
    """AsyncOpenAI alone on one event loop (no runner): ``transport`` httpx (the SDK's default) or aiohttp
    (``DefaultAioHttpClient``); ``typed``: ``chat.completions.create``, else the client's ``post`` with the
    same body, the answer read as JSON (the path the provider layer takes)."""
    import asyncio

    import openai

    from tasks.providers.openai_provider import _response_class

    async def run() -> float:
        http = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
        client = openai.AsyncOpenAI(base_url=base_url, max_retries=0, http_client=http)
        limit = asyncio.Semaphore(concurrency)
        body = {"model": "gpt-4o-2024-08-06", "messages": [{"role": "user", "content": "ticket"}]}
        response = _response_class()

        async def one() -> None:
            async with limit:
                if typed:
                    await client.chat.completions.create(**body)
                else:
                    json.loads((await client.post("/chat/completions", body=body, cast_to=response)).content)

        await asyncio.gather(*(one() for _ in range(concurrency)))  # connections opened before timing
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(calls)))
        wall = time.perf_counter() - start
        await client.close()
        return wall

    return asyncio.run(run())


def raw_http(base_url: str, calls: int, concurrency: int) -> float:
    """The server alone: the same POSTs from a raw aiohttp client (no SDK), ``concurrency`` in flight."""
    import asyncio

    import aiohttp

    async def run() -> float:
        body = json.dumps({"model": "gpt-4o-2024-08-06", "messages": [{"role": "user", "content": "ticket"}]})
        limit = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession() as session:
            async def one() -> None:
                async with limit, session.post(base_url + "/chat/completions", data=body,
                                               headers={"content-type": "application/json"}) as resp:
                    await resp.read()

            await asyncio.gather(*(one() for _ in range(concurrency)))
            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(calls)))
            return time.perf_counter() - start

    return asyncio.run(run())


def sdk_rows(url: str, n: int, conc: int, ideal: float) -> None:
    """The server alone, then the bare SDK baselines, each with its client CPU per call and the load."""
    from tasks.providers.base import aiohttp_installed

    rows: list[tuple[str, Any]] = [("bare sync SDK create(), thread pool (the old runner) ", bare_threads),
                                   ("bare AsyncOpenAI create(), httpx, one loop          ", bare_async)]
    if aiohttp_installed():
        rows = [("the server alone: raw aiohttp client, no SDK        ", raw_http), *rows,
                ("bare AsyncOpenAI create(), aiohttp, one loop        ",
                 lambda u, c, k: bare_async(u, c, k, "aiohttp")),
                ("bare AsyncOpenAI post(), aiohttp, one loop (our path)",
                 lambda u, c, k: bare_async(u, c, k, "aiohttp", typed=False))]
    else:
        print("(aiohttp not installed: the aiohttp rows and the raw-client server check are skipped)")
    for label, fn in rows:
        cpu = time.process_time()
        wall = fn(url + "/v1", 2 * n, conc)
        cpu_ms = (time.process_time() - cpu) / (2 * n) * 1000
        print(f"{label} {wall:7.2f} s = {wall / ideal:.2f} x ideal   (client CPU {cpu_ms:.2f} ms/call; "
              f"load {load()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    n = args.cases or (400 if args.quick else 2000)
    conc = args.concurrency
    ideal = 2 * n * LATENCY_S / conc
    tmp = Path(tempfile.mkdtemp(prefix="modelctl-bench-"))
    suite = make_suite(tmp, n)
    print(f"# evaluation runner: {n} cases x 2 versions, provider latency 50 ms, concurrency {conc}; "
          f"ideal {ideal:.2f} s (target <= {1.3 * ideal:.2f} s)")

    local = [Target("bench", v, f"{v:064x}", ModelConfig(provider="local", model_id="lead-3-v1",
                                                         params={"simulated_latency_ms": 50, "variant": v}))
             for v in (1, 2)]
    cache = ResponseCache(str(tmp / "cache"))
    wall = run_pair(local, suite, conc, cache)
    print(f"local provider, 50 ms simulated     {wall:7.2f} s   = {wall / ideal:.2f} x ideal   (target <= 1.30 x)")

    server = FakeProvider(openai_chat("billing"), default_delay=LATENCY_S)
    os.environ["OPENAI_BASE_URL"] = server.url + "/v1"
    os.environ["OPENAI_API_KEY"] = "sk-bench"
    sdk = [Target("bench-sdk", v, f"{v + 10:064x}", ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06",
                                                               temperature=0.1 * v)) for v in (1, 2)]
    wall_sdk = run_pair(sdk, suite, conc, None)
    server.close()
    print(f"real openai SDK, in-process server  {wall_sdk:7.2f} s   = {wall_sdk / ideal:.2f} x ideal   (server and "
          "client share one GIL)")
    proc, url = spawn(LATENCY_S)  # a real provider is another machine: keep the server's CPU off the client's GIL
    os.environ["OPENAI_BASE_URL"] = url + "/v1"
    run_pair(sdk, suite, conc, None, repeat_cases=50)  # warm the async clients' connections
    cpu = time.process_time()
    wall_sdk = run_pair(sdk, suite, conc, None)
    cpu_ms = (time.process_time() - cpu) / (2 * n) * 1000
    print(f"real openai SDK, server in its own process {wall_sdk:7.2f} s = {wall_sdk / ideal:.2f} x ideal   "
          f"(goal <= 1.15 x; client CPU {cpu_ms:.2f} ms/call; load {load()})")
    sdk_rows(url, n, conc, ideal)
    proc.kill()

    warm = run_pair(local, suite, conc, ResponseCache(str(tmp / "cache")))
    print(f"fully cached re-run, warm process   {warm:7.2f} s   (target < 3 s)")

    reg_uri = str(tmp / "reg")
    reg = open_registry(reg_uri, actor="bench")
    reg.init()
    for v in (1, 2):
        reg.register("bench", {"provider": "local", "model_id": "lead-3-v1",
                               "params": {"simulated_latency_ms": 50, "variant": v}})
    reg.record_eval("bench", 1, suite="s", passed=True)
    reg.promote("bench", 1, "production", reason="bench")
    env = {**os.environ, "MODELCTL_REGISTRY": reg_uri, "MODELCTL_CACHE": str(tmp / "cli-cache"),
           "PREFECT_HOME": str(tmp / "prefect"), "PREFECT_LOGGING_LEVEL": "ERROR",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    cli = [str(Path(sys.executable).with_name("modelctl")), "eval", "run", str(suite), "--candidate", "bench@2",
           "--concurrency", str(conc)]
    env.pop("PREFECT_API_URL", None)
    first = time.perf_counter()
    subprocess.run(cli, env=env, capture_output=True, check=False)
    first = time.perf_counter() - first
    start = time.perf_counter()
    proc = subprocess.run(cli, env=env, capture_output=True, text=True, check=False)
    cli_cached = time.perf_counter() - start
    print(f"CLI `modelctl eval run`, uncached   {first:7.2f} s   (in-process pipeline, no Prefect server)")
    print(f"CLI `modelctl eval run`, cached     {cli_cached:7.2f} s   (exit {proc.returncode})")
    small(tmp, env)


def small(tmp: Path, env: dict[str, str]) -> None:
    """The issue's case: a 10-case local evaluation from the CLI, in-process beside the flow path."""
    suite = make_suite(tmp / "small", 10) if (tmp / "small").mkdir() is None else None
    assert suite is not None
    base = [str(Path(sys.executable).with_name("modelctl")), "eval", "run", str(suite), "--candidate", "bench@2",
            "--no-cache"]
    rows = []
    for label, extra in (("in-process pipeline (default)", []), ("baseline: --prefect (the flow)", ["--prefect"])):
        start = time.perf_counter()
        proc = subprocess.run([*base, *extra], env=env, capture_output=True, text=True, check=False)
        rows.append(f"CLI eval run, 10 cases, {label:<31} {time.perf_counter() - start:7.2f} s wall   "
                    f"(exit {proc.returncode}{'; target < 2 s' if not extra else ''})")
    print("# 10-case evaluation from the CLI (a fresh process each; 50 ms simulated provider latency)")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
