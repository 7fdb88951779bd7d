"""The compliance checklist on real registries that pass and fail each item: verdicts and evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from registry.service import Registry, open_registry
from registry.settings import ComplianceThresholds, FileConfig
from tasks.compliance.pipeline import run_compliance
from tasks.compliance.verdicts import ComplianceReport, ModelCompliance, Verdict
from tasks.deprecations.scan import run_scan
from tasks.monitoring.checks import VersionCheck
from tasks.monitoring.monitor import ModelMonitor, MonitorReport, record_results
from tests.registry.conftest import snapshot_bytes

ROOT = Path(__file__).resolve().parents[2]
ANTHROPIC = [("anthropic", str(ROOT / "examples" / "deprecations" / "anthropic.md"))]
EVERYTHING = [*ANTHROPIC, ("openai", str(ROOT / "examples" / "deprecations" / "openai.md")),
              ("feed", str(ROOT / "examples" / "deprecations" / "feed.yaml"))]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPUS, OPUS_NEXT = "claude-opus-4-1-20250805", "claude-opus-4-1-20260101"


@pytest.fixture(autouse=True)
def _clock() -> Any:
    """The registry's clock frozen two hours before NOW (MODELCTL_NOW does this for the CLI)."""
    from registry.entities import set_clock

    set_clock(NOW - timedelta(hours=2))
    yield
    set_clock(None)


def _reg(tmp_path: Path) -> Registry:
    reg = open_registry(str(tmp_path / "reg"), actor="alice")
    reg.init()
    return reg


def _serving(tmp_path: Path) -> Registry:
    """A registry where model ``m`` (owner and purpose set) serves version 1, evaluated, in production."""
    reg = _reg(tmp_path)
    reg.register("m", {"provider": "anthropic", "model_id": OPUS, "purpose": "p", "owner": "o"})
    reg.record_eval("m", 1, suite="s", passed=True)
    reg.promote("m", 1, "production", reason="first")
    return reg


def _monitored(reg: Registry, name: str, version: int, end: datetime = NOW) -> None:
    """What the monitor flow records after a run over the window ending at ``end``."""
    check = VersionCheck(name, version, "ok", 1200, 300, "version", 9000, [])
    record_results(reg, MonitorReport("ok", {"end": end.strftime("%Y-%m-%dT%H:%M:%SZ")},
                                      [ModelMonitor(name, "ok", [check], [version])]))


def _model(report: ComplianceReport, name: str) -> ModelCompliance:
    return next(m for m in report.models if m.model == name)


def _item(report: ComplianceReport, name: str, item: str) -> Verdict:
    return next(v for v in _model(report, name).items if v.item == item)


def _check(reg: Registry, now: datetime = NOW, **thresholds: Any) -> ComplianceReport:
    return run_compliance(reg, FileConfig(compliance=ComplianceThresholds(**thresholds)), now=now)


@pytest.fixture
def compliant(tmp_path: Path) -> Registry:
    """A chat model shipped by an A/B test, scanned and monitored: every item passes or does not apply."""
    reg = _reg(tmp_path)
    reg.register("writer", {"provider": "anthropic", "model_id": OPUS, "purpose": "Drafts", "owner": "team-a"})
    reg.record_eval("writer", 1, suite="drafts", passed=True, source="flow", flow_run_id="run-1")
    reg.promote("writer", 1, "production", reason="first release")
    reg.register("writer", {"provider": "anthropic", "model_id": OPUS, "temperature": 0.2})
    reg.record_eval("writer", 2, suite="drafts", passed=True, source="flow", flow_run_id="run-2")
    exp = reg.start_experiment("writer", control=1, treatment=2, split=0.1, reason="a/b of temperature")
    reg.promote("writer", 2, "production", reason=f"{exp.id} shipped")
    run_scan(reg, ANTHROPIC, NOW.date(), now=NOW)
    _monitored(reg, "writer", 2, NOW - timedelta(hours=1))
    return reg


