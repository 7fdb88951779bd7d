"""A registry with a local ticket classifier in production, small ticket datasets, and a suite."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.providers.base import reset_clients

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES / "datasets"))


@pytest.fixture(autouse=True)
def fast_retries(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    cfg = tmp_path_factory.getbasetemp() / "training-config.yaml"
    cfg.write_text("provider_timeout_seconds: 2\nprovider_max_attempts: 2\nretry_base_seconds: 0.01\n"
                   "retry_max_seconds: 0.05\n")
    monkeypatch.setenv("MODELCTL_CONFIG", str(cfg))
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MODELCTL_* pointing into tmp_path; returns tmp_path."""
    for key, sub in (("REGISTRY", "registry"), ("ARTIFACTS", "artifacts"), ("LOG", "logs"), ("CACHE", "cache")):
        monkeypatch.setenv(f"MODELCTL_{key}", str(tmp_path / sub))
    monkeypatch.setenv("MODELCTL_ACTOR", "tester")
    return tmp_path


def register_classifier(name: str = "tickets", capture: bool = True) -> int:
    """Register the bundled classifier as NAME@1 and put it in production."""
    from registry.service import open_registry

    artifact = EXAMPLES / "models" / "ticket-classifier.json"
    sha = hashlib.sha256(artifact.read_bytes()).hexdigest()
    reg = open_registry()
    reg.init()
    version, _ = reg.register(name, {"provider": "local", "model_id": "tfidf-logreg-v1", "kind": "classifier",
                                     "params": {"artifact_uri": str(artifact), "artifact_sha256": sha},
                                     "retrain_schedule": "quarterly"})
    reg.record_eval(name, version.number, suite="smoke", passed=True)
    reg.promote(name, version.number, "production", reason="baseline")
    if capture:
        reg.set_model_fields(name, capture_content=True)
    return version.number


@pytest.fixture
def model(env: Path) -> str:
    register_classifier("tickets")
    return "tickets"


@pytest.fixture(scope="session")
def suite_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The ticket-triage gates on the first 60 cases of its dataset (small: every test evaluates twice)."""
    folder = tmp_path_factory.mktemp("suite")
    write_jsonl(folder / "cases.jsonl", suite_rows()[:60])
    path = folder / "suite.yaml"
    path.write_text("name: tickets\ndataset: cases.jsonl\n"
                    "scorers:\n  - type: exact_match\n    normalize: [strip, lower]\n"
                    "gates:\n  exact_match: \">= 0.80\"\n  error_rate: \"<= 0.05\"\n"
                    # an HTTP loopback fake against an in-process classifier: latency differs by design
                    "allowances:\n  p95_latency_ms: \"10000%\"\n")
    return str(path)


def suite_rows() -> list[dict]:
    lines = (EXAMPLES / "suites" / "ticket-triage" / "tickets.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def ticket_rows(n: int, seed: int = 11) -> list[dict]:
    """``n`` training tickets (input/output/id/verified_by) sharing no text with the suite."""
    from make_tickets import generate

    rows = generate(seed=seed, n=n, exclude={r["input"] for r in suite_rows()}, prefix="tr-")
    return [{"id": r["id"], "input": r["input"], "output": r["expected"], "verified_by": "agent-1"} for r in rows]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)
