"""The monitor pipeline: read the log once, group rows by (model, version) and window, decide, report.

``run_monitor`` is what both the ``monitor`` flow and ``modelctl monitor`` call, so they can never decide
differently; ``emit_findings`` sends ``modelctl.monitor.degraded`` for each degraded metric. A degraded
model is a finding, not a failure: the run completes and the event carries the alarm.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from registry.errors import InvalidInput, ModelNotFound, RegistryError, RegistryNotFound
from registry.service import Registry
from tasks.monitoring.checks import VersionCheck, check_version, resolve_thresholds
from tasks.monitoring.data import LogColumns, load_columns, micros
from tasks.monitoring.keys import monitor_result_key

ENGINES = ("duckdb", "arrow")
SERIES_METRICS = ("quality_score", "error_rate", "latency_p95_ms", "cost_per_1k_usd")
_LOG_BINS = 16  # latency histogram bins per doubling, for the chart's per-bucket p95 (about 4% resolution)
HIST_BINS = 64 * _LOG_BINS


@dataclass
class Series:
    """A metric's time series per version: bucket start times and one list of values per version."""

    start: str
    bucket_hours: int
    versions: dict[int, dict[str, list[float | None]]]


@dataclass
class ModelMonitor:
    """One model: each version that served in the window, and the chart's series."""

    model: str
    status: str
    versions: list[VersionCheck]
    served_in_window: list[int]
    series: Series | None = None