def test_a_compliant_model_passes_every_item_with_its_evidence(compliant: Registry) -> None:
    before = snapshot_bytes(compliant.uri)
    report = _check(compliant)
    assert snapshot_bytes(compliant.uri) == before  # compliance never writes
    writer = _model(report, "writer")
    assert report.status == "pass" and writer.status == "pass" and (writer.version, writer.environment) == (2, "production")
    verdicts = {v.item: v.status for v in writer.items}
    assert verdicts == {"registry": "pass", "pinned": "pass", "evaluation": "pass", "controlled-rollout": "pass",
                        "deprecation-plan": "pass", "deprecation-tracking": "pass",
                        "fine-tune-pipeline": "not-applicable", "release-process": "pass",
                        "embedding-migration": "not-applicable", "monitored": "pass"}
    ev = {v.item: v.evidence for v in writer.items}
    assert ev["registry"]["missing"] == [] and ev["registry"]["owner"] == "team-a"
    assert ev["evaluation"]["produced_by"] == "flow" and ev["evaluation"]["age_days"] >= 0
    assert ev["controlled-rollout"]["via"] == "ab" and ev["controlled-rollout"]["previous"] == 1
    plan = ev["deprecation-plan"]["plans"][0]
    assert (plan["status"], plan["model_id"], plan["review_date"]) == ("none-announced", OPUS, "2027-02-21")
    assert ev["deprecation-tracking"]["providers_covered"] == ["anthropic"]
    assert ev["deprecation-tracking"]["age_days"] == 0 and ev["deprecation-tracking"]["failed_sources"] == []
    assert ev["release-process"]["via"] == "recorded" and ev["release-process"]["actor"] == "alice"
    assert (ev["monitored"]["source"], ev["monitored"]["age_hours"]) == ("monitor", 1.0)
    assert report.to_dict()["failed"] == []


def test_registry_fields_pinning_and_evaluation_fail_with_what_is_missing(tmp_path: Path) -> None:
    reg = _reg(tmp_path)
    reg.register("bare", {"provider": "anthropic", "model_id": OPUS})
    reg.promote("bare", 1, "production", reason="urgent", force=True)  # no evaluation: forced
    reg.register("failing", {"provider": "anthropic", "model_id": OPUS, "purpose": "p", "owner": "o"})
    reg.record_eval("failing", 1, suite="s", passed=False)
    reg.promote("failing", 1, "staging", reason="try")
    report = _check(reg, evaluation_max_age_days=30)
    registry = _item(report, "bare", "registry")
    assert registry.status == "fail" and registry.evidence["missing"] == ["purpose", "owner"]
    assert "missing purpose, owner" in registry.summary
    assert _item(report, "bare", "evaluation").status == "fail"
    assert "no evaluation record" in _item(report, "bare", "evaluation").summary
    failing = _item(report, "failing", "evaluation")
    assert failing.status == "fail" and failing.evidence["passed"] is False and failing.evidence["produced_by"] == "manual"
    assert _item(report, "failing", "pinned").status == "not-applicable"  # staging only
    assert _item(report, "failing", "monitored").status == "not-applicable"
    reg.record_eval("failing", 1, suite="s", passed=True)
    assert _item(_check(reg), "failing", "evaluation").status == "pass"
    aged = _check(reg, now=NOW + timedelta(days=40), evaluation_max_age_days=30)
    assert _item(aged, "failing", "evaluation").status == "fail"
    assert "older than 30 days" in _item(aged, "failing", "evaluation").summary
    manual = _check(reg, require_flow_evaluation=True)
    assert "not produced by the evaluation flow" in _item(manual, "failing", "evaluation").summary


