"""The DuckDB engine gives the Arrow reference's results (to 1e-9) on the shipped and the test datasets."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.ab.analysis import analyze
from tasks.ab.data import SUM_NAMES, ArmData, Window, load_arms, open_arms
from tasks.ab.moments import SummaryArm

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "examples" / "ab"))
from generate import generate, write  # noqa: E402

SAMPLE = str(ROOT / "examples" / "ab" / "sample.csv")
EXP = "summarizer-exp-1"
START = datetime(2026, 11, 1, tzinfo=UTC)


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal structures; floats to a relative 1e-9."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {set(a) ^ set(b)}"
        for key in a:
            same(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float | int):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), \
            f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def same_arms(ref: dict[str, ArmData], duck: dict[str, ArmData]) -> None:
    """The same users' sums (as multisets: user order is the engine's), counts and pre-period."""
    for arm in ("control", "treatment"):
        a, b = ref[arm], duck[arm]
        assert a.user_count == b.user_count
        assert (a.mixed_users, a.switched_users, a.dropped_requests, a.experiment_ids) == \
            (b.mixed_users, b.switched_users, b.dropped_requests, b.experiment_ids)
        order_a = np.lexsort([getattr(a, name) for name in SUM_NAMES])  # pairs the same users up
        order_b = np.lexsort([getattr(b, name) for name in SUM_NAMES])
        for name in SUM_NAMES:
            np.testing.assert_allclose(getattr(b, name)[order_b], getattr(a, name)[order_a], rtol=1e-9, atol=1e-12)
        assert (a.pre is None) == (b.pre is None)
        if a.pre is not None and b.pre is not None:
            for name in SUM_NAMES:
                np.testing.assert_allclose(b.pre[name][order_b], a.pre[name][order_a], rtol=1e-9, atol=1e-12)
        assert b.latency_quantiles is not None and len(b.latencies) == 0  # no request-level array shipped
        for q in (50, 95):
            expected = float(np.percentile(a.latencies, q)) if len(a.latencies) else None
            got = b.latency_quantiles[q]
            assert (expected is None and got is None) or math.isclose(got, expected, rel_tol=1e-9)  # type: ignore[arg-type]


class Loaded(dict[str, ArmData]):
    """The DuckDB engine's per-user arms, remembering how they were loaded (to open the sums path too)."""

    def __init__(self, arms: dict[str, ArmData], *args: Any, **kw: Any) -> None:
        super().__init__(arms)
        self.args, self.kw = args, kw


def both(source: str, experiment_id: str | None = EXP, **kw: Any) -> tuple[dict[str, ArmData], dict[str, ArmData]]:
    return (load_arms(source, experiment_id, engine="arrow", **kw),
            Loaded(load_arms(source, experiment_id, engine="duckdb", **kw), source, experiment_id, **kw))


def same_analysis(ref: dict[str, ArmData], duck: dict[str, ArmData], **kw: Any) -> dict[str, Any]:
    """The same analysis from the reference's vectors, the engine's vectors and (what ``run_analysis`` uses)
    the engine's SQL sums over a per-user table that never leaves DuckDB."""
    kw = {"planned_split": 0.5, "guardrails": {"latency_ms": 0.05, "error_rate": 0.0}, **kw}
    a, b = analyze(ref, **kw).to_dict(), analyze(duck, **kw).to_dict()
    same(a, b)
    if isinstance(duck, Loaded):
        with open_arms(*duck.args, **duck.kw) as summed:
            assert all(isinstance(arm, SummaryArm) for arm in summed.values())
            same(a, analyze(summed, **kw).to_dict())
    return b


def test_the_shipped_example_gives_identical_results() -> None:
    ref, duck = both(SAMPLE)
    same_arms(ref, duck)
    result = same_analysis(ref, duck, planned_split=0.1)
    assert result["users"]["control"] > 0 and result["metrics"][3]["robust"]["control_median"] is not None


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
@pytest.mark.parametrize("extra", [{}, {"pre_days": 14}, {"pre_days": 14, "slow_outlier_ms": 90_000.0}])
def test_generated_datasets_give_identical_results(tmp_path: Path, fmt: str, extra: dict[str, Any]) -> None:
    path = str(tmp_path / f"t.{fmt}")
    write(generate(users=2500, split=0.3, lift=0.03, latency_lift=0.1, seed=11, **extra), path)
    ref, duck = both(path)
    same_arms(ref, duck)
    same_analysis(ref, duck, planned_split=0.3)
    same_analysis(ref, duck, planned_split=0.3, cuped=False, estimators={"latency_ms": "capped"})


