"""Collection and validation: drops counted, redaction and decontamination, errors that name the row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from registry.errors import InvalidInput, PolicyViolation
from tasks.request_log import redactor
from tasks.training.collect import collect, read_table
from tasks.training.validate import validate
from tests.tasks.training.conftest import suite_rows, ticket_rows, write_jsonl


def _collect(data: str, suite_path: str | None) -> object:
    return collect(model="tickets", data=data, log_uri="unused", capture_content=True, suite_path=suite_path,
                   redact=redactor([r"[\w.+-]+@[\w-]+\.[\w.-]+"]))


def test_drops_unverified_duplicates_and_eval_inputs_and_redacts(tmp_path: Path, suite_path: str) -> None:
    rows = ticket_rows(50)
    rows[0]["verified_by"] = None
    rows[1]["verified_by"] = ""
    rows[2] = {**rows[3], "id": "dup", "input": "  " + rows[3]["input"].upper() + " "}  # same normalised input
    rows[4]["input"] = "mail me at jo@example.com please, my invoice is wrong"
    contaminated = suite_rows()[:3]
    rows += [{"id": f"c{i}", "input": r["input"].lower(), "output": r["expected"], "verified_by": "a"}
             for i, r in enumerate(contaminated)]
    got = _collect(write_jsonl(tmp_path / "d.jsonl", rows), suite_path)
    assert got.read == 53
    assert got.dropped == {"unverified": 2, "duplicates": 1, "redacted": 1, "contaminated": 3}
    assert got.rows == 53 - 2 - 1 - 3
    texts = set(got.frame["input"])
    assert "mail me at [REDACTED] please, my invoice is wrong" in texts
    assert not any("jo@example.com" in t for t in texts)
    assert not {r["input"].lower() for r in contaminated} & {t.lower() for t in texts}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_reads_csv_and_parquet_with_label_column(tmp_path: Path, fmt: str) -> None:
    frame = pd.DataFrame(ticket_rows(20)).rename(columns={"output": "label"}).drop(columns=["id"])
    path = tmp_path / f"d.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    got = read_table(str(path))
    assert list(got["output"]) == list(frame["label"]) and got["row"].iloc[0] == (2 if fmt == "csv" else 1)


def test_malformed_row_is_named_by_line_and_field(tmp_path: Path) -> None:
    rows = ticket_rows(10)
    rows[6]["output"] = ""
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InvalidInput) as err:
        _collect(path, None)
    assert err.value.line == 7 and err.value.field == "output" and "bad.jsonl" in str(err.value)
    (tmp_path / "broken.jsonl").write_text(json.dumps(rows[0]) + "\n{not json\n")
    with pytest.raises(InvalidInput) as err:
        _collect(str(tmp_path / "broken.jsonl"), None)
    assert err.value.line == 2
    rows[6]["output"] = "billing"
    rows[2]["input"] = [{"role": "robot", "content": "hi"}]
    with pytest.raises(InvalidInput, match="role 'robot'") as err:
        _collect(write_jsonl(tmp_path / "roles.jsonl", rows), None)
    assert err.value.line == 3 and err.value.field == "input"


def test_too_few_samples_and_token_limit() -> None:
    frame = pd.DataFrame(ticket_rows(30)).assign(row=range(1, 31))
    with pytest.raises(PolicyViolation, match="30 training examples.*minimum of 5000"):
        validate(frame, "d.jsonl", min_samples=5000, limit=None, classifier=True)
    report = validate(frame, "d.jsonl", min_samples=10, limit=None, classifier=True)
    assert sum(report.labels.values()) == 30 and report.max_tokens > 0
    frame.loc[4, "input"] = "word " * 500
    with pytest.raises(InvalidInput, match="exceed the base model's 100-token limit") as err:
        validate(frame, "d.jsonl", min_samples=10, limit=100, classifier=True)
    assert err.value.line == 5


def _write_log(root: Path, requests: list[dict], feedback: list[dict]) -> None:
    for kind, rows in (("requests", requests), ("feedback", feedback)):
        folder = root / kind / "date=2026-11-01"
        folder.mkdir(parents=True)
        write_jsonl(folder / "part-test.jsonl", rows)


def test_collects_verified_feedback_from_the_request_log(tmp_path: Path) -> None:
    base = {"timestamp": "2026-11-01T10:00:00Z", "model": "tickets", "output_text": "billing"}
    requests = [{**base, "request_id": f"r{i}", "input_text": f"ticket number {i} about my invoice"} for i in range(6)]
    requests.append({**base, "request_id": "other", "model": "else", "input_text": "not ours"})
    feedback = [{"timestamp": "2026-11-01T11:00:00Z", "request_id": "r0", "label": "billing", "verified_by": "a"},
                {"timestamp": "2026-11-01T11:00:00Z", "request_id": "r1", "label": "account", "verified_by": "b"},
                {"timestamp": "2026-11-01T11:00:00Z", "request_id": "r2", "thumbs_up": True},
                {"timestamp": "2026-11-01T11:00:00Z", "request_id": "other", "label": "x", "verified_by": "c"}]
    _write_log(tmp_path / "log", requests, feedback)
    got = collect(model="tickets", data=None, log_uri=str(tmp_path / "log"), capture_content=True, suite_path=None,
                  redact=redactor())
    assert dict(zip(got.frame["id"], got.frame["output"], strict=True)) == {"r0": "billing", "r1": "account"}
    assert got.dropped["unverified"] == 1  # r2: feedback without a verifier


def test_request_log_without_content_says_capture_was_off(tmp_path: Path) -> None:
    requests = [{"timestamp": "2026-11-01T10:00:00Z", "model": "tickets", "request_id": "r0"}]
    feedback = [{"timestamp": "2026-11-01T11:00:00Z", "request_id": "r0", "label": "billing", "verified_by": "a"}]
    _write_log(tmp_path / "log", requests, feedback)
    with pytest.raises(InvalidInput, match="content capture was off.*--capture-content"):
        collect(model="tickets", data=None, log_uri=str(tmp_path / "log"), capture_content=False, suite_path=None,
                redact=redactor())


def test_chat_message_inputs_from_parquet(tmp_path: Path) -> None:
    rows = ticket_rows(12)
    frame = pd.DataFrame({"input": [[{"role": "system", "content": "Classify."}, {"role": "user", "content": r["input"]}]
                                    for r in rows], "output": [r["output"] for r in rows]})
    frame.to_parquet(tmp_path / "chat.parquet")
    got = _collect(str(tmp_path / "chat.parquet"), None)
    assert got.rows == 12 and got.frame["input"].iloc[0][1]["content"] == rows[0]["input"]
    from tasks.training.split import split_rows

    result = split_rows(got.frame, seed=0, ratios=(0.8, 0.1, 0.1), stratify=True)
    assert json.loads(result.canonical.splitlines()[0])["input"][0]["role"] == "system"