def test_pinning_is_judged_against_the_configured_strict_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "modelctl.yaml"
    config.write_text("strict_model_ids: [house-model]\n")
    monkeypatch.setenv("MODELCTL_CONFIG", str(config))
    reg = _reg(tmp_path)
    reg.register("house", {"provider": "local", "model_id": "house-model", "purpose": "p", "owner": "o"})
    reg.record_eval("house", 1, suite="s", passed=True)
    reg.promote("house", 1, "production", reason="first")
    assert _item(run_compliance(reg, FileConfig(strict_model_ids=["house-model"]), now=NOW), "house",
                 "pinned").status == "pass"
    loose = _item(_check(reg), "house", "pinned")  # the same registry under a config without that id
    assert loose.status == "fail" and loose.evidence["versions"][0]["pin"] != "strict"


def test_rollout_passes_by_experiment_rollback_or_a_forced_reason_and_fails_otherwise(tmp_path: Path) -> None:
    reg = _serving(tmp_path)
    assert _item(_check(reg), "m", "controlled-rollout").status == "not-applicable"  # no control to compare
    reg.register("m", {"provider": "anthropic", "model_id": OPUS, "temperature": 0.5})
    reg.record_eval("m", 2, suite="s", passed=True)
    reg.promote("m", 2, "production", reason="straight to production")
    plain = _item(_check(reg), "m", "controlled-rollout")
    assert plain.status == "fail" and plain.evidence["via"] == "promote" and plain.evidence["reason"] == \
        "straight to production"
    reg.rollback("m", "production", reason="bad outputs")
    assert _item(_check(reg), "m", "controlled-rollout").evidence["via"] == "rollback"
    reg.register("m", {"provider": "anthropic", "model_id": OPUS, "temperature": 0.9})
    reg.promote("m", 3, "production", reason="incident hotfix", force=True)
    forced = _item(_check(reg), "m", "controlled-rollout")
    assert (forced.status, forced.evidence["via"], forced.evidence["forced"]) == ("pass", "forced", True)
    assert "incident hotfix" in forced.summary
    release = _item(_check(reg), "m", "release-process")
    assert release.status == "pass" and release.evidence["reason"] == "incident hotfix"


def test_release_process_names_apply(tmp_path: Path) -> None:
    from registry.approvals import load_policy
    from registry.desired import load_desired
    from registry.plan import apply_plan, make_plan

    reg = _reg(tmp_path)
    reg.register("m", {"provider": "anthropic", "model_id": OPUS, "purpose": "p", "owner": "o"})
    reg.record_eval("m", 1, suite="s", passed=True)
    desired = tmp_path / "models.yaml"
    desired.write_text(f"format: modelctl/desired-state/v1\nmodels:\n  m:\n    purpose: p\n    owner: o\n"
                       f"    versions:\n      - version: 1\n        provider: anthropic\n        model_id: {OPUS}\n"
                       f"    environments:\n      production: 1\n")
    plan = make_plan(reg.list_models(), load_desired(str(desired)), load_policy(reg), reg.extra_strict)
    applied = apply_plan(reg, plan, reason=f"reviewed in PR 7 [apply {desired} @ abc123]")
    assert applied.applied and reg.get_model("m").env_version("production") == 1
    release = _item(_check(reg), "m", "release-process")
    assert (release.status, release.evidence["via"], release.evidence["actor"]) == ("pass", "apply", "alice")
    assert "applied from reviewed desired state" in release.summary


