"""The request log loses nothing silently: checked writes, spill files, torn lines skipped and counted,
a flush on SIGTERM, redaction that keeps its defaults, 0600 files."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from registry.errors import InvalidInput
from tasks import request_log
from tasks.request_log import Redactor, RequestLogWriter, load_requests
from tests.tasks.test_request_log import record

ROOT = Path(__file__).resolve().parents[2]


def test_disk_full_keeps_records_leaves_no_torn_line_and_reports_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = tmp_path / "logs"
    writer = RequestLogWriter(str(uri), flush_interval=3600, spill_dir=str(tmp_path / "spill"))
    writer.append("requests", record(1))
    assert writer.flush() is True
    real_write = os.write
    calls = {"n": 0}

    def short_write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])  # half a batch reaches the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(request_log.os, "write", short_write)
    for i in range(2, 6):
        writer.append("requests", record(i))
    assert writer.flush() is False
    assert len(writer._pending) == 4
    monkeypatch.undo()
    frame = load_requests(str(uri))
    assert list(frame["request_id"]) == ["r1"] and frame.attrs["skipped_lines"] == 0  # nothing torn
    assert writer.flush() is True
    writer.close()
    assert sorted(load_requests(str(uri))["request_id"]) == [f"r{i}" for i in range(1, 6)]


def test_unwritable_records_beyond_the_bound_and_at_exit_are_spilled_and_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    spill = tmp_path / "spill"
    writer = RequestLogWriter("s3://nowhere/logs/", flush_interval=3600, max_pending=3, spill_dir=str(spill))
    writer.sink.client.meta.config.retries = {"max_attempts": 1}
    for i in range(5):
        writer.append("requests", record(i))
    assert writer.flush() is False
    assert len(writer._pending) == 3 and writer.dropped == 0
    writer.close()
    assert writer.dropped == 0 and writer.spilled
    assert "spilled to" in caplog.text and str(spill) in caplog.text
    assert sorted(load_requests(str(spill))["request_id"]) == [f"r{i}" for i in range(5)]


def written(uri: Path, records: list[dict[str, Any]], tail: bytes = b"") -> Path:
    """A log at ``uri`` holding ``records`` (one JSONL part), then ``tail`` appended as raw bytes: the part."""
    writer = RequestLogWriter(str(uri), flush_interval=3600)
    for rec in records:
        writer.append("requests", rec)
    writer.close()
    part = next((uri / "requests").rglob("*.jsonl"))
    with part.open("ab") as fh:
        fh.write(tail)
    return part


def test_torn_and_malformed_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    uri = tmp_path / "logs"
    written(uri, [record(i) for i in range(3)],
            b'{"timestamp": "2026-11-20T10:00:09.000000Z", "request_id": "r9", "mod'  # torn
            b"\n[1, 2]\n" + b'{"timestamp": "2026-11-20T10:00:09Z", "request_id": "rx", "latency_ms": "slow"}\n')
    frame = load_requests(str(uri))
    assert sorted(frame["request_id"]) == ["r0", "r1", "r2"] and frame.attrs["skipped_lines"] == 3


@pytest.mark.parametrize("line", [
    b'{"timestamp": "yesterday", "request_id": "rt", "latency_ms": 5}',  # not a time
    b'{"timestamp": "2026-11-20T10:00:09Z", "request_id": "rs", "latency_ms": "slow"}',  # not a number
    b'{"timestamp": "2026-11-20T10:00:09Z", "request_id": "ri", "input_tokens": 1.5e400}',  # out of range
    b'{"timestamp": "2026-11-20T10:00:09Z", "request_id": "rb", "mod',  # torn
])
def test_one_bad_line_is_skipped_and_counted_whatever_its_fault(tmp_path: Path, line: bytes) -> None:
    """The fast typed read gives way to the line-by-line one when any line does not fit the schema."""
    from tasks.request_log import load_requests_arrow

    uri = tmp_path / "logs"
    written(uri, [record(i) for i in range(3)], line + b"\n")
    frame = load_requests(str(uri))
    assert sorted(frame["request_id"]) == ["r0", "r1", "r2"] and frame.attrs["skipped_lines"] == 1
    assert load_requests_arrow(str(uri)).attrs["skipped_lines"] == 1  # as the previous reader


def test_logs_show_reads_a_log_with_a_torn_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from modelctl.cli import main

    uri = tmp_path / "logs"
    written(uri, [record(1)], b'{"timestamp": "2026-11')
    os.environ["MODELCTL_LOG"] = str(uri)
    try:
        with pytest.raises(SystemExit) as exc:
            main(["logs", "show", "--since", "2026-11-01"])
    finally:
        del os.environ["MODELCTL_LOG"]
    out, err = capsys.readouterr()
    assert exc.value.code in (0, None) and "r1" in out and "Traceback" not in err


SIGTERMED = """
import sys, time
from tasks.request_log import RequestLogWriter
from tests.tasks.test_request_log import record
w = RequestLogWriter(sys.argv[1], flush_interval=3600)
for i in range(100):
    w.append("requests", record(i))