@dataclass
class MonitorReport:
    """A monitor run over every model (or one)."""

    status: str
    window: dict[str, str]
    models: list[ModelMonitor] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, series: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not series:
            for m in out["models"]:
                m.pop("series", None)
        return out


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _groups(cols: LogColumns, current_from: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """Rows ordered by (group, window) and the slice bounds; groups are (model code, version) pairs."""
    span = int(cols.version.max(initial=0)) + 1
    key = cols.model_idx * span + cols.version
    present = np.bincount(key, minlength=1) > 0
    lut = np.cumsum(present) - 1
    pairs = [(int(k) // span, int(k) % span) for k in np.flatnonzero(present)]
    gw = lut[key] * 2 + (cols.ts >= current_from)
    order = np.argsort(gw.astype(np.uint32 if len(pairs) * 2 >= 1 << 16 else np.uint16), kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(gw, minlength=2 * len(pairs)))])
    return order, bounds, pairs


def buckets_of(start_us: int, end_us: int) -> tuple[int, int, int]:
    """The chart's buckets over ``[start, end)``: (hours per bucket, how many, width in microseconds); at most
    about 200 buckets, so that a long baseline stays readable."""
    hours = max(1, math.ceil((end_us - start_us) / 3_600_000_000))
    bucket_hours = max(1, math.ceil(hours / 200))
    return bucket_hours, math.ceil(hours / bucket_hours), bucket_hours * 3_600_000_000


def latency_bin(latency: np.ndarray) -> np.ndarray:
    """The log-histogram bin of each latency (``_LOG_BINS`` per doubling)."""
    return np.clip(np.log2(latency + 1) * _LOG_BINS, 0, HIST_BINS - 1).astype(np.int64)


def series_values(n: np.ndarray, q_n: np.ndarray, q_sum: np.ndarray, errors: np.ndarray, cost: np.ndarray,
                  hist: np.ndarray) -> dict[str, list[float | None]]:
    """One version's chart values from its per-bucket sums and latency histogram (``buckets x HIST_BINS``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        quality = q_sum / q_n
        error_rate = errors / n
        cost_1k = cost * 1000 / n
    first = np.argmax(np.cumsum(hist, axis=1) >= 0.95 * n[:, None], axis=1)
    p95 = np.where(n > 0, np.exp2((first + 0.5) / _LOG_BINS) - 1, np.nan)
    return {name: [None if not math.isfinite(v) else round(float(v), 6) for v in values]
            for name, values in zip(SERIES_METRICS, (quality, error_rate, p95, cost_1k), strict=True)}


def _series(cols: LogColumns, idx_by_version: dict[int, np.ndarray], start_us: int, end_us: int) -> Series:
    """Per-bucket quality, error rate, p95 latency (log-histogram) and cost per 1k requests per version."""
    bucket_hours, buckets, width = buckets_of(start_us, end_us)
    out: dict[int, dict[str, list[float | None]]] = {}
    for version, idx in idx_by_version.items():
        b = np.clip((cols.ts[idx] - start_us) // width, 0, buckets - 1)
        q = cols.quality[idx]
        q_ok = ~np.isnan(q)
        hist = np.bincount(b * HIST_BINS + latency_bin(cols.latency[idx]),
                           minlength=buckets * HIST_BINS).reshape(buckets, -1)
        out[version] = series_values(np.bincount(b, minlength=buckets), np.bincount(b[q_ok], minlength=buckets),
                                     np.bincount(b[q_ok], weights=q[q_ok], minlength=buckets),
                                     np.bincount(b, weights=cols.error[idx], minlength=buckets),
                                     np.bincount(b, weights=cols.cost[idx], minlength=buckets), hist)
    return series_at(start_us, bucket_hours, out)


def series_at(start_us: int, bucket_hours: int, versions: dict[int, dict[str, list[float | None]]]) -> Series:
    """The chart's series starting at ``start_us``."""
    return Series(_iso(datetime.fromtimestamp(start_us / 1e6, UTC)), bucket_hours, versions)


def monitor_columns(cols: LogColumns, *, now: datetime, window: timedelta, baseline: timedelta,
                    thresholds: dict[str, dict[str, float]] | None = None, min_users: int = 30,
                    alpha: float = 0.05, models: list[str] | None = None) -> MonitorReport:
    """Decide every (model, version) that served in the window (rows must lie in ``[now - window - baseline, now)``)."""
    current_from, start = now - window, now - window - baseline
    order, bounds, pairs = _groups(cols, micros(current_from))
    by_model: dict[str, list[tuple[int, int]]] = {}
    for g, (m, v) in enumerate(pairs):
        by_model.setdefault(cols.models[m], []).append((g, v))
    report = new_report(now, window, baseline)
    for name in sorted(set(by_model) | set(models or [])):
        groups = by_model.get(name, [])
        limits = resolve_thresholds((thresholds or {}).get(name))
        pooled = np.concatenate([order[bounds[2 * g]:bounds[2 * g + 1]] for g, _ in groups] or [np.zeros(0, int)])
        checks, served, idx_by_version = [], [], {}
        for g, version in groups:
            base, cur = order[bounds[2 * g]:bounds[2 * g + 1]], order[bounds[2 * g + 1]:bounds[2 * g + 2]]
            idx_by_version[version] = order[bounds[2 * g]:bounds[2 * g + 2]]
            if not len(cur):
                continue
            served.append(version)
            own = len(np.unique(cols.user[base])) >= min_users
            check = check_version(name, version, cols, base if own else pooled, cur, "version" if own else "model",
                                  limits, min_users=min_users, alpha=alpha)
            checks.append(check)
        series = _series(cols, idx_by_version, micros(start), micros(now)) if idx_by_version else None
        add_model(report, name, checks, served, series)
    return report


def new_report(now: datetime, window: timedelta, baseline: timedelta) -> MonitorReport:
    """An empty report over the windows ending at ``now``."""
    current_from, start = now - window, now - window - baseline
    return MonitorReport("ok", {"start": _iso(current_from), "end": _iso(now), "baseline_start": _iso(start),
                                "baseline_end": _iso(current_from)})


def add_model(report: MonitorReport, name: str, checks: list[VersionCheck], served: list[int],
              series: Series | None) -> None:
    """One model's checks into the report: its status, and a finding per degraded metric."""
    status = "degraded" if any(c.status == "degraded" for c in checks) else "ok"
    report.models.append(ModelMonitor(name, status, checks, served, series))
    for c in checks:
        report.findings += [{"model": name, "version": c.version, "metric": m.metric, "baseline": m.baseline,
                             "current": m.current, "p_value": m.p_value_adjusted, "window": report.window,
                             "change": m.change, "threshold": m.threshold, "baseline_source": c.baseline_source}
                            for m in c.metrics if m.status == "degraded"]
    report.status = "degraded" if report.findings else "ok"


def _evaluations(registry: Registry, names: list[str]) -> dict[tuple[str, int], dict[str, Any]]:
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for name in names:
        record = registry.get_model(name)
        for version in record.versions:
            evals = [e for e in record.evaluations if e.digest == version.digest]
            if evals:
                last = evals[-1]
                out[(name, version.number)] = {"suite": last.suite, "passed": last.passed, "scores": last.scores,
                                               "time": _iso(last.time)}
    return out


def run_monitor(registry: Registry | None, *, logs: str, model: str | None = None, window: timedelta,
                baseline: timedelta, now: datetime | None = None,
                thresholds: dict[str, dict[str, float]] | None = None, min_users: int = 30, alpha: float = 0.05,
                environment: str = "production", engine: str = "duckdb") -> MonitorReport:
    """Monitor one model (or every model in the registry and the log) over ``logs``.

    Args:
        registry: the registry (for model names and evaluation records), or None for a bare table.
        logs: a request-log URI or a CSV / Parquet / JSONL table.
        model: one registered model name; None for all.
        window: the current window; baseline: the window before it.
        thresholds: ``{model: {metric: threshold}}`` overriding the defaults.
        engine: ``duckdb`` (filters, join and aggregation in SQL: ``tasks.monitoring.engine``) or ``arrow``
            (the rows as numpy columns: the reference).
    """
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}; one of {', '.join(ENGINES)}", field="engine")
    if not 0 < alpha < 1 or min_users < 2:
        raise InvalidInput("alpha must be in (0, 1) and min users at least 2", field="alpha")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    names: list[str] = []
    if registry is not None:
        try:
            names = [r.name for r in registry.list_models()]
        except RegistryNotFound:
            registry = None
    if model is not None and registry is not None and model not in names:
        raise ModelNotFound(f"model {model!r} not found in {registry.uri}")
    if engine == "duckdb":
        from tasks.monitoring.engine import monitor_sql

        report = monitor_sql(logs, now=now, window=window, baseline=baseline, model=model, environment=environment,
                             thresholds=thresholds, min_users=min_users, alpha=alpha,
                             models=[model] if model else names)
    else:
        cols = load_columns(logs, since=now - window - baseline, until=now, model=model, environment=environment)
        report = monitor_columns(cols, now=now, window=window, baseline=baseline, thresholds=thresholds,
                                 min_users=min_users, alpha=alpha, models=[model] if model else names)
    _attach_evaluations(registry, report, [model] if model else names)
    return report