def test_deprecation_plan_and_tracking(tmp_path: Path) -> None:
    reg = _serving(tmp_path)
    reg.register("b", {"provider": "bedrock", "model_id": "anthropic.claude-opus-4-1-20250805-v1:0",
                       "purpose": "p", "owner": "o"})
    reg.record_eval("b", 1, suite="s", passed=True)
    reg.promote("b", 1, "production", reason="first")
    before = _check(reg)
    assert _item(before, "m", "deprecation-plan").status == "fail"
    assert "@1 (production) has no plan" in _item(before, "m", "deprecation-plan").summary
    tracking = _item(before, "m", "deprecation-tracking")
    assert tracking.status == "fail" and "no deprecation scan recorded" in tracking.summary
    run_scan(reg, ANTHROPIC, NOW.date(), now=NOW)
    after = _check(reg)
    assert _item(after, "m", "deprecation-plan").status == "pass"
    assert _item(after, "m", "deprecation-tracking").status == "pass"
    bedrock = _item(after, "b", "deprecation-tracking")  # the scan read anthropic's page only
    assert bedrock.status == "fail" and "no source of the last scan covers bedrock" in bedrock.summary
    stale = _check(reg, now=NOW + timedelta(days=5), scan_max_age_days=2)
    assert "older than 2 days" in _item(stale, "m", "deprecation-tracking").summary
    assert _item(stale, "m", "deprecation-tracking").evidence["age_days"] == 5
    late = _check(reg, now=datetime(2027, 3, 1, tzinfo=UTC), scan_max_age_days=400)
    assert "review date 2027-02-21 has passed" in _item(late, "m", "deprecation-plan").summary
    broken = tmp_path / "moved.md"
    broken.write_text("# moved\n")
    run_scan(reg, [*ANTHROPIC, ("openai", str(broken))], NOW.date(), apply_on_failure=True, now=NOW)
    failed = _item(_check(reg), "m", "deprecation-tracking")
    assert failed.status == "fail" and failed.evidence["failed_sources"][0]["source"] == f"openai={broken}"


def test_fine_tuned_lineage_and_retrain_schedule(tmp_path: Path) -> None:
    reg = _reg(tmp_path)
    lineage = {"base_model": "gpt-4o-mini-2024-07-18", "fine_tune_id": "ftjob-1",
               "training_data": "s3://data/train.jsonl", "training_data_sha256": "a" * 64,
               "hyperparameters": {"epochs": 3}, "evaluation": {"decision": "promote"}}
    reg.register("ft", {"provider": "openai", "model_id": "ft:gpt-4o-mini:org:ft:1", "purpose": "p", "owner": "o",
                        "lineage": lineage, "retrain_schedule": "quarterly"})
    reg.register("ft", {"provider": "openai", "model_id": "ft:gpt-4o-mini:org:ft:2", "lineage": {
        "base_model": "gpt-4o-mini-2024-07-18", "training_data": "s3://data/old.jsonl"}, "retrain_schedule": "yearly"})
    reg.record_eval("ft", 1, suite="s", passed=True)
    reg.promote("ft", 1, "production", reason="first")
    reg.promote("ft", 2, "staging", reason="next")
    good = _item(_check(reg), "ft", "fine-tune-pipeline")
    assert good.status == "pass" and good.evidence["scheduled_deployment"] == "fine-tune/quarterly-retrain"
    reg.record_eval("ft", 2, suite="s", passed=True)
    reg.promote("ft", 2, "production", reason="retrained", force=True)
    bad = _item(_check(reg), "ft", "fine-tune-pipeline")
    assert bad.status == "fail"
    assert bad.evidence["missing"] == ["training_data_sha256", "fine_tune_id", "hyperparameters"]
    assert "retrain schedule 'yearly' is not one the fine-tune deployment runs" in bad.summary


def test_embedding_models_need_a_corpus_size_and_get_an_estimate(tmp_path: Path) -> None:
    reg = _reg(tmp_path)
    reg.register("emb", {"provider": "openai", "model_id": "text-embedding-3-small", "purpose": "p", "owner": "o",
                         "kind": "embedding", "dimension": 1536, "pricing": {"input_per_1m": 0.02}})
    reg.record_eval("emb", 1, suite="s", passed=True)
    reg.promote("emb", 1, "production", reason="first")
    missing = _item(_check(reg), "emb", "embedding-migration")
    assert missing.status == "fail" and "modelctl annotate emb@1 --corpus-size N" in missing.summary
    reg.annotate("emb", 1, corpus_size=2_000_000, reason="corpus counted")
    run_scan(reg, EVERYTHING, NOW.date(), now=NOW)
    ok = _item(_check(reg), "emb", "embedding-migration")
    assert ok.status == "pass" and ok.evidence["corpus_size"] == 2_000_000
    assert "re-embed 2,000,000 documents" in ok.summary and "$20.00" in ok.summary
    assert "re-embed 2,000,000 documents" in (ok.evidence["plan_estimate"] or "")  # the scan's plan carries it


