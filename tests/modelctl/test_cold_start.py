"""`modelctl resolve` is the serving path's CLI: it loads its own command module, not the whole tree."""

from __future__ import annotations

import json
import subprocess
import sys
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
heavy = ["modelctl.commands.ab_cmds", "modelctl.commands.eval_cmds", "registry.service", "pandas", "prefect",
         "scipy", "duckdb", "rich"]
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    from modelctl.cli import main

    path = str(tmp_path_factory.mktemp("cold") / "reg")
    with pytest.raises(SystemExit):
        main(["--registry", path, "import", str(ROOT / "examples" / "model-registry.yaml")])
    return path


def probe(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_resolve_loads_only_the_serving_path(registry: str) -> None:
    result = probe("--registry", registry, "resolve", "classification-v2")
    assert result == {"code": 0, "loaded": []}


def test_help_and_other_commands_still_see_the_whole_tree(registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    from modelctl.cli import main

    for args in (["--registry", registry, "resolve", "classification-v2"], ["--help"]):
        with pytest.raises(SystemExit) as exc:
            main(args)
        assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "resolve" in out and "ab" in out and "experiment" in out  # the root help lists every group
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "nonsense-command"])
    assert exc.value.code == 2

