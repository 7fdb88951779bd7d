"""The CLI's exit-code contract: usage errors 2, --version, unexpected errors 70, interrupts 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelctl.cli import main
from modelctl.context import escape_text

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.mark.parametrize("args", [["promote"], ["--bogus"], ["list", "--bogus"], ["promote", "x@1", "--to"],
                                  ["eval"], ["history", "--limit", "abc"]])
def test_usage_errors_exit_2_with_usage(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert "Traceback" not in err + out
    assert "Usage:" in err + out or "Error:" in err


def test_bare_modelctl_shows_usage_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 2 and "Usage:" in out + err and "Traceback" not in out + err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from modelctl import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"modelctl {__version__}"


def test_unexpected_error_exits_70_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from registry.service import Registry

    def boom(self: Registry) -> None:
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(Registry, "list_models", boom)
    code, out, err = run(capsys, "--registry", str(tmp_path / "r"), "list")
    assert code == 70
    assert err.strip().count("\n") == 0 and "ZeroDivisionError: division by zero" in err
    assert "--debug" in err and "Traceback" not in err
    code, _, err = run(capsys, "--registry", str(tmp_path / "r"), "list", "--debug")
    assert code == 70 and "Traceback" in err


def test_keyboard_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from registry.service import Registry

    def interrupted(self: Registry) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Registry, "list_models", interrupted)
    code, _, err = run(capsys, "--registry", str(tmp_path / "r"), "list")
    assert code == 130 and "Traceback" not in err


def test_sigterm_exits_130(tmp_path: Path) -> None:
    script = (
        "import time, sys\n"
        "from registry.service import Registry\n"
        "def slow(self):\n"
        "    sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(30)\n"
        "Registry.list_models = slow\n"
        "from modelctl.cli import main\n"
        f"main(['--registry', {str(tmp_path / 'r')!r}, 'list'])\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and time.monotonic() - start < 10
    assert "Traceback" not in err


def test_escape_text_neutralises_terminal_escapes() -> None:
    hostile = "ok\x1b[2J\x1b]8;;http://x\x07done\u202e\r\n"
    shown = escape_text(hostile)
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown and "\r" not in shown
    assert shown.startswith("ok\\x1b[2J") and "\\u202e" in shown
    assert escape_text("a\nb", keep_newlines=True) == "a\nb"


SEED = ROOT / "examples" / "model-registry.yaml"
CONFIG = "provider: openai\nmodel_id: gpt-4o-2024-08-06\nsystem_prompt: Classify.\ntemperature: 0\n"


def test_register_refuses_a_reference_and_a_missing_registry(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CONFIG)
    reg = str(tmp_path / "reg")
    code, _, err = run(capsys, "--registry", reg, "register", "summarizr", "--file", str(cfg))
    assert code == 2 and "modelctl init" in err and not Path(reg).exists()
    assert run(capsys, "--registry", reg, "init")[0] == 0
    code, out, err = run(capsys, "--registry", reg, "register", "summarizr@3", "--file", str(cfg))
    assert code == 2 and "not a reference" in err and out == ""
    assert not (Path(reg) / "models" / "summarizr.yaml").exists()


def test_unknown_model_suggests_the_closest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg = str(tmp_path / "reg")
    assert run(capsys, "--registry", reg, "import", str(SEED))[0] == 0
    code, _, err = run(capsys, "--registry", reg, "show", "classification-v3")
    assert code == 2 and "did you mean 'classification-v2'?" in err


def test_history_escapes_reason_and_actor(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    reg = str(tmp_path / "reg")
    assert run(capsys, "--registry", reg, "import", str(SEED))[0] == 0
    monkeypatch.setenv("MODELCTL_ACTOR", "eve\x1b]0;pwned\x07")
    assert run(capsys, "--registry", reg, "deprecate", "classification-v2@1",
               "--reason", "bye\x1b[2J\rgone")[0] == 0
    code, out, _ = run(capsys, "--registry", reg, "history", "classification-v2")
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "bye\\x1b[2J\\x0dgone" in out and "eve\\x1b]0;pwned\\x07" in out


def test_an_error_raised_while_stopping_after_an_interrupt_is_still_130(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Prefect turns Ctrl-C into a crash and then fails to reach its stopped server: that is exit 130, not 70."""
    from modelctl.context import STATE
    from registry.service import Registry

    def interrupted_then_broken(self: Registry) -> None:
        STATE.interrupted = True  # what the SIGINT handler records before raising KeyboardInterrupt
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    monkeypatch.setattr(Registry, "list_models", interrupted_then_broken)
    code, _, err = run(capsys, "--registry", str(tmp_path / "r"), "list")
    assert code == 130 and "interrupted" in err and "internal error" not in err


def test_ctrl_c_signal_exits_130(tmp_path: Path) -> None:
    script = (
        "import time, sys\n"
        "from registry.service import Registry\n"
        "def slow(self):\n"
        "    sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(30)\n"
        "Registry.list_models = slow\n"
        "from modelctl.cli import main\n"
        f"main(['--registry', {str(tmp_path / 'r')!r}, 'list'])\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "Traceback" not in err
