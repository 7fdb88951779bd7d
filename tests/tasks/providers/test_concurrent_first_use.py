"""A provider used for the first time from two threads at once: the second caller waits for the module's
import instead of getting it half initialised (a race that turned a loaded machine's evaluation into
'error_rate 0.475: reject' — the runner's second event loop saw the local provider without `acomplete`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent('''
    import importlib.abc, importlib.machinery, sys, threading, time

    NAME = "tasks.providers.local_provider"

    class SlowLoader(importlib.abc.Loader):
        def __init__(self, inner):
            self.inner = inner
        def create_module(self, spec):
            return self.inner.create_module(spec)
        def exec_module(self, module):
            time.sleep(0.5)  # the module is in sys.modules, not yet executed
            self.inner.exec_module(module)

    class SlowFinder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != NAME:
                return None
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            spec.loader = SlowLoader(spec.loader)
            return spec

    sys.meta_path.insert(0, SlowFinder())
    from tasks.providers import provider_for

    local = provider_for("local")
    first = threading.Thread(target=local._impl)
    first.start()
    while NAME not in sys.modules:
        time.sleep(0.001)
    impl = local._impl()  # the second caller, while the first import is still executing
    complete = hasattr(impl, "acomplete")  # what the caller sees now, not after the import ends
    first.join()
    print("acomplete" if complete else "half-initialised")
''')


def test_a_second_thread_gets_the_provider_module_complete() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "acomplete"
