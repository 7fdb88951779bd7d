"""Registry benchmarks: resolve() throughput and latency, and a 1,000-model x 20-version registry.

Run: ``.venv/bin/python bench/registry_bench.py [--quick]`` (``make bench`` runs every benchmark).
Each figure is printed beside a baseline measured in the same run and the target from the issue.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.entities import EnvPointer, EvalRecord, HistoryEvent, ModelConfig, ModelRecord, Version, utcnow  # noqa: E402
from registry.service import open_registry  # noqa: E402
from registry.serving import ServingSnapshot, compile_record  # noqa: E402
from registry.stores.base import encode_record  # noqa: E402
from registry.stores.file import FileStore  # noqa: E402


def build_registry(root: str, models: int, versions: int) -> None:
    """Write a registry of ``models`` x ``versions`` directly (one document write per model)."""
    store = FileStore(root)
    store.initialize()
    now = utcnow()
    for m in range(models):
        name = f"model-{m:04d}"
        vs, evals, history = [], [], []
        for n in range(1, versions + 1):
            cfg = ModelConfig(provider="openai", model_id="gpt-4o-2024-08-06", temperature=0.2,
                              max_tokens=512, system_prompt=f"You are assistant {m}, prompt revision {n}.")
            digest = cfg.digest()
            stage = "production" if n == versions else "archived" if n == versions - 1 else "development"
            vs.append(Version(number=n, digest=digest, config=cfg, description=f"revision {n}", created_at=now,
                              created_by="bench", stage=stage))
            evals.append(EvalRecord(digest=digest, version=n, suite="bench", passed=True, time=now, actor="bench",
                                    scores={"accuracy": 0.9}))
            history.append(HistoryEvent(id=f"{m}-{n}", time=now, actor="bench", action="register", model=name,
                                        version=n, after={"version": n, "digest": digest}))
        record = ModelRecord(name=name, owner="bench", versions=vs, evaluations=evals, history=history,
                             environments={"production": EnvPointer(version=versions, previous=versions - 1)})
        store.write_raw(name, encode_record(record))


def time_calls(fn, n: int) -> tuple[float, float, float]:
    """(calls per second, p50 us, p99 us) — throughput from one tight loop, latency per call."""
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    rate = n / (time.perf_counter() - start)
    samples = []
    clock = time.perf_counter_ns
    for i in range(min(n, 200_000)):
        t0 = clock()
        fn(i)
        samples.append(clock() - t0)
    samples.sort()
    return rate, samples[len(samples) // 2] / 1000, samples[int(len(samples) * 0.99)] / 1000


COLD_REGISTRY: list[str] = []  # the resolve benchmark's registry, resolved again by the cold-start rows


def bench_resolve(n: int) -> list[str]:
    tmp = tempfile.mkdtemp(prefix="modelctl-bench-")
    COLD_REGISTRY.append(os.path.join(tmp, "reg"))
    reg = open_registry(os.path.join(tmp, "reg"), actor="bench")
    reg.init()
    for t in (0.1, 0.2):
        v, _ = reg.register("summarizer", {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929",
                                           "temperature": t})
        reg.record_eval("summarizer", v.number, suite="s", passed=True)
    reg.promote("summarizer", 1, "production", reason="bench")
    reg.register("plain", {"provider": "anthropic", "model_id": "claude-sonnet-4-5-20250929"})
    reg.record_eval("plain", 1, suite="s", passed=True)
    reg.promote("plain", 1, "production", reason="bench")
    reg.start_experiment("summarizer", control=1, treatment=2, split=0.1)
    snap = ServingSnapshot(reg.store, refresh_seconds=2.0)
    users = [f"user-{i}" for i in range(10_000)]
    table = {("plain", "production"): snap.resolve("plain")}
    os.environ["MODELCTL_REGISTRY"] = os.path.join(tmp, "reg")
    os.environ["MODELCTL_LOG"] = os.path.join(tmp, "log")
    import modelctl
    from tasks.gateway import Gateway

    public = modelctl.resolve
    gateway = Gateway(log_uri=os.path.join(tmp, "log"))

    rows = []

    def row(label: str, fn, target: str = "") -> float:
        rate, p50, p99 = time_calls(fn, n)
        rows.append(f"{label:<44}{rate:>12,.0f} calls/s  p50 {p50:6.2f} us  p99 {p99:6.2f} us{target}")
        return rate

    row("baseline: plain dict lookup", lambda i: table[("plain", "production")])
    row("ServingSnapshot.resolve, no experiment", lambda i: snap.resolve("plain"))
    row("ServingSnapshot.resolve, experiment routing",
        lambda i: snap.resolve("summarizer", "production", users[i % 10_000]))
    public_rate = row("modelctl.resolve(), no experiment", lambda i: public("plain"),
                      "   (target >= 1,000,000/s, p99 < 5 us)")
    row("modelctl.resolve(), experiment routing", lambda i: public("summarizer", "production", users[i % 10_000]),
        "   (target >= 500,000/s)")
    row("Gateway.resolve(), no experiment", lambda i: gateway.resolve("plain"))
    row("Gateway.resolve(), experiment routing",
        lambda i: gateway.resolve("summarizer", "production", users[i % 10_000]))
    gateway.close()
    rows.extend(_mlflow_rows(tmp, n, public_rate))
    store = reg.store
    slow_n = max(200, n // 1000)

    def per_call(i: int) -> object:
        record = store.read("plain")
        return compile_record(record)["production"]  # type: ignore[arg-type]

    rate, p50, p99 = time_calls(per_call, slow_n)
    rows.append(f"baseline: read the store per call          {rate:>12,.0f} calls/s  p50 {p50:6.2f} us  p99 {p99:6.2f} us")
    return rows


MLFLOW_PEER = """
import json, sys, time
import mlflow
tmp, n = sys.argv[1], int(sys.argv[2])
mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
mlflow.set_registry_uri(f"sqlite:///{tmp}/mlflow.db")
genai = getattr(mlflow, "genai", mlflow)
prompt = genai.register_prompt(name="x", template="Summarise {{text}}")
genai.set_prompt_alias("x", alias="production", version=prompt.version)
genai.load_prompt("prompts:/x@production")  # warm the cache
start = time.perf_counter()
for i in range(n):
    genai.load_prompt("prompts:/x@production")