print("appended", flush=True)
time.sleep(60)
"""


def test_sigterm_flushes_acknowledged_records(tmp_path: Path) -> None:
    uri = str(tmp_path / "logs")
    proc = subprocess.Popen([sys.executable, "-c", SIGTERMED, uri], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "appended"
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)
    assert len(load_requests(uri)) == 100


def test_log_files_are_private(tmp_path: Path) -> None:
    uri = tmp_path / "logs"
    writer = RequestLogWriter(str(uri), flush_interval=3600)
    writer.append("requests", {**record(1), "input_text": "secret"})
    writer.close()
    part = next((uri / "requests").rglob("*.jsonl"))
    assert stat.S_IMODE(part.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", [
    "mail bob@example.com", "mail bob＠example.com", "mail bo\u200bb@exa\u200bmple.com",
    "card 4111111111111111", "card 4111.1111.1111.1111", "card 4111 1111 1111 1111", "card 4111-1111 - 1111-1111",
    "card 4111\u200b1111\u200b1111\u200b1111", "card ４１１１ １１１１ １１１１ １１１１",
])
def test_redaction_defaults_survive_added_patterns(text: str) -> None:
    r = Redactor([r"ticket-\d+"])
    out = r.sub("[REDACTED]", f"{text} ticket-42 at 2026-11-20 10:30:15")
    assert "[REDACTED]" in out and "4111" not in out and "bob" not in out and "ticket-42" not in out
    assert "2026-11-20 10:30:15" in out


def test_added_pattern_keeps_defaults_via_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("capture_redact_patterns: ['ticket-\\d+']\n")
    monkeypatch.setenv("MODELCTL_CONFIG", str(config))
    out = request_log.redactor().sub("X", "bob@example.com ticket-7")
    assert out == "X X"
    config2 = tmp_path / "c2.yaml"
    config2.write_text("capture_redact_patterns: ['ticket-\\d+']\ncapture_redact_defaults: false\n")
    monkeypatch.setenv("MODELCTL_CONFIG", str(config2))
    assert request_log.redactor().sub("X", "bob@example.com ticket-7") == "bob@example.com X"


def test_invalid_pattern_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="invalid redaction pattern") as exc:
        Redactor(["ok", "(unclosed"])
    assert exc.value.field == "capture_redact_patterns.1"


def test_time_is_not_wasted_on_a_clean_log(tmp_path: Path) -> None:
    uri = tmp_path / "logs"
    writer = RequestLogWriter(str(uri), flush_interval=3600)
    for i in range(2000):
        writer.append("requests", record(i))
    writer.close()
    start = time.monotonic()
    assert len(load_requests(str(uri))) == 2000
    assert time.monotonic() - start < 5


def _cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, log: Path, *args: str) -> tuple[int, str]:
    from modelctl.cli import main

    monkeypatch.setenv("MODELCTL_LOG", str(log))
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0), capsys.readouterr().err


def test_feedback_for_an_unknown_request_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "logs"
    writer = RequestLogWriter(str(log), flush_interval=3600)
    writer.append("requests", record(1))
    writer.close()
    assert _cli(capsys, monkeypatch, log, "--registry", str(tmp_path / "r"), "init")[0] == 0
    code, err = _cli(capsys, monkeypatch, log, "--registry", str(tmp_path / "r"), "feedback", "r404", "--thumbs-up")
    assert code == 2 and "unknown request id 'r404'" in err
    assert not (log / "feedback").exists()
    code, err = _cli(capsys, monkeypatch, log, "--registry", str(tmp_path / "r"), "feedback", "r1", "--score", "nan")
    assert code == 2 and "quality_score" in err
    code, err = _cli(capsys, monkeypatch, log, "--registry", str(tmp_path / "r"), "feedback", "r1", "--score", "1.5")
    assert code == 2 and "quality_score" in err


@pytest.mark.parametrize("since", ["garbage", "yesterday", "2026-13-45", "2026-02-30T10:00"])
def test_logs_show_with_a_bad_since_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch, since: str) -> None:
    code, err = _cli(capsys, monkeypatch, tmp_path / "logs", "logs", "show", "--since", since)
    assert code == 2 and "'since'" in err and "Traceback" not in err


def test_logs_show_fits_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "logs"
    writer = RequestLogWriter(str(log), flush_interval=3600)
    for i in range(5):
        writer.append("requests", {**record(i), "request_id": f"chatcmpl-{'x' * 40}-{i}"})
    writer.close()
    monkeypatch.setenv("COLUMNS", "100")
    from modelctl.cli import main

    monkeypatch.setenv("MODELCTL_LOG", str(log))
    with pytest.raises(SystemExit):
        main(["logs", "show", "--since", "2026-11-01"])
    out = capsys.readouterr().out
    assert out.count("\n") == 6 and max(len(line) for line in out.splitlines()) <= 100
    assert "2026-11-20T10:00:00Z" in out and "…" in out