def test_monitoring_needs_a_recent_result_for_the_serving_version(compliant: Registry) -> None:
    assert _item(_check(compliant, now=NOW + timedelta(hours=30)), "writer", "monitored").status == "fail"
    stale = _item(_check(compliant, now=NOW + timedelta(hours=30)), "writer", "monitored")
    assert stale.evidence["age_hours"] == 31.0 and "limit 24 h" in stale.summary
    assert _item(_check(compliant, now=NOW + timedelta(hours=30), monitor_max_age_hours=48), "writer",
                 "monitored").status == "pass"
    compliant.rollback("writer", "production", reason="revert")  # @1 serves: no result for it
    gone = _item(_check(compliant), "writer", "monitored")
    assert gone.status == "fail" and "no monitor result for @1" in gone.summary
    _monitored(compliant, "writer", 1, NOW - timedelta(hours=30))  # an older backfill...
    _monitored(compliant, "writer", 1, NOW - timedelta(minutes=30))
    _monitored(compliant, "writer", 1, NOW - timedelta(hours=40))  # ...never replaces a newer result
    assert _item(_check(compliant), "writer", "monitored").evidence["age_hours"] == 0.5


def test_models_not_in_use_are_left_out_unless_named(tmp_path: Path) -> None:
    reg = _reg(tmp_path)
    reg.register("idle", {"provider": "anthropic", "model_id": OPUS})
    assert _check(reg).models == [] and _check(reg).status == "pass"
    named = run_compliance(reg, FileConfig(), ["idle"], NOW)
    assert {v.status for v in named.models[0].items} == {"not-applicable"}
    from registry.errors import ModelNotFound

    with pytest.raises(ModelNotFound):
        run_compliance(reg, FileConfig(), ["nope"], NOW)


def test_review_date_survives_rescans(compliant: Registry) -> None:
    plan = compliant.get_model("writer").deprecation_plans[0]
    run_scan(compliant, ANTHROPIC, date(2026, 12, 1), now=NOW + timedelta(days=8))
    assert compliant.get_model("writer").deprecation_plans[0] == plan


def test_an_old_shipped_experiment_does_not_cover_a_later_plain_promotion(compliant: Registry) -> None:
    compliant.rollback("writer", "production", reason="revert")
    compliant.promote("writer", 2, "production", reason="again, without a test")
    again = _item(_check(compliant), "writer", "controlled-rollout")
    assert again.status == "fail" and again.evidence["via"] == "promote"


def test_a_canary_shipped_by_its_analysis_counts(tmp_path: Path) -> None:
    from registry.entities import AnalysisRecord

    reg = _serving(tmp_path)
    reg.register("m", {"provider": "anthropic", "model_id": OPUS, "temperature": 0.1})
    reg.record_eval("m", 2, suite="s", passed=True)
    exp = reg.start_experiment("m", control=1, treatment=2, split=0.1, kind="canary", steps=[0.1, 0.5, 1.0])
    reg.apply_experiment_decision("m", exp.id, analysis=AnalysisRecord(time=NOW, decision="ship"), action="ship",
                                  reason="canary passed every step")
    rollout = _item(_check(reg), "m", "controlled-rollout")
    assert (rollout.status, rollout.evidence["via"], rollout.evidence["experiment"]) == ("pass", "canary", exp.id)
    assert rollout.evidence["decision"] == "ship" and rollout.evidence["analyses"] == 1
