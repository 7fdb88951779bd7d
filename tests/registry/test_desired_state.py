"""Registry as code: the plan is exactly what apply does; refusals, bad files, idempotence, concurrency."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from modelctl.cli import main
from registry.approvals import load_policy
from registry.desired import load_desired
from registry.plan import apply_plan, make_plan
from registry.service import open_registry
from tests.registry.conftest import snapshot_bytes

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "desired-state"
SEED = Path(__file__).resolve().parents[2] / "examples" / "model-registry.yaml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A copy of the sample desired-state repository."""
    target = tmp_path / "repo"
    shutil.copytree(EXAMPLE, target)
    return target


def edit(path: Path, fn) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(path.read_text())
    fn(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def pass_eval(uri: str, name: str, version: int) -> None:
    open_registry(uri, actor="evaluator").record_eval(name, version, suite="s", passed=True, scores={"q": 0.9})


def test_plan_is_what_apply_does_and_apply_twice_is_once(repo: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    uri = str(tmp_path / "reg")
    models = str(repo / "models.yaml")
    code, out, _ = run(capsys, "--registry", uri, "plan", models, "--json")
    planned = json.loads(out)["changes"]
    assert code == 3 and [c["action"] for c in planned] == ["register", "register", "promote", "promote",
                                                              "register", "promote"]
    assert all(c["would_pass"] and c["gate"] for c in planned)
    assert not Path(uri).exists()  # plan writes nothing

    code, out, _ = run(capsys, "--registry", uri, "apply", models, "--reason", "initial", "--json")
    applied = json.loads(out)
    assert code == 0 and [c["summary"] for c in applied["applied"]] == [c["summary"] for c in planned]
    events = open_registry(uri).history()
    assert [(e.model, e.action, e.version) for e in events] == [
        (c["model"], c["action"], c["version"]) for c in sorted(planned, key=lambda c: c["model"])]
    assert all(e.reason.startswith("initial [apply ") for e in events)
    reg = open_registry(uri)
    record = reg.get_model("support-summarizer")
    assert record.owner == "team-support" and record.env_version("staging") == 2
    assert record.version(2).description == "Shorter summaries for the support console"  # from the CONFIG file

    before = snapshot_bytes(uri)
    assert run(capsys, "--registry", uri, "plan", models)[0] == 0
    code, out, _ = run(capsys, "--registry", uri, "apply", models)
    assert code == 0 and "no changes" in out
    assert snapshot_bytes(uri) == before


def test_refusal_stops_with_earlier_changes_applied_and_atomic_applies_nothing(
        repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = str(tmp_path / "reg")
    models = repo / "models.yaml"
    edit(models, lambda d: d["models"]["support-summarizer"]["environments"].update(production=2))
    code, out, _ = run(capsys, "--registry", uri, "plan", str(models))
    assert code == 1 and "WOULD BE REFUSED" in out and "no evaluation record" in out

    open_registry(uri).init()
    before = snapshot_bytes(uri)
    code, out, _ = run(capsys, "--registry", uri, "apply", str(models), "--atomic", "--json")
    assert code == 1 and json.loads(out)["applied"] == [] and snapshot_bytes(uri) == before

    code, out, _ = run(capsys, "--registry", uri, "apply", str(models), "--json")
    result = json.loads(out)
    assert code == 1
    assert [c["action"] for c in result["applied"]] == ["register", "register", "promote", "promote"]
    assert result["refused"]["summary"].startswith("promote support-summarizer@2 to production")
    assert "ticket-classifier" not in {m.name for m in open_registry(uri).list_models()}  # after the refusal

    pass_eval(uri, "support-summarizer", 2)
    code, out, _ = run(capsys, "--registry", uri, "apply", str(models))
    assert code == 0, out
    assert open_registry(uri).get_model("support-summarizer").env_version("production") == 2
    assert run(capsys, "--registry", uri, "plan", str(models))[0] == 0


def test_rollback_and_experiments_are_planned_changes(repo: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    uri = str(tmp_path / "reg")
    models = repo / "models.yaml"
    assert run(capsys, "--registry", uri, "apply", str(models))[0] == 0
    for v in (1, 2):
        pass_eval(uri, "support-summarizer", v)
    edit(models, lambda d: d["models"]["support-summarizer"]["environments"].update(production=1))
    assert run(capsys, "--registry", uri, "apply", str(models))[0] == 0
    edit(models, lambda d: d["models"]["support-summarizer"].update(experiment={"treatment": 2, "split": 0.2}))
    code, out, _ = run(capsys, "--registry", uri, "plan", str(models), "--json")
    assert code == 3 and [c["action"] for c in json.loads(out)["changes"]] == ["experiment_start"]
    assert run(capsys, "--registry", uri, "apply", str(models))[0] == 0
    exp = open_registry(uri).get_model("support-summarizer").running_experiment()
    assert exp is not None and (exp.control, exp.treatment, exp.split) == (1, 2, 0.2)

    # ship by hand (production -> 2), then the file asks to go back to 1: an instant rollback
    open_registry(uri).promote("support-summarizer", 2, "production", reason="ship")
    edit(models, lambda d: d["models"]["support-summarizer"].update(experiment=None))
    code, out, _ = run(capsys, "--registry", uri, "plan", str(models), "--json")
    change = json.loads(out)["changes"]
    assert [c["action"] for c in change] == ["rollback"] and "no approval" in change[0]["gate"]
    assert run(capsys, "--registry", uri, "apply", str(models))[0] == 0
    assert open_registry(uri).get_model("support-summarizer").env_version("production") == 1


@pytest.mark.parametrize("mutate, field, message", [
    (lambda d: d["models"]["support-summarizer"].update(colour="red"), "models.support-summarizer.colour",
     "unknown field"),
    (lambda d: d["models"]["support-summarizer"]["versions"][0].update(temperature=9),
     "models.support-summarizer.versions.0.temperature", "less than or equal"),
    (lambda d: d["models"]["support-summarizer"]["environments"].update(staging=7),
     "models.support-summarizer.environments.staging", "neither registered nor listed"),
    (lambda d: d["models"]["ticket-classifier"].update(kind="robot"), "models.ticket-classifier.kind",
     "unknown kind"),
    (lambda d: d["models"]["ticket-classifier"]["versions"][0].update(version=3),
     "models.ticket-classifier.versions.0.version", "declared version 3"),
])
def test_bad_file_exits_2_naming_file_line_and_field(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     mutate, field: str, message: str) -> None:  # type: ignore[no-untyped-def]
    models = repo / "models.yaml"
    edit(models, mutate)
    code, out, err = run(capsys, "--registry", str(tmp_path / "reg"), "plan", str(models))
    assert code == 2 and f"{models}:" in err and f"field '{field}'" in err and message in err, err
    line = int(err.split(f"{models}:")[1].split()[0])
    assert line > 1


def test_git_commit_is_recorded(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "models"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    uri = str(tmp_path / "reg")
    assert run(capsys, "--registry", uri, "apply", str(repo / "models.yaml"), "--reason", "PR #7")[0] == 0
    assert all(f"@ {head}]" in (e.reason or "") and e.reason.startswith("PR #7")
               for e in open_registry(uri).history())


def test_export_desired_state_of_a_live_registry_plans_no_change(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    uri = str(tmp_path / "reg")
    assert run(capsys, "--registry", uri, "import", str(SEED))[0] == 0
    out_file = tmp_path / "models.yaml"
    code, out, _ = run(capsys, "--registry", uri, "export", "--desired-state")
    out_file.write_text(out)
    assert run(capsys, "--registry", uri, "plan", str(out_file))[0] == 0


def test_concurrent_applies_lose_no_change(repo: Path, tmp_path: Path) -> None:
    uri = str(tmp_path / "reg")
    open_registry(uri).init()
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"models": {f"m{i}": {"versions": [
        {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "temperature": t / 10} for t in range(3)],
        "environments": {"staging": 3}} for i in range(3)}}))
    errors: list[BaseException] = []

    def worker(path: Path, actor: str) -> None:
        try:
            reg = open_registry(uri, actor=actor)
            plan = make_plan(reg.list_models(), load_desired(path), load_policy(reg), source=str(path))
            assert apply_plan(reg, plan, reason="concurrent").refused is None
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p, f"ci-{i}"))
               for i, p in enumerate([repo / "models.yaml", other] * 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    reg = open_registry(uri)
    for path in (repo / "models.yaml", other):
        assert make_plan(reg.list_models(), load_desired(path), load_policy(reg)).changes == []
    registers = [e for e in reg.history() if e.action == "register"]
    assert len(registers) == 2 + 1 + 9  # each version registered once, whoever won
