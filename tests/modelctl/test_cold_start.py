"""`modelctl resolve` is the serving path's CLI: it runs without typer, pydantic-settings or the command
tree, and answers exactly as the typer command does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
from modelctl.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
import json
heavy = ["modelctl.cli_app", "modelctl.commands.registry_cmds", "modelctl.commands.ab_cmds",
         "modelctl.commands.eval_cmds", "registry.service", "registry.settings", "pydantic_settings", "typer",
         "click", "rich", "yaml", "tasks.events", "registry.hooks", "pandas", "prefect", "scipy", "duckdb", "pydantic",
         "registry.entities", "registry.serving"]
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""
# the same line through the typer command tree (what every line but a plain `resolve` takes)
TREE = """
import sys
from modelctl.cli import main, _direct_resolve
import modelctl.cli
modelctl.cli._direct_resolve = lambda args: None
main(sys.argv[1:])
"""
DIRECT = "import sys\nfrom modelctl.cli import main\nmain(sys.argv[1:])\n"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    from modelctl.cli import main

    path = str(tmp_path_factory.mktemp("cold") / "reg")
    with pytest.raises(SystemExit):
        main(["--registry", path, "import", str(ROOT / "examples" / "model-registry.yaml")])
    config = tmp_path_factory.mktemp("cfg") / "CONFIG.yaml"
    config.write_text("provider: openai\nmodel_id: gpt-4o-2024-08-06\ntemperature: 0.2\n"
                      "system_prompt: 'Classify the ticket.'\n")
    for args in (["register", "classification-v2", "--file", str(config)],
                 ["experiment", "start", "classification-v2", "--control", "classification-v2@production",
                  "--treatment", "classification-v2@2", "--split", "0.5", "--force", "--reason", "test"]):
        with pytest.raises(SystemExit) as exc:
            main(["--registry", path, *args])
        assert exc.value.code == 0
    from registry.entities import DeprecationPlan
    from registry.service import open_registry

    past = date.today() - timedelta(days=1)  # a deprecation warning: resolve takes the snapshot, which logs it
    open_registry(path, actor="tester").upsert_deprecation_plan("embedding-production", DeprecationPlan(
        model_id="text-embedding-3-small", severity="warning", soft_deadline=past,
        hard_deadline=past + timedelta(days=30), affected_versions=[1], replacement="text-embedding-4"),
        reason="scan")
    return path


def probe(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_resolve_loads_only_the_serving_path(registry: str) -> None:
    """Neither typer nor pydantic: the serving documents are read as plain JSON."""
    for args in (["--registry", registry, "resolve", "classification-v2"],
                 ["resolve", "--json", "classification-v2", "--registry", registry, "--user-id", "u-1"],
                 ["--registry", registry, "resolve", "summarization-primary@production", "--env", "production"]):
        assert probe(*args) == {"code": 0, "loaded": []}
    # an error is worded by the snapshot (pydantic entities), still without the command tree
    assert probe("--registry", registry, "resolve", "unknown-model") == {
        "code": 2, "loaded": ["pydantic", "registry.entities", "registry.serving"]}


def _both(args: list[str], env: dict[str, str] | None = None) -> tuple[tuple[int, str, str], ...]:
    environ = {**os.environ, **(env or {})}
    runs = [subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, cwd=ROOT,
                           env=environ) for script in (DIRECT, TREE)]
    return tuple((r.returncode, r.stdout, r.stderr) for r in runs)


@pytest.mark.parametrize("line", [
    "resolve classification-v2",
    "resolve classification-v2 --json",
    "resolve --json classification-v2 --env staging",
    "resolve classification-v2 --user-id u-42 --json",
    "resolve classification-v2 --user-id=u-7",
    "resolve unknown-model",
    "resolve classification-v2@@bad",
    "resolve classification-v2 --env nowhere",
    "resolve summarization-primary@production --env=production",
    "resolve embedding-production --json",
])
def test_direct_resolve_answers_as_the_command_tree(registry: str, line: str) -> None:
    direct, tree = _both(["--registry", registry, *line.split()])
    assert direct == tree
    assert direct[0] in (0, 2) and "Traceback" not in direct[2]
    if "embedding" in line:
        assert "deprecated (warning" in direct[2]


def test_direct_resolve_reads_the_registry_from_the_environment(registry: str) -> None:
    direct, tree = _both(["resolve", "classification-v2", "--json"], {"MODELCTL_REGISTRY": registry})
    assert direct == tree and direct[0] == 0 and json.loads(direct[1])["version"] == 1
    for bad in ({"MODELCTL_SNAPSHOT_REFRESH_SECONDS": "soon"}, {"MODELCTL_LOCK_TIMEOUT_SECONDS": "-1"},
                {"MODELCTL_NOW": "yesterday"}):
        direct, tree = _both(["resolve", "classification-v2"], {"MODELCTL_REGISTRY": registry, **bad})
        assert direct == tree and direct[0] == 2 and "Traceback" not in direct[2]


def test_unknown_model_exits_2_on_the_direct_path(registry: str) -> None:
    assert probe("--registry", registry, "resolve", "unknown-model")["code"] == 2


def test_other_lines_go_to_the_command_tree(registry: str) -> None:
    from modelctl.cli import _direct_resolve

    for line in ("resolve --help", "resolve", "resolve a b", "resolve a --env", "resolve a --env x --env y",
                 "resolve a --verbose", "resolve -- a", "--env x resolve a", "show a", "--version"):
        assert _direct_resolve(line.split()) is None, line
    assert _direct_resolve(["resolve", "a", "--registry=r", "--debug"]) is not None


def test_help_and_other_commands_still_see_the_whole_tree(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    from modelctl.cli import main

    for args in (["--registry", registry, "resolve", "classification-v2"], ["--help"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "resolve" in out and "ab" in out and "experiment" in out  # the root help lists every group
    assert probe("--help")["loaded"] == ["modelctl.cli_app", "modelctl.commands.registry_cmds",
                                         "modelctl.commands.ab_cmds", "modelctl.commands.eval_cmds", "typer",
                                         "tasks.events", "registry.hooks"]  # help: the tree, not pydantic
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "nonsense-command"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "resolve", "--help"])
    assert exc.value.code == 0 and "--user-id" in capsys.readouterr().out
