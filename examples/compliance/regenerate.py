"""Regenerate the golden compliance report of the bundled example (``make compliance-golden``).

The bundled seed registry (examples/model-registry.yaml) is imported into a scratch registry, scanned
against the bundled deprecation sources, and checked — all at a frozen clock (MODELCTL_NOW), so the report
is byte-for-byte reproducible. tests/modelctl/test_compliance_cli.py compares it with report.md.

    python examples/compliance/regenerate.py [OUT]      (default: examples/compliance/report.md)
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-23T12:00:00Z"
SOURCES = ["openai=examples/deprecations/openai.md", "anthropic=examples/deprecations/anthropic.md",
           "litellm=examples/deprecations/litellm.json", "feed=examples/deprecations/feed.yaml"]


@contextmanager
def _environment(registry: str) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.pop("MODELCTL_CONFIG", None)
    os.environ.update(MODELCTL_NOW=NOW, MODELCTL_REGISTRY=registry, MODELCTL_ACTOR="golden")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


def regenerate(out: Path) -> int:
    """Write the report to ``out``; returns the exit code of ``modelctl compliance`` (1: items fail)."""
    sys.path.insert(0, str(ROOT))
    from modelctl.cli import run

    with tempfile.TemporaryDirectory() as scratch, _environment(str(Path(scratch) / "registry")):
        steps = [["init"], ["import", "examples/model-registry.yaml"],
                 ["deprecations", "scan", *[a for s in SOURCES for a in ("--source", s)], "--today", NOW[:10]]]
        with redirect_stdout(io.StringIO()):  # the steps' JSON is not the point; errors still reach stderr
            for args in steps:
                code = run([*args, "--json"])
                if code != 0:
                    raise SystemExit(f"modelctl {' '.join(args)} exited {code}")
            return run(["compliance", "--markdown", str(out.resolve()), "--json"])


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "compliance" / "report.md"
    code = regenerate(target)
    sys.stderr.write(f"wrote {target} (compliance exit {code})\n")
