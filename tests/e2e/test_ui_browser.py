"""The Prefect UI in headless Chromium (Debian's package, driven by playwright): find our deployments,
fill the evaluate-candidate form, start the run, see it complete. Screenshots go to test-artifacts/ui/.

`make test` installs chromium first (`make browser`); the test skips, saying why, only when no
Chromium could be installed.
"""

from __future__ import annotations

import re
import shutil
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, SUITE, Server, finished, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "ui"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="no Chromium: `make browser` installs Debian's chromium (apt-get, as root)"),
]


def test_ops_start_an_evaluation_from_the_ui_and_see_it_complete(server: Server) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements.lock)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui = server.api_url.removesuffix("/api")
    started = time.time()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(f"{ui}/deployments")
            for name in ("evaluate-candidate", "migrate-deprecated", "ab-analysis", "deprecation-scan"):
                page.get_by_role("link", name=name, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=SHOTS / "01-deployments.png")

            page.get_by_role("link", name="evaluate-candidate", exact=True).first.click()
            page.wait_for_url(re.compile(r"/deployments/deployment/[0-9a-f-]+$"), wait_until="commit")
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("Custom run").click()
            page.get_by_text("Candidate", exact=True).wait_for()
            page.locator("textarea").first.fill("triage@2")
            page.get_by_role("button", name="str", exact=True).first.click()  # Suite: None -> a string
            page.locator("textarea").nth(1).fill(str(SUITE))
            page.screenshot(path=SHOTS / "02-evaluate-candidate-form.png", full_page=True)
            submit(page, sync_api.TimeoutError)

            runs = wait_for("the run started from the UI", lambda: [
                r for r in server.runs("evaluate-candidate")
                if datetime.fromisoformat(r["created"]).timestamp() >= started
                and r["parameters"]["params"].get("candidate") == "triage@2"])
            done = finished(server, runs[0]["id"], timeout=240)
            assert done["state_type"] == "COMPLETED", done["state"]
            assert done["name"] == "evaluate triage@2"
            assert done["parameters"]["params"]["suite"] == str(SUITE)
            page.goto(f"{ui}/runs/flow-run/{runs[0]['id']}")
            page.get_by_text("evaluate triage@2").first.wait_for(timeout=60_000)  # the run's own name
            page.get_by_text("Completed").first.wait_for(timeout=60_000)
            page.screenshot(path=SHOTS / "03-run-completed.png")
        finally:
            page.screenshot(path=SHOTS / "99-last.png")
            browser.close()


def submit(page: Any, timeout_error: type[Exception], attempts: int = 3) -> None:
    """Click Submit until the UI leaves the form (on a loaded machine its API call can time out once)."""
    for attempt in range(attempts):
        page.get_by_role("button", name="Submit").click()
        try:
            page.wait_for_url(re.compile(r"/deployments/deployment/[0-9a-f-]+(\?.*)?$"), wait_until="commit",
                              timeout=45_000)
            return
        except timeout_error:
            page.screenshot(path=SHOTS / f"02-submit-attempt-{attempt + 1}-failed.png")
    raise AssertionError(f"the UI did not accept the form after {attempts} attempts (see {SHOTS})")