rate = n / (time.perf_counter() - start)
samples = []
for i in range(min(n, 200_000)):
    t0 = time.perf_counter_ns()
    genai.load_prompt("prompts:/x@production")
    samples.append(time.perf_counter_ns() - t0)
samples.sort()
print(json.dumps({"version": mlflow.__version__, "rate": rate, "p50": samples[len(samples) // 2] / 1000,
                  "p99": samples[int(len(samples) * 0.99)] / 1000}))
"""


def mlflow_python() -> str | None:
    """A Python that imports mlflow: this one, else the MLflow venv (``make mlflow-venv``, or beside
    ``MODELCTL_MLFLOW_BIN``), which the project keeps apart because mlflow pins conflicting versions."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is not None:
        return sys.executable
    candidates = [Path(__file__).resolve().parents[1] / ".venv-mlflow" / "bin" / "python"]
    if os.environ.get("MODELCTL_MLFLOW_BIN"):
        candidates.append(Path(os.environ["MODELCTL_MLFLOW_BIN"]).parent / "python")
    return next((str(c) for c in candidates if c.exists()), None)


def _mlflow_rows(tmp: str, n: int, public_rate: float) -> list[str]:
    """MLflow's cached alias lookup (``load_prompt("prompts:/x@alias")``), in a child process of its own venv."""
    python = mlflow_python()
    if python is None:
        return ["peer: MLflow load_prompt(prompts:/x@alias), cached       not installed (make mlflow-venv)"]
    calls = max(2_000, n // 100)
    try:
        out = subprocess.run([python, "-c", MLFLOW_PEER, tmp, str(calls)], capture_output=True, text=True,
                             check=True, timeout=600, env={**os.environ, "MLFLOW_ENABLE_TELEMETRY": "false"})
        peer = json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:  # a peer's API drift must not fail ours
        detail = getattr(exc, "stderr", "") or str(exc)
        return [f"peer: MLflow load_prompt, cached            failed: {type(exc).__name__}: "
                f"{detail.strip().splitlines()[-1] if detail.strip() else ''}"[:160]]
    return [f"peer: MLflow {peer['version']} load_prompt(prompts:/x@alias), cached {peer['rate']:>8,.0f} calls/s  "
            f"p50 {peer['p50']:6.2f} us  p99 {peer['p99']:6.2f} us   modelctl.resolve() is "
            f"{public_rate / peer['rate']:.1f}x faster"]


def import_times(registry: str) -> list[str]:
    """The CLI's start and the serving path's import, each in a fresh interpreter (median of 5), beside
    ``python -c pass``."""
    cli = [sys.executable, "-m", "modelctl.cli"]
    cases = [("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
             ("import modelctl; modelctl.resolve", [sys.executable, "-c", "import modelctl; modelctl.resolve"]),
             ("modelctl --help", [*cli, "--help"]),
             ("modelctl resolve NAME", [*cli, "--registry", registry, "resolve", "summarizer"])]
    rows, base = [], None
    for label, cmd in cases:
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True, cwd=Path(__file__).resolve().parents[1])
            times.append(time.perf_counter() - t0)
        median = statistics.median(times)
        base = median if base is None else base
        target = "" if label.startswith("python") else f"   (python -c pass {base:.3f} s; target < 0.3 s)"
        rows.append(f"{label:<44}{median:8.3f} s wall (median of 5){target}")
    return rows


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss it does not inherit the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_large(root: str, op: str) -> None:
    """Runs in a fresh process so the peak RSS belongs to this operation alone."""
    middle = len(os.listdir(os.path.join(root, "models"))) // 2
    target, other = f"model-{middle:04d}", f"model-{middle + 1:04d}"
    t0 = time.perf_counter()
    if op == "snapshot":
        snap = ServingSnapshot(root, refresh_seconds=3600)
        assert snap.resolve(target).version > 0
    elif op == "register":
        reg = open_registry(root, actor="bench")
        reg.register(target, {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "temperature": 0.9})
    elif op == "promote":
        reg = open_registry(root, actor="bench")
        reg.promote(other, 18, "staging", reason="bench")
    elif op == "list":
        reg = open_registry(root, actor="bench")
        assert len(reg.list_models()) > 0
    elapsed = time.perf_counter() - t0
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb}))


