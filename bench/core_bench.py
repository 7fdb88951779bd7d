"""The slim core: import time of the serving path and the installed size of the core's distributions.

Run: ``.venv/bin/python bench/core_bench.py``. The import is timed in fresh interpreters with the heavy
extras (Prefect, scikit-learn, statsmodels, scipy, matplotlib) blocked, so it measures what
``pip install modelctl`` (no extras) gives; the full install's import of the flows is printed beside.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("prefect", "sklearn", "statsmodels", "scipy", "matplotlib")
BLOCK = ("import sys, importlib.abc\n"
         "class B(importlib.abc.MetaPathFinder):\n"
         "    def find_spec(self, name, path=None, target=None):\n"
         f"        if name.split('.')[0] in {HEAVY!r}: raise ImportError(name)\n"
         "sys.meta_path.insert(0, B())\n")
CORE = "from modelctl import Gateway, resolve, load_requests\nimport registry.serving, tasks.gateway\n"
FLOWS = "import flows.evaluate_candidate, flows.ab_analysis\n"


def timed(code: str, runs: int = 3) -> float:
    """Median wall time (ms) of running ``code`` in a fresh interpreter, minus an empty interpreter."""
    def once(body: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", body], check=True, cwd=ROOT)
        return (time.perf_counter() - start) * 1000

    base = statistics.median(once("pass") for _ in range(runs))
    return statistics.median(once(code) for _ in range(runs)) - base


def _requirement_names(dist: str) -> list[str]:
    names = []
    for req in metadata.requires(dist) or []:
        if "extra ==" in req:
            continue
        names.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    return names


def installed_mb(roots: list[str]) -> tuple[float, int]:
    """Installed size (MB) of ``roots`` and every distribution they require, and how many there are."""
    seen: set[str] = set()
    todo = list(roots)
    total = 0
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for f in dist.files or []:
            path = Path(str(dist.locate_file(f)))
            if path.is_file():
                total += path.stat().st_size
        todo.extend(_requirement_names(name))
    return total / 1e6, len(seen)


def _names(reqs: list[str]) -> list[str]:
    return [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in reqs if not r.startswith("modelctl")]


def main() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core_reqs = _names(project["dependencies"])
    extras = project["optional-dependencies"]
    flows_reqs = _names(extras["flows"] + extras["local"])
    core_mb, core_n = installed_mb(core_reqs)
    all_mb, all_n = installed_mb(core_reqs + flows_reqs)
    print(f"core import (resolve, Gateway, request log; heavy extras blocked): {timed(BLOCK + CORE):7.0f} ms")
    print(f"flows import (full install, beside):                               {timed(FLOWS):7.0f} ms")
    print(f"core installed size: {core_mb:7.1f} MB in {core_n} distributions")
    print(f"[all] installed size: {all_mb:7.1f} MB in {all_n} distributions (beside)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
