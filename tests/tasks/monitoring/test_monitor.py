"""The monitor's decisions: per version and metric, at the user level, against the baseline window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from registry.errors import InvalidInput
from tasks.monitoring.checks import DEFAULT_THRESHOLDS
from tasks.monitoring.data import parse_duration
from tasks.monitoring.monitor import run_monitor
from tasks.monitoring.report import render_model_markdown, render_series_png
from tests.tasks.monitoring.synth import NOW, traffic, week_and_day

DAY, WEEK = timedelta(hours=24), timedelta(days=7)


def _write(table: pa.Table, tmp_path: Path, name: str = "log.parquet") -> str:
    path = tmp_path / name
    pq.write_table(table, path)
    return str(path)


def _statuses(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.metric: m.status for m in report.models[0].versions[0].metrics}


def test_unchanged_traffic_is_ok_and_regressions_are_degraded(tmp_path: Path) -> None:
    same = run_monitor(None, logs=_write(week_and_day(3), tmp_path), window=DAY, baseline=WEEK, now=NOW)
    assert same.status == "ok" and not same.findings
    assert set(_statuses(same).values()) == {"ok"}

    worse = week_and_day(3, quality=0.74, error_rate=0.03, latency_ms=420.0)
    report = run_monitor(None, logs=_write(worse, tmp_path, "worse.parquet"), window=DAY, baseline=WEEK, now=NOW)
    statuses = _statuses(report)
    assert report.status == "degraded"
    assert statuses["quality_score"] == statuses["error_rate"] == statuses["latency_p95_ms"] == "degraded"
    assert statuses["cost_per_1k_usd"] == "ok"  # unchanged metrics stay ok
    finding = next(f for f in report.findings if f["metric"] == "quality_score")
    assert finding["version"] == 1 and finding["baseline"] > finding["current"] and finding["p_value"] < 0.05
    assert finding["window"]["start"] == "2026-11-19T12:00:00Z"


def test_a_significant_change_within_the_threshold_is_ok_and_thresholds_are_per_model(tmp_path: Path) -> None:
    # 20% slower at the median: significant with this traffic, but within the default +25% on p95
    logs = _write(week_and_day(5, latency_ms=360.0), tmp_path)
    report = run_monitor(None, logs=logs, window=DAY, baseline=WEEK, now=NOW)
    p95 = next(m for m in report.models[0].versions[0].metrics if m.metric == "latency_p95_ms")
    assert p95.status == "ok" and p95.p_value_adjusted is not None and p95.p_value_adjusted < 0.05
    assert 0.1 < (p95.change or 0) < DEFAULT_THRESHOLDS["latency_p95_ms"][1]  # type: ignore[operator]
    strict = run_monitor(None, logs=logs, window=DAY, baseline=WEEK, now=NOW,
                         thresholds={"summarizer": {"latency_p95_ms": 0.10}})
    assert _statuses(strict)["latency_p95_ms"] == "degraded"
    other = run_monitor(None, logs=logs, window=DAY, baseline=WEEK, now=NOW,
                        thresholds={"another-model": {"latency_p95_ms": 0.10}})
    assert _statuses(other)["latency_p95_ms"] == "ok"


def test_too_few_users_is_insufficient_not_degraded(tmp_path: Path) -> None:
    base = traffic(start=NOW - timedelta(days=8), hours=7 * 24, seed=1, users=400, per_user=10)
    cur = traffic(start=NOW - DAY, hours=24, seed=2, users=10, quality=0.3, error_rate=0.5)
    report = run_monitor(None, logs=_write(pa.concat_tables([base, cur]), tmp_path), window=DAY, baseline=WEEK,
                         now=NOW, min_users=30)
    assert report.status == "ok"
    assert set(_statuses(report).values()) == {"insufficient"}


def test_a_new_version_is_compared_with_what_served_before_it(tmp_path: Path) -> None:
    logs = _write(week_and_day(7, version_today=2, quality=0.72), tmp_path)
    report = run_monitor(None, logs=logs, window=DAY, baseline=WEEK, now=NOW)
    model = report.models[0]
    assert model.served_in_window == [2]
    check = model.versions[0]
    assert check.version == 2 and check.baseline_source == "model" and check.status == "degraded"
    assert set(model.series.versions) == {1, 2}  # type: ignore[union-attr]  # the chart shows the change of version
    markdown = render_model_markdown(model, report)
    assert "summarizer@2: degraded" in markdown and "| quality_score | degraded |" in markdown
    assert render_series_png(model)[:8] == b"\x89PNG\r\n\x1a\n"


def test_false_alarms_over_seeded_unchanged_days_stay_rare(tmp_path: Path) -> None:
    alarms = 0
    for seed in range(30):
        logs = _write(week_and_day(100 + 2 * seed), tmp_path, f"aa-{seed}.parquet")
        alarms += run_monitor(None, logs=logs, window=DAY, baseline=WEEK, now=NOW).status == "degraded"
    assert alarms == 0  # significance and a practical threshold together


def test_reads_the_request_log_written_by_the_gateway_writer(tmp_path: Path) -> None:
    from tasks.request_log import RequestLogWriter

    table = week_and_day(9, quality=0.7).to_pylist()
    writer = RequestLogWriter(str(tmp_path / "logs"), flush_interval=60)
    for i, row in enumerate(table):
        ts = row["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        writer.append("requests", {"timestamp": ts, "request_id": f"r{i}", "model": row["model"],
                                   "version": row["version"], "environment": "production",
                                   "user_id": row["user_id"], "latency_ms": row["latency_ms"],
                                   "input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"],
                                   "cost_usd": row["cost_usd"], "error": row["error"]})
        if row["quality_score"] == row["quality_score"]:  # not NaN
            writer.append("feedback", {"timestamp": ts, "request_id": f"r{i}", "quality_score": row["quality_score"],
                                       "thumbs_up": bool(row["thumbs_up"])})
    writer.close()
    report = run_monitor(None, logs=str(tmp_path / "logs"), window=DAY, baseline=WEEK, now=NOW)
    assert _statuses(report)["quality_score"] == "degraded"


def test_bad_input_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        parse_duration("yesterday", "window")
    logs = _write(week_and_day(1), tmp_path)
    with pytest.raises(InvalidInput, match="unknown monitor metric"):
        run_monitor(None, logs=logs, window=DAY, baseline=WEEK, now=NOW, thresholds={"summarizer": {"vibes": 1.0}})
    with pytest.raises(InvalidInput, match="missing column"):
        run_monitor(None, logs=_write(pa.table({"timestamp": [NOW]}), tmp_path, "bad.parquet"), window=DAY,
                    baseline=WEEK, now=NOW)
    with pytest.raises(InvalidInput, match="not found"):
        run_monitor(None, logs=str(tmp_path / "nope.csv"), window=DAY, baseline=WEEK, now=NOW)


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from modelctl.cli import main

    def cli(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(["--registry", str(tmp_path / "no-registry"), *args])
        out, err = capsys.readouterr()
        return int(exc.value.code or 0), out, err

    now = NOW.isoformat()
    ok = _write(week_and_day(3), tmp_path, "ok.parquet")
    bad = _write(week_and_day(3, error_rate=0.05), tmp_path, "bad.parquet")
    code, out, _ = cli("monitor", "--logs", ok, "--now", now, "--json")
    assert code == 0 and json.loads(out)["status"] == "ok"
    code, out, _ = cli("monitor", "--logs", bad, "--now", now, "--json", "--chart-dir", str(tmp_path / "charts"))
    report = json.loads(out)
    assert code == 1 and report["findings"][0]["metric"] == "error_rate"
    assert report["window"]["end"] == "2026-11-20T12:00:00Z"
    assert (tmp_path / "charts" / "monitor-summarizer.png").read_bytes()[:4] == b"\x89PNG"
    code, out, _ = cli("monitor", "summarizer", "--logs", bad, "--now", now, "--threshold", "error_rate=0.1")
    assert code == 0 and "| error_rate | ok |" in out  # a per-model threshold
    assert cli("monitor", "--logs", ok, "--window", "a day")[0] == 2
    assert cli("monitor", "--logs", ok, "--threshold", "error_rate=x")[0] == 2