# the tables the decision, verdict and simulation tests analyse (now through the default DuckDB engine)
OTHER_TESTS_DATASETS: list[tuple[str, dict[str, Any]]] = [
    ("ship.parquet", {"users": 8000, "split": 0.5, "lift": 0.05}),
    ("flat.csv", {"users": 600, "split": 0.5, "lift": 0.0, "seed": 2}),
    ("slow.jsonl", {"users": 6000, "split": 0.5, "latency_lift": 0.4, "seed": 3}),
    ("outlier.csv", {"users": 3000, "split": 0.3, "latency_lift": 6.0, "seed": 41, "slow_outlier_ms": 3.0e7}),
    ("faster.parquet", {"users": 6000, "split": 0.5, "latency_lift": -0.08, "seed": 42}),
    ("pre.parquet", {"users": 4000, "split": 0.5, "lift": 0.03, "seed": 71, "pre_days": 14}),
    ("tiny.csv", {"users": 12, "split": 0.5, "seed": 9}),
]


@pytest.mark.parametrize(("name", "kw"), OTHER_TESTS_DATASETS, ids=[d[0] for d in OTHER_TESTS_DATASETS])
def test_the_other_tests_datasets_give_identical_results(tmp_path: Path, name: str, kw: dict[str, Any]) -> None:
    path = str(tmp_path / name)
    write(generate(**kw), path)
    ref, duck = both(path)
    same_arms(ref, duck)
    same_analysis(ref, duck, planned_split=kw["split"])
    same_analysis(ref, duck, planned_split=kw["split"], sequential=True, primary="latency_ms",
                  estimators={"cost_usd": "capped", "quality_score": "log"})


def test_users_in_both_arms_are_counted_identically(tmp_path: Path) -> None:
    frame = generate(users=1000, split=0.5, seed=22, pre_days=7)
    arm_rows = frame.index[frame["variant"].notna()]
    frame.loc[arm_rows[:40], "variant"] = "treatment"
    frame.loc[arm_rows[40:80], "variant"] = "control"
    path = str(tmp_path / "mixed.parquet")
    write(frame, path)
    ref, duck = both(path)
    assert ref["control"].mixed_users > 0
    same_arms(ref, duck)
    same_analysis(ref, duck)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_anonymous_requests_are_left_out_of_the_quantiles_too(tmp_path: Path, fmt: str) -> None:
    """Requests without a user id count nowhere, not even in the latency percentiles (which the engine
    takes over every arm row first, then again when it finds anonymous ones)."""
    frame = generate(users=800, split=0.5, seed=23, pre_days=7)
    arm_rows = frame.index[frame["variant"].eq("treatment")]
    frame.loc[arm_rows[:300], "user_id"] = None
    frame.loc[arm_rows[:300], "latency_ms"] = 99_000.0  # would move the treatment's median and p95
    path = str(tmp_path / f"anon.{fmt}")
    write(frame, path)
    ref, duck = both(path)
    same_arms(ref, duck)
    same_analysis(ref, duck)
    assert duck["treatment"].latency_quantiles[95] < 99_000.0  # type: ignore[index]


def _canary_table(tmp_path: Path) -> str:
    """Returning users who move from control to treatment mid-way, and pre-period traffic of the model."""
    frame = generate(users=3000, split=0.2, lift=0.02, seed=21, pre_days=14)
    frame["model"] = "summarizer"
    frame.loc[frame.index % 17 == 0, "model"] = "other"  # pre-period rows of another model are left out
    late = frame["timestamp"] > pd.Timestamp("2026-11-08", tz="UTC")
    movers = frame["user_id"].str[-1].isin(["3", "7"]) & frame["variant"].eq("control") & late
    frame.loc[movers, "variant"] = "treatment"
    path = str(tmp_path / "canary.parquet")
    frame.to_parquet(path, index=False)
    return path


