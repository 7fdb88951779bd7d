"""Store faults are clear messages with the contract's exit codes, never tracebacks: 5 for a store that
cannot be used (disk full, read-only, missing folder, stuck lock), 2 for a damaged document (named)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from registry.errors import DamagedDocument
from registry.service import open_registry
from registry.stores import file as file_store
from tests.registry.conftest import config, snapshot_bytes
from tests.registry.test_cli import GOOD, run, write

ROOT = Path(__file__).resolve().parents[2]


def _register(capsys: pytest.CaptureFixture[str], uri: str, tmp_path: Path) -> tuple[int, str, str]:
    return run(capsys, "--registry", uri, "register", "triage", "--file", write(tmp_path, "c.yaml", GOOD))


def test_truncated_document_is_detected_and_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = open_registry(str(tmp_path / "reg"))
    reg.init()
    reg.register("m", config())
    reg.promote("m", 1, "staging", reason="x")
    path = tmp_path / "reg" / "models" / "m.yaml"
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines[-1].startswith(b"# sha256 ")
    for keep in (len(lines) - 1, len(lines) // 2):
        path.write_bytes(b"".join(lines[:keep]))
        with pytest.raises(DamagedDocument, match="truncated"):
            reg.get_model("m")
        code, _, err = run(capsys, "--registry", str(tmp_path / "reg"), "show", "m")
        assert code == 2 and str(path) in err and "Traceback" not in err


def test_corrupted_document_fails_its_checksum(tmp_path: Path) -> None:
    reg = open_registry(str(tmp_path / "reg"))
    reg.init()
    reg.register("m", config())
    path = tmp_path / "reg" / "models" / "m.yaml"
    path.write_bytes(path.read_bytes().replace(b"temperature: 0.3", b"temperature: 0.9"))
    with pytest.raises(DamagedDocument, match="checksum"):
        reg.get_model("m")


def test_schema_1_documents_without_an_end_marker_still_load(tmp_path: Path) -> None:
    import yaml

    reg = open_registry(str(tmp_path / "reg"))
    reg.init()
    reg.register("m", config())
    path = tmp_path / "reg" / "models" / "m.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["schema_version"] = 1
    path.write_text(yaml.safe_dump(doc))
    assert reg.get_model("m").versions[0].number == 1
    reg.promote("m", 1, "staging", reason="rewritten in the current schema")
    assert path.read_bytes().splitlines()[-1].startswith(b"# sha256 ")


def _fail_with(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def broken(path: Path, data: bytes, durable: bool = True) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(file_store, "atomic_write", broken)


@pytest.mark.parametrize(("code", "says"), [(errno.ENOSPC, "disk is full"), (errno.EROFS, "read-only"),
                                            (errno.EACCES, "permission denied")])
def test_write_faults_exit_5_and_change_nothing(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch, code: int, says: str) -> None:
    before = snapshot_bytes(uri)
    _fail_with(monkeypatch, code)
    exit_code, out, err = _register(capsys, uri, tmp_path)
    assert exit_code == 5 and says in err and "Traceback" not in err
    assert snapshot_bytes(uri) == before


def test_serving_view_failure_never_fails_a_committed_change(uri: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    def full(self: object, name: str, record: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(file_store.FileStore, "_write_serving", full)
    exit_code, out, err = _register(capsys, uri, tmp_path)
    assert exit_code == 0 and out.startswith("triage@1 ")
    assert "serving view" in caplog.text and "committed" in caplog.text
    monkeypatch.undo()
    code, out, _ = run(capsys, "--registry", uri, "show", "triage@1", "--json")
    assert code == 0


def test_missing_models_folder_exits_5(uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.rmtree(Path(uri) / "models")
    code, _, err = run(capsys, "--registry", uri, "list")
    assert code == 5 and "models folder" in err and "Traceback" not in err


def test_garbage_registry_yaml_exits_2_naming_it(uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    (Path(uri) / "registry.yaml").write_bytes(b"\x00\xff: [unclosed\n")
    code, _, err = run(capsys, "--registry", uri, "list")
    assert code == 2 and "registry.yaml" in err and "Traceback" not in err


def test_lock_that_is_a_directory_exits_5(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = Path(uri) / ".lock"
    if lock.exists():
        lock.unlink()
    lock.mkdir()
    before = snapshot_bytes(uri)
    code, _, err = _register(capsys, uri, tmp_path)
    assert code == 5 and ".lock is a directory" in err and "Traceback" not in err
    assert snapshot_bytes(uri) == before


def test_stuck_lock_holder_times_out_naming_pid_and_host(uri: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    script = ("import sys, time\nfrom registry.stores.file import FileStore\n"
              f"with FileStore({uri!r})._locked():\n"
              "    sys.stdout.write('locked\\n'); sys.stdout.flush(); time.sleep(60)\n")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("MODELCTL_LOCK_TIMEOUT_SECONDS", "0.5")
        start = time.monotonic()
        code, _, err = _register(capsys, uri, tmp_path)
        assert code == 5 and time.monotonic() - start < 10
        assert f"pid {holder.pid}" in err and "on host" in err and "Traceback" not in err
    finally:
        holder.kill()
        holder.wait()
    assert _register(capsys, uri, tmp_path)[0] == 0
