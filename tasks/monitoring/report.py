"""Pure renderers for the monitor: markdown per model and a PNG time-series chart per model."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from tasks.monitoring.monitor import ModelMonitor, MonitorReport

_LABELS = {"quality_score": "quality score", "error_rate": "error rate", "latency_p95_ms": "p95 latency (ms)",
           "cost_per_1k_usd": "cost per 1k requests (USD)"}


def _f(x: float | None, kind: str = "") -> str:
    if x is None:
        return "—"
    if kind == "relative":
        return f"{x:+.1%}"
    if kind == "absolute":
        return f"{x:+.4g}"
    return f"{x:.4g}"


def render_model_markdown(model: ModelMonitor, report: MonitorReport) -> str:
    """One model's monitor report: versions that served, each metric's decision."""
    w = report.window
    lines = [f"# Monitor: {model.model}", "", f"**Status: {model.status.upper()}**", "",
             f"Window {w['start']} – {w['end']} against the baseline {w['baseline_start']} – {w['baseline_end']}. "
             f"Versions that served in the window: {', '.join(f'@{v}' for v in model.served_in_window) or 'none'}.",
             "", "Unit: user (ratios of per-user sums, delta method); Holm across each version's metrics; degraded = "
             "significant and beyond the metric's practical threshold."]
    for v in model.versions:
        lines += ["", f"## {model.model}@{v.version}: {v.status}", "",
                  f"{v.requests} requests from {v.users} users in the window; baseline: "
                  f"{'its own earlier traffic' if v.baseline_source == 'version' else 'the model earlier traffic'} "
                  f"({v.baseline_requests} requests)."]
        if v.evaluation:
            scores = ", ".join(f"{k} {val:.3g}" for k, val in v.evaluation["scores"].items()) or "no scores"
            lines.append(f"Evaluation record: suite {v.evaluation['suite']}, "
                         f"{'passed' if v.evaluation['passed'] else 'not passed'}, {scores}.")
        lines += ["", "| metric | status | baseline | current | change | threshold | p (Holm) | users b / c |",
                  "|---|---|---|---|---|---|---|---|"]
        for m in v.metrics:
            limit = "report only" if m.threshold is None else (
                f"{m.threshold:.0%}" if m.change_kind == "relative" else f"{m.threshold:g}")
            p = "—" if m.p_value_adjusted is None else f"{m.p_value_adjusted:.3g}"
            lines.append(f"| {m.metric} | {m.status} | {_f(m.baseline)} | {_f(m.current)} | "
                         f"{_f(m.change, m.change_kind)} | {limit} | {p} | {m.users_baseline} / {m.users_current} |")
    if not model.versions:
        lines += ["", "No production traffic in the window."]
    return "\n".join(lines) + "\n"


def render_series_png(model: ModelMonitor) -> bytes:
    """A small chart: each series metric per version over the baseline and current windows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = model.series
    fig, axes = plt.subplots(2, 2, figsize=(9, 5.5), sharex=True)
    if series is not None:
        start = datetime.fromisoformat(series.start.replace("Z", "+00:00"))
        for ax, metric in zip(axes.flat, _LABELS, strict=True):
            for version, values in sorted(series.versions.items()):
                points = values[metric]
                xs = [start + timedelta(hours=i * series.bucket_hours) for i in range(len(points))]
                ax.plot(xs, [float("nan") if v is None else v for v in points], lw=1, label=f"@{version}")
            ax.set_title(_LABELS[metric], fontsize=9)
            ax.tick_params(labelsize=7)
        axes.flat[0].legend(fontsize=7)
        fig.autofmt_xdate()
    fig.suptitle(f"{model.model}: per version ({model.status})", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()