def test_canary_windows_attribute_first_exposure_identically(tmp_path: Path) -> None:
    path = _canary_table(tmp_path)
    for since in (None, START + timedelta(days=3)):
        window = Window(since=since, pre_start=START - timedelta(days=14), pre_end=START, model="summarizer",
                        attribute_first_exposure=True)
        ref, duck = both(path, window=window)
        assert ref["control"].switched_users > 0 and ref["control"].dropped_requests > 0
        same_arms(ref, duck)
        same_analysis(ref, duck, planned_split=0.25, sequential=True)
    plain = Window(pre_start=START - timedelta(days=14), pre_end=START)  # an A/B test: movers are mixed users
    ref, duck = both(path, window=plain)
    assert ref["control"].mixed_users > 0
    same_arms(ref, duck)
    assert analyze(duck, planned_split=0.25).decision == "invalid"


def test_input_errors_match_the_reference(tmp_path: Path) -> None:
    from registry.errors import InvalidInput

    frame = generate(users=50, seed=2)
    frame.loc[0, "variant"] = "treatmnet"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    for engine in ("arrow", "duckdb"):
        with pytest.raises(InvalidInput, match="unknown variant"):
            load_arms(str(tmp_path / "bad.csv"), EXP, engine=engine)
        with pytest.raises(InvalidInput, match="experiment ids present: summarizer-exp-1"):
            load_arms(SAMPLE, "summarizr-exp-1", require_experiment=True, engine=engine)
        with pytest.raises(InvalidInput, match="missing column"):
            load_arms(str(ROOT / "examples" / "datasets" / "tickets_train.jsonl"), EXP, engine=engine)
    frame = generate(users=50, seed=2)
    frame.loc[3, "quality_score"] = 4.0
    frame.to_parquet(tmp_path / "q.parquet", index=False)
    for engine in ("arrow", "duckdb"):
        with pytest.raises(InvalidInput, match=r"is outside \[0, 1\]"):
            load_arms(str(tmp_path / "q.parquet"), EXP, engine=engine)


def test_s3_tables_on_moto_give_identical_results(tmp_path: Path, s3_bucket: str) -> None:
    import boto3

    client = boto3.client("s3")
    for fmt in ("parquet", "csv", "jsonl"):
        local = str(tmp_path / f"t.{fmt}")
        write(generate(users=1500, split=0.5, lift=0.03, seed=31, pre_days=7), local)
        client.upload_file(local, s3_bucket, f"ab/t.{fmt}")
        ref = load_arms(local, EXP, engine="arrow")
        duck = Loaded(load_arms(f"s3://{s3_bucket}/ab/t.{fmt}", EXP, engine="duckdb"), f"s3://{s3_bucket}/ab/t.{fmt}", EXP)
        same_arms(ref, duck)
        same_analysis(ref, duck)


