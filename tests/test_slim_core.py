"""The serving path (``resolve``, ``Gateway``, the request log) works without the heavy extras:
Prefect, scikit-learn, statsmodels, scipy and matplotlib are blocked at import in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("prefect", "sklearn", "statsmodels", "scipy", "matplotlib")

SCRIPT = """
import sys, importlib.abc

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {heavy!r}:
            raise ImportError(f"{{name}} is not part of the slim core")
        return None

sys.meta_path.insert(0, Block())
from registry.service import open_registry
reg = open_registry({reg!r})
reg.init()
reg.register("summ", {{"provider": "local", "model_id": "lead-3-v1", "params": {{"sentences": 1}}}})
reg.record_eval("summ", 1, suite="s", passed=True)
reg.promote("summ", 1, "production", reason="slim")
from modelctl import Gateway, load_requests, resolve
import os; os.environ["MODELCTL_REGISTRY"] = {reg!r}
assert resolve("summ").version == 1
gw = Gateway(registry_uri={reg!r}, log_uri={log!r})
out = gw.complete("summ", [{{"role": "user", "content": "First. Second."}}], user_id="u1")
gw.close()
assert out.text == "First.", out.text
assert len(load_requests({log!r})) == 1
print("slim ok", sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r}))
"""


def test_serving_path_needs_no_heavy_extras(tmp_path: Path) -> None:
    script = SCRIPT.format(heavy=HEAVY, reg=str(tmp_path / "reg"), log=str(tmp_path / "logs"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "slim ok []" in proc.stdout
