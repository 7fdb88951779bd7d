"""The DuckDB engine of the monitor against the Arrow reference: the same report, to 1e-9, on tables (Parquet,
CSV, JSONL), a request-log folder (JSONL, compacted Parquet, repeated feedback) and a request log on S3."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from registry.errors import InvalidInput
from tasks.monitoring.monitor import run_monitor
from tests.tasks.monitoring.synth import NOW, traffic, week_and_day

DAY, WEEK = timedelta(hours=24), timedelta(days=7)


def same(a: Any, b: Any, where: str = "report") -> None:
    """Equal structures; numbers to a relative 1e-9 (sums are added in another order), except the chart's
    values: rounded to 6 places for display, a sum a few ulps off may round one step (1e-6) apart."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        step = 1.01e-6 if ".series." in where else 1e-12
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=step) or (math.isnan(a) and math.isnan(b)), \
            f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def both(logs: str, **kwargs: Any) -> dict[str, Any]:
    """Both engines' reports (chart series included), checked equal; the DuckDB one returned."""
    kwargs = {"window": DAY, "baseline": WEEK, "now": NOW, **kwargs}
    ref = run_monitor(None, logs=logs, engine="arrow", **kwargs).to_dict(series=True)
    duck = run_monitor(None, logs=logs, engine="duckdb", **kwargs).to_dict(series=True)
    same(ref, duck)
    return duck


def mixed() -> pa.Table:
    """Two models, a new version on a pooled baseline, too few users, anonymous requests, other environments,
    rows without a version or outside the window, a latency of exactly a quantile's neighbour (ties)."""
    parts = [week_and_day(11, version_today=2, quality=0.72, latency_ms=380.0),
             traffic(model="triage", start=NOW - timedelta(days=8), hours=8 * 24, seed=12, users=60, per_user=4,
                     user_prefix="t"),
             traffic(model="triage", version=3, start=NOW - DAY, hours=24, seed=13, users=12, user_prefix="t"),
             traffic(model="outside", start=NOW - timedelta(days=30), hours=24, seed=14, users=5),
             traffic(start=NOW - timedelta(days=3), hours=48, seed=15, users=40, feedback=0.0)]
    table = pa.concat_tables(parts)
    n = table.num_rows
    rng = np.random.default_rng(5)
    user = table["user_id"].to_pylist()
    env = table["environment"].to_pylist()
    version = table["version"].to_pylist()
    latency = np.round(table["latency_ms"].to_numpy(), 0)  # ties
    for i in rng.choice(n, 300, replace=False):
        user[i] = None
    for i in rng.choice(n, 200, replace=False):
        env[i] = None if i % 2 else "staging"
    for i in rng.choice(n, 50, replace=False):
        version[i] = None
    return (table.set_column(table.schema.get_field_index("user_id"), "user_id", pa.array(user))
            .set_column(table.schema.get_field_index("environment"), "environment", pa.array(env))
            .set_column(table.schema.get_field_index("version"), "version", pa.array(version, pa.int64()))
            .set_column(table.schema.get_field_index("latency_ms"), "latency_ms", pa.array(latency)))


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_tables_give_the_same_report(tmp_path: Path, fmt: str) -> None:
    table = mixed()
    path = tmp_path / f"log.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "csv":
        pcsv.write_csv(table, path)
    else:
        import json

        with path.open("w") as out:
            for row in table.to_pylist():
                row["timestamp"] = row["timestamp"].isoformat()
                out.write(json.dumps({k: v for k, v in row.items() if v is not None and v == v}) + "\n")
    report = both(str(path))
    assert [m["model"] for m in report["models"]] == ["summarizer", "triage"]
    assert report["models"][0]["versions"][0]["baseline_source"] == "model"
    assert [v["baseline_source"] for v in report["models"][1]["versions"]] == ["version", "model"]
    both(str(path), model="triage", min_users=5)
    both(str(path), environment="staging", min_users=2)
    both(str(path), thresholds={"summarizer": {"latency_p95_ms": 0.05}}, alpha=0.2)


@pytest.mark.parametrize("seed", [3, 21])
def test_the_monitor_test_datasets_give_the_same_report(tmp_path: Path, seed: int) -> None:
    for i, table in enumerate([week_and_day(seed), week_and_day(seed, quality=0.74, error_rate=0.03),
                               week_and_day(seed, version_today=2)]):
        path = tmp_path / f"{i}.parquet"
        pq.write_table(table, path)
        both(str(path))