def _write_log(root: Path) -> None:
    """A request log with JSONL and compacted Parquet days, and repeated feedback (the latest wins)."""
    from tasks.request_log import compact

    frame = generate(users=400, split=0.5, lift=0.05, seed=41, pre_days=5)
    frame["request_id"] = [f"r{i}" for i in range(len(frame))]
    frame["model"] = "summarizer"
    frame["input_tokens"] = np.arange(len(frame)) % 50 + 10
    frame["output_tokens"] = pd.array(np.arange(len(frame)) % 30 + 1, dtype="Int64")
    frame.loc[frame.index % 29 == 0, "output_tokens"] = pd.NA
    for day, rows in frame.groupby(frame["timestamp"].dt.strftime("%Y-%m-%d")):
        (root / "requests" / f"date={day}").mkdir(parents=True)
        (root / "feedback" / f"date={day}").mkdir(parents=True)
        requests = rows.drop(columns=["quality_score", "thumbs_up"]).copy()
        requests["timestamp"] = requests["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        requests.to_json(root / "requests" / f"date={day}" / "part-a.jsonl", orient="records", lines=True)
        fb = rows[rows["quality_score"].notna()]
        stale = pd.DataFrame({"timestamp": fb["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                              "request_id": fb["request_id"], "quality_score": 0.0, "thumbs_up": False})
        fresh = pd.DataFrame({"timestamp": (fb["timestamp"] + pd.Timedelta(minutes=5))
                              .dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "request_id": fb["request_id"],
                              "quality_score": fb["quality_score"], "thumbs_up": fb["thumbs_up"].astype(bool),
                              "label": "ok", "verified_by": "agent"})
        text = stale.to_json(orient="records", lines=True) + fresh.to_json(orient="records", lines=True)
        (root / "feedback" / f"date={day}" / "part-a.jsonl").write_text(text)
    compact(str(root), today=datetime(2026, 11, 6, tzinfo=UTC).date(), quiet_seconds=0)  # a Parquet prefix


def test_request_log_locations_give_identical_results(tmp_path: Path) -> None:
    from tasks.request_log import load_requests, load_requests_arrow

    root = tmp_path / "log"
    _write_log(root)
    assert list((root / "requests").glob("*/*.parquet")) and list((root / "requests").glob("*/*.jsonl"))
    window = Window(pre_start=START - timedelta(days=5), pre_end=START, model="summarizer")
    ref, duck = both(str(root), window=window)
    assert ref["control"].pre is not None and ref["control"].tok_n is not None and ref["control"].tok_n.sum() > 0
    same_arms(ref, duck)
    same_analysis(ref, duck)
    key = ["request_id"]
    for kw in ({}, {"model": "summarizer", "since": "2026-11-03", "until": "2026-11-07T12:00:00Z"},
               {"experiment_id": EXP, "columns": ["request_id", "variant", "latency_ms", "quality_score", "label"]}):
        a = load_requests_arrow(str(root), **kw).sort_values(key).reset_index(drop=True)  # type: ignore[arg-type]
        b = load_requests(str(root), **kw).sort_values(key).reset_index(drop=True)  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(a, b)
    assert (load_requests(str(root))["quality_score"].dropna() > 0).any()  # the stale 0.0 rows lost


def test_stats_file_from_the_documented_query_drives_the_cli(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The README's statement, run elsewhere and saved as CSV / Parquet, gives the same analysis."""
    import duckdb

    from modelctl.cli import main
    from tasks.ab.sql import Filters, user_stats_sql

    con = duckdb.connect()
    con.execute(f"CREATE TABLE requests AS SELECT * FROM read_csv('{SAMPLE}')")
    con.execute("ALTER TABLE requests ADD COLUMN input_tokens DOUBLE")
    con.execute("ALTER TABLE requests ADD COLUMN output_tokens DOUBLE")
    con.execute("ALTER TABLE requests ADD COLUMN model VARCHAR")
    stats = con.sql(user_stats_sql(Filters(experiment_id=EXP), feedback_table=False))
    stats.write_csv(str(tmp_path / "stats.csv"))
    stats.write_parquet(str(tmp_path / "stats.parquet"))
    outputs, codes = [], []
    for args in (["--logs", SAMPLE], ["--stats", str(tmp_path / "stats.csv")],
                 ["--stats", str(tmp_path / "stats.parquet")]):
        with pytest.raises(SystemExit) as exc:
            main(["--registry", str(tmp_path / "none"), "ab", "analyze", EXP, *args, "--planned-split", "0.2",
                  "--no-cuped", "--json"])
        codes.append(exc.value.code)
        outputs.append(json.loads(capsys.readouterr().out))
    assert codes[0] in (0, 1, 3) and codes == [codes[0]] * 3
    for out in outputs[1:]:
        for metric in out["metrics"]:
            metric["robust"] = None  # request-level quantiles are not in a per-user file
        reference = dict(outputs[0])
        reference["metrics"] = [{**m, "robust": None} for m in outputs[0]["metrics"]]
        same(reference, out)
    with pytest.raises(SystemExit) as exc:
        main(["ab", "analyze", EXP, "--stats", SAMPLE, "--planned-split", "0.1"])
    assert exc.value.code == 2  # not a statistics file: names the missing columns
    assert "missing column" in capsys.readouterr().err