def _attach_evaluations(registry: Registry | None, report: MonitorReport, names: list[str]) -> None:
    """Each checked version's newest evaluation record (none without a registry, or when it is unreadable)."""
    if registry is None:
        return
    try:
        evaluations = _evaluations(registry, names)
    except RegistryError:
        return
    for model in report.models:
        for check in model.versions:
            check.evaluation = evaluations.get((model.model, check.version))


def record_results(registry: Registry, report: MonitorReport) -> list[str]:
    """Keep each monitored model's newest result per version beside the registry (a side document, not a
    change of the model): the window's end, the version's status, requests and users. Returns the keys."""
    import json

    known = {r.name: r for r in registry.list_models()}
    keys = []
    for model in report.models:
        record = known.get(model.model)
        if record is None or not model.versions:
            continue
        key = monitor_result_key(model.model)
        doc = json.loads(registry.read_aux(key) or b"{}")
        versions = dict(doc.get("versions") or {})
        for check in model.versions:
            version = record.version(check.version)
            if str(versions.get(str(check.version), {}).get("time", "")) > report.window["end"]:
                continue  # a backfill of an older window does not replace a newer result
            versions[str(check.version)] = {"time": report.window["end"], "status": check.status,
                                            "requests": check.requests, "users": check.users,
                                            "digest": version.digest if version else None}
        registry.write_aux(key, json.dumps({"model": model.model, "versions": versions}, indent=1,
                                           sort_keys=True).encode())
        keys.append(key)
    return keys


def emit_findings(report: MonitorReport) -> int:
    """``modelctl.monitor.degraded`` per degraded metric (resource: the model); returns how many were sent."""
    from tasks import events

    sent = 0
    for f in report.findings:
        payload = {k: f[k] for k in ("version", "metric", "baseline", "current", "p_value", "window", "change",
                                     "threshold", "baseline_source")}
        sent += events.emit("monitor", "degraded", resource_id=f["model"], resource_prefix="modelctl.model",
                            related=events.model_related(f["model"], [f["version"]])[1:], payload=payload)
    return sent
