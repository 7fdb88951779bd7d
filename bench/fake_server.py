"""A wire-format OpenAI server in its own process (so its CPU does not share the client's GIL).

Run: ``python bench/fake_server.py [--delay SECONDS]``; prints the base URL, then serves until killed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spawn(delay: float) -> tuple[subprocess.Popen[str], str]:
    """Start the server process; returns it and its URL."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__)), "--delay", str(delay)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.tasks.providers.fakes import FakeProvider, openai_chat, openai_sse

    server = FakeProvider(openai_chat("billing"), default_delay=args.delay, sse=openai_sse)
    sys.stdout.write(server.url + "\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