def bench_large(models: int, versions: int) -> list[str]:
    tmp = tempfile.mkdtemp(prefix="modelctl-bench-")
    root = os.path.join(tmp, "large")
    t0 = time.perf_counter()
    build_registry(root, models, versions)
    build = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in Path(root, "models").iterdir()) / 1e6
    rows = [f"registry of {models:,} models x {versions} versions: {size_mb:.1f} MB of YAML (built in {build:.1f} s)"]
    results = {}
    for op in ("snapshot", "register", "promote", "list"):
        out = subprocess.run([sys.executable, __file__, "--child", root, op], capture_output=True, text=True,
                             check=True).stdout
        results[op] = json.loads(out.strip().splitlines()[-1])
    baseline = subprocess.run([sys.executable, __file__, "--child", root, "imports"], capture_output=True,
                              text=True, check=True).stdout.strip().splitlines()[-1]
    baseline = str(json.loads(baseline)["peak_mb"])
    rows.append(f"serving snapshot cold start                {results['snapshot']['seconds']:8.3f} s   peak RSS "
                f"{results['snapshot']['peak_mb']:6.0f} MB   (target < 1 s, < 500 MB)")
    rows.append(f"one register                               {results['register']['seconds']:8.3f} s   peak RSS "
                f"{results['register']['peak_mb']:6.0f} MB   (target < 1 s)")
    rows.append(f"one promote                                {results['promote']['seconds']:8.3f} s   peak RSS "
                f"{results['promote']['peak_mb']:6.0f} MB   (target < 1 s)")
    rows.append(f"baseline: list_models (parse every document) {results['list']['seconds']:6.3f} s   peak RSS "
                f"{results['list']['peak_mb']:6.0f} MB")
    rows.append(f"baseline: interpreter with modelctl imported, no registry read   peak RSS {float(baseline):6.0f} MB")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child_large(*args.child)
        return
    gc.disable()
    print("# registry: resolve() on one core")
    for row in bench_resolve(200_000 if args.quick else 2_000_000):
        print(row)
    gc.enable()
    print("# cold start (fresh interpreter each)")
    for row in import_times(COLD_REGISTRY[0]):
        print(row)
    print("# registry: large store")
    models, versions = (100, 20) if args.quick else (1000, 20)
    for row in bench_large(models, versions):
        print(row)


if __name__ == "__main__":
    main()
