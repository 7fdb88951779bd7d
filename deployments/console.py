"""The ops console on one machine: a Prefect server, the work pool, prefect.yaml deployed, automations, a worker.

    make serve            (or: modelctl serve)

Each step is a function the end-to-end test calls too. ``serve_console`` starts a server only when
none answers at PREFECT_API_URL, and Ctrl-C stops exactly what it started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
POOL = "modelctl-process"
ALERT_BLOCK = "modelctl-alerts"
log = logging.getLogger("modelctl.console")


class ConsoleError(RuntimeError):
    """A step of starting the console failed; the message says which and why."""


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """True when a Prefect API answers at ``api_url`` (``.../api``)."""
    try:
        return httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def ui_url(api_url: str) -> str:
    """The UI address of an API URL (``http://127.0.0.1:4200/api`` -> ``http://127.0.0.1:4200``)."""
    return api_url.rstrip("/").removesuffix("/api")


def _prefect(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def _env(api_url: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **(extra or {})}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def start_server(host: str, port: int, *, home: Path | None = None, extra_env: dict[str, str] | None = None,
                 output: IO[Any] | None = None, timeout: float = 120.0) -> subprocess.Popen[bytes]:
    """``prefect server start`` on host:port (its own PREFECT_HOME when given); returns once it answers."""
    api_url = f"http://{host}:{port}/api"
    env = _env(None, extra_env)
    env.pop("PREFECT_API_URL", None)
    env.setdefault("PREFECT_SERVER_UI_API_URL", api_url)  # the UI's own API calls (default: port 4200)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    proc = subprocess.Popen(_prefect("server", "start", "--host", host, "--port", str(port)), env=env,
                            stdout=output or subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not api_healthy(api_url):
        if proc.poll() is not None:
            raise ConsoleError(f"prefect server start exited with {proc.returncode} (see its output)")
        if time.monotonic() > deadline:
            stop(proc)
            raise ConsoleError(f"prefect server did not answer at {api_url} within {timeout:.0f} s")
        time.sleep(0.5)
    return proc


@contextmanager
def api(api_url: str) -> Iterator[Any]:
    """A synchronous Prefect client on ``api_url``."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        yield client


def ensure_work_pool(api_url: str, name: str = POOL) -> bool:
    """Create the process work pool (with the process worker's job template); False when it exists."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    with api(api_url) as client:
        try:
            client.create_work_pool(WorkPoolCreate(name=name, type="process",
                                                   base_job_template=ProcessWorker.get_default_base_job_template()))
        except ObjectAlreadyExists:
            return False
    return True


def deploy_all(api_url: str, project_dir: Path = ROOT, extra_env: dict[str, str] | None = None,
               timeout: float = 300.0) -> str:
    """``prefect deploy --all`` of prefect.yaml with MODELCTL_PROJECT_DIR filled in; returns its output."""
    env = _env(api_url, {"MODELCTL_PROJECT_DIR": str(project_dir), **(extra_env or {})})
    done = subprocess.run(_prefect("--no-prompt", "deploy", "--all"), cwd=project_dir, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise ConsoleError(f"prefect deploy --all failed ({done.returncode}):\n{done.stdout[-3000:]}"
                           f"{done.stderr[-3000:]}")
    return done.stdout


def load_automations(path: Path = ROOT / "deployments" / "automations.yaml") -> list[dict[str, Any]]:
    """The automations as code (name, description, trigger, subject, body)."""
    return list(yaml.safe_load(path.read_text())["automations"])


def apply_automations(api_url: str, webhook_url: str | None,
                      path: Path = ROOT / "deployments" / "automations.yaml") -> list[str]:
    """Save the webhook block and create (or replace) every automation; none without a webhook URL."""
    if not webhook_url:
        return []
    from prefect.automations import AutomationCore, EventTrigger, Posture, SendNotification
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        block = CustomWebhookNotificationBlock(
            name=ALERT_BLOCK, url=webhook_url, method="POST",
            json_data={"subject": "{{subject}}", "body": "{{body}}", "source": "modelctl"})
        block_id = block.save(ALERT_BLOCK, overwrite=True)
    names = []
    with api(api_url) as client:
        for spec in load_automations(path):
            for old in client.read_automations_by_name(spec["name"]):
                client.delete_automation(old.id)
            trigger = EventTrigger(posture=Posture.Reactive, threshold=1, within=0, **spec["trigger"])
            client.create_automation(AutomationCore(
                name=spec["name"], description=spec.get("description", ""), trigger=trigger,
                actions=[SendNotification(block_document_id=block_id, subject=spec["subject"], body=spec["body"])]))
            names.append(spec["name"])
    return names


def start_worker(api_url: str, pool: str = POOL, *, extra_env: dict[str, str] | None = None,
                 output: IO[Any] | None = None) -> subprocess.Popen[bytes]:
    """``prefect worker start`` on the pool (a process worker: each flow run in its own process)."""
    return subprocess.Popen(_prefect("worker", "start", "--pool", pool, "--type", "process"),
                            env=_env(api_url, extra_env), stdout=output or subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop a process this module started (and its process group: the worker's flow runs)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


@dataclass
class Console:
    """What ``serve_console`` started (stopped in reverse order)."""

    api_url: str
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        """Stop every process this console started."""
        for proc in reversed(self.started):
            stop(proc)
        self.started.clear()


def bring_up(api_url: str, *, project_dir: Path = ROOT, home: Path | None = None, webhook_url: str | None = None,
             server_env: dict[str, str] | None = None, worker_env: dict[str, str] | None = None,
             output: IO[Any] | None = None, say: Any = None) -> Console:
    """Everything ``make serve`` does, without waiting: returns the console to stop later."""
    say = say or (lambda _msg: None)
    console = Console(api_url)
    try:
        if api_healthy(api_url):
            say(f"using the Prefect server at {api_url}")
        else:
            url = httpx.URL(api_url)
            if url.host not in ("127.0.0.1", "localhost"):
                raise ConsoleError(f"no Prefect server answers at {api_url}, and only 127.0.0.1 is started here")
            say(f"starting a Prefect server on {url.host}:{url.port}")
            console.started.append(start_server(url.host, url.port or 4200, home=home, extra_env=server_env,
                                                output=output))
        say(f"work pool {POOL}: " + ("created" if ensure_work_pool(api_url) else "exists"))
        deploy_all(api_url, project_dir)
        say("deployed prefect.yaml")
        automations = apply_automations(api_url, webhook_url)
        say(f"automations: {', '.join(automations)}" if automations else
            "automations: none (set MODELCTL_ALERT_WEBHOOK to get notifications)")
        console.started.append(start_worker(api_url, extra_env=worker_env, output=output))
        say(f"worker started on {POOL}")
    except BaseException:
        console.stop()
        raise
    return console


def serve_console(api_url: str | None = None, say: Any = print) -> int:
    """Start the console and wait; Ctrl-C (or SIGTERM) stops what was started. Returns an exit code."""
    from prefect.settings import PREFECT_API_URL

    from registry.settings import get_settings

    api_url = api_url or PREFECT_API_URL.value() or "http://127.0.0.1:4200/api"
    console = bring_up(api_url, webhook_url=get_settings().alert_webhook, say=say)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    say(f"Prefect UI: {ui_url(api_url)}   (Ctrl-C stops what was started here)")
    try:
        while all(p.poll() is None for p in console.started):
            time.sleep(1)
        say("a console process exited; stopping the rest")
        return 1
    except KeyboardInterrupt:
        say("stopping")
        return 130
    finally:
        console.stop()


if __name__ == "__main__":
    sys.exit(serve_console())