def write_log(table: pa.Table, root: Path) -> None:
    """``table`` as a request log: JSONL days, the oldest days compacted to Parquet, a stale feedback row
    before each request's latest one."""
    from tasks.request_log import compact

    frame = table.to_pandas()
    frame["request_id"] = [f"r{i}" for i in range(len(frame))]
    frame["day"] = frame["timestamp"].dt.strftime("%Y-%m-%d")
    for day, rows in frame.groupby("day"):
        requests = rows.drop(columns=["quality_score", "thumbs_up", "day"]).copy()
        requests["timestamp"] = requests["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        (root / "requests" / f"date={day}").mkdir(parents=True)
        requests.to_json(root / "requests" / f"date={day}" / "part-a.jsonl", orient="records", lines=True)
        fb = rows[rows["quality_score"].notna()]
        stamps = fb["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        later = (fb["timestamp"] + timedelta(minutes=5)).dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        (root / "feedback" / f"date={day}").mkdir(parents=True)
        stale = fb.assign(timestamp=stamps, quality_score=0.0, thumbs_up=False)
        fresh = fb.assign(timestamp=later, thumbs_up=fb["thumbs_up"] > 0)
        for name, part in (("part-a", stale), ("part-b", fresh)):
            part[["timestamp", "request_id", "quality_score", "thumbs_up"]].to_json(
                root / "feedback" / f"date={day}" / f"{name}.jsonl", orient="records", lines=True)
    compact(str(root), today=(NOW - timedelta(days=4)).date(), quiet_seconds=0)


def test_a_request_log_folder_gives_the_same_report(tmp_path: Path) -> None:
    table = mixed()
    write_log(table.filter(pc.is_valid(table["version"])), tmp_path / "logs")
    assert list((tmp_path / "logs" / "requests").glob("*/*.parquet"))
    report = both(str(tmp_path / "logs"))
    assert report["models"][0]["versions"][0]["status"] == "degraded"
    both(str(tmp_path / "logs"), model="summarizer", environment="staging", min_users=2)


def test_torn_lines_are_skipped_and_reported_by_both_engines(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    import logging

    write_log(week_and_day(31), tmp_path / "logs")
    day = (NOW - timedelta(hours=3)).strftime("%Y-%m-%d")
    with (tmp_path / "logs" / "requests" / f"date={day}" / "part-a.jsonl").open("a") as out:
        out.write('{"timestamp": "2026-11-20T10:00:00Z", "request_id": "torn", "mod\n')
    for engine in ("arrow", "duckdb"):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="modelctl.request_log"):
            run_monitor(None, logs=str(tmp_path / "logs"), window=DAY, baseline=WEEK, now=NOW, engine=engine)
        assert "skipped 1 unreadable line(s)" in caplog.text, engine
    both(str(tmp_path / "logs"))


def test_an_s3_request_log_gives_the_same_report(tmp_path: Path, s3_bucket: str) -> None:
    import boto3

    write_log(week_and_day(23, quality=0.7), tmp_path / "logs")
    client = boto3.client("s3")
    for path in (tmp_path / "logs").rglob("*"):
        if path.is_file():
            client.upload_file(str(path), s3_bucket, f"logs/{path.relative_to(tmp_path / 'logs')}")
    report = both(f"s3://{s3_bucket}/logs/")
    assert report["status"] == "degraded"


def test_bad_input_is_reported_by_both_engines(tmp_path: Path) -> None:
    scores = mixed().to_pandas()
    scores.loc[5, "quality_score"] = 4.0
    scores.to_parquet(tmp_path / "q.parquet", index=False)
    text = mixed().to_pandas()
    text["latency_ms"] = text["latency_ms"].astype(str)
    text.loc[7, "latency_ms"] = "slow"
    text.to_csv(tmp_path / "t.csv", index=False)
    for engine in ("arrow", "duckdb"):
        with pytest.raises(InvalidInput, match=r"quality_score must be in \[0, 1\]") as exc:
            run_monitor(None, logs=str(tmp_path / "q.parquet"), window=DAY, baseline=WEEK, now=NOW, engine=engine)
        assert exc.value.field == "quality_score"
        with pytest.raises(InvalidInput) as exc:
            run_monitor(None, logs=str(tmp_path / "t.csv"), window=DAY, baseline=WEEK, now=NOW, engine=engine)
        assert exc.value.field == "latency_ms"
    with pytest.raises(InvalidInput, match="unknown engine"):
        run_monitor(None, logs=str(tmp_path / "q.parquet"), window=DAY, baseline=WEEK, now=NOW, engine="pandas")
