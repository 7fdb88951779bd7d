"""Matching, plans, idempotency, change detection, failing sources, SDK model lists and Bedrock."""

from __future__ import annotations

import json
import random
from datetime import date, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from modelctl.cli import main
from registry.service import Registry, open_registry
from tasks.deprecations import sources
from tasks.deprecations.matching import VersionIndex, VersionRef, nested_loop
from tasks.deprecations.scan import run_scan
from tests.registry.conftest import snapshot_bytes
from tests.tasks.providers.fakes import FakeProvider

ROOT = Path(__file__).resolve().parents[3]
FIX = ROOT / "examples" / "deprecations"
SOURCES = [("openai", str(FIX / "openai.md")), ("anthropic", str(FIX / "anthropic.md")),
           ("litellm", str(FIX / "litellm.json")), ("feed", str(FIX / "feed.yaml"))]
TODAY = date(2026, 11, 23)


@pytest.fixture
def registry(tmp_path: Path) -> str:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri, actor="test")
    from registry.seed import import_seed

    import_seed(reg, ROOT / "examples" / "model-registry.yaml")
    reg.register("assistant", {"provider": "bedrock", "model_id": "us.anthropic.claude-3-5-sonnet-20240620-v1:0"})
    reg.register("drafts", {"provider": "anthropic", "model_id": "claude-sonnet-4-5"})  # a family alias
    reg.register("embedding-production", {"provider": "openai", "model_id": "text-embedding-3-large",
                                          "pricing": {"input_per_1m": 0.13}, "dimension": 3072})
    return uri


def test_index_equals_nested_loop() -> None:
    rng = random.Random(5)
    ids = ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "claude-sonnet-4-5-*", "claude-sonnet-*", "gpt-4o",
           "gpt-4o-2024-08-06", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "text-embedding-3-small",
           "claude-3-5-sonnet-latest"]
    refs = [VersionRef(f"m{i}", 1, "production", "anthropic", rng.choice(ids), rng.choice([None, "gpt-4o-mini"]))
            for i in range(300)]
    notices = ["claude-sonnet-4-5-20250929", "gpt-4o-2024-08-06", "anthropic.claude-3-5-sonnet-20240620-v1:0",
               "gpt-4o-mini-2024-07-18", "claude-3-5-sonnet-20241022", "text-embedding-3-small", "nothing-1"]
    expected = nested_loop(notices, refs)
    index = VersionIndex(refs)
    for n in notices:
        assert sorted(index.lookup(n), key=id) == sorted(expected[n], key=id), n
    assert expected["claude-sonnet-4-5-20250929"] and expected["anthropic.claude-3-5-sonnet-20240620-v1:0"]


def test_scan_creates_plans_and_is_idempotent(registry: str) -> None:
    reg = open_registry(registry)
    result = run_scan(reg, SOURCES, TODAY)
    hit = {(a["model"], a["version"], a["environment"]): a for a in result.affected}
    assert hit[("summarization-primary", 1, "production")]["severity"] == "critical"  # shutdown in 7 days
    assert hit[("classification-v2", 1, "production")]["model_id"].startswith("ft:gpt-4o-mini")  # fine-tune base
    assert ("assistant", 1, "candidate") in hit  # bedrock regional prefix, via litellm
    assert ("drafts", 1, "candidate") in hit  # a family alias
    plan = next(p for p in reg.get_model("summarization-primary").deprecation_plans)
    assert (plan.hard_deadline, plan.soft_deadline, plan.replacement) == \
        (date(2026, 11, 30), date(2026, 10, 31), "claude-sonnet-5-20260915")
    emb = reg.get_model("embedding-production").deprecation_plans[0]
    assert emb.date_kind == "floor" and emb.hard_deadline is None and "data migration" in (emb.migration.estimated_effort or "")
    assert emb.migration.cost_impact and "replacement costs $0.13" in emb.migration.cost_impact  # the replacement is registered
    kinds = [e["event"] for e in result.events]
    assert "modelctl.deprecation.detected" in kinds and "modelctl.deprecation.critical" in kinds
    before = snapshot_bytes(registry)
    again = run_scan(reg, SOURCES, TODAY)
    assert again.events == [] and again.changes == []
    after = snapshot_bytes(registry)
    assert {k: v for k, v in after.items() if "aux" not in k} == {k: v for k, v in before.items() if "aux" not in k}


def test_notices_that_change_are_diffed(registry: str, tmp_path: Path) -> None:
    reg = open_registry(registry)
    run_scan(reg, SOURCES, TODAY)
    slipped = tmp_path / "anthropic.md"
    slipped.write_text((FIX / "anthropic.md").read_text().replace("November 30, 2026", "January 15, 2027"))
    result = run_scan(reg, [("anthropic", str(slipped)), *SOURCES[2:3]], TODAY)
    change = next(c for c in result.changes if c["notice"] == "anthropic:claude-sonnet-4-5-20250929")
    assert (change["field"], change["before"], change["after"]) == ("shutdown_date", "2026-11-30", "2027-01-15")
    assert [e["event"] for e in result.events if e["model"] == "summarization-primary"] == ["modelctl.deprecation.changed"]
    plan = reg.get_model("summarization-primary").deprecation_plans[0]
    assert plan.hard_deadline == date(2027, 1, 15) and plan.severity == "info"  # soft deadline 2026-12-16: not yet
    assert not any(c["change"] == "withdrawn" for c in result.changes)  # openai was not read: nothing withdrawn


def test_a_failing_source_next_to_working_ones(registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "moved.md"
    broken.write_text("# This page has moved\n")
    reg = open_registry(registry)
    run_scan(reg, SOURCES, TODAY)
    result = run_scan(reg, [("openai", str(broken)), *SOURCES[1:]], TODAY)
    assert [f["source"] for f in result.failed_sources] == [f"openai={broken}"]
    assert not any(c["change"] == "withdrawn" for c in result.changes)  # a failed page withdraws nothing
    assert result.affected  # the working sources still count
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "deprecations", "scan", "--source", f"openai={broken}",
              "--source", f"feed={FIX / 'feed.yaml'}", "--today", "2026-11-23", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert exc.value.code == 4 and out["failed_sources"] and set(out) >= {"notices", "affected", "failed_sources",
                                                                          "changes"}
    assert set(out["notices"][0]) >= {"provider", "model_id", "shutdown_date", "date_kind", "replacement",
                                      "announced", "source"}


def test_sdk_model_lists_against_local_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeProvider({})
    server.get_routes["/v1/models"] = {"object": "list", "data": [
        {"id": "gpt-4o-2024-08-06", "object": "model", "created": 1, "owned_by": "system"},
        {"id": "gpt-4o-mini-2024-07-18", "object": "model", "created": 1, "owned_by": "system",
         "shutdown_date": "2027-03-31"}]}
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    got = {n.model_id: n for n in sources.openai_models("api", {"openai:gpt-4o-2024-08-06", "openai:gpt-4-0613"})}
    assert got["gpt-4o-mini-2024-07-18"].shutdown_date == date(2027, 3, 31)
    assert got["gpt-4-0613"].removed and "gpt-4o-2024-08-06" not in got
    server.get_routes["/v1/models"] = {"data": [
        {"type": "model", "id": "claude-sonnet-4-5-20250929", "display_name": "Claude Sonnet 4.5",
         "created_at": "2025-09-29T00:00:00Z", "lifecycle": "deprecated", "retires_at": "2026-11-30T00:00:00Z"}],
        "has_more": False, "first_id": "claude-sonnet-4-5-20250929", "last_id": "claude-sonnet-4-5-20250929"}
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    got = {n.model_id: n for n in sources.anthropic_models("api", {"anthropic:claude-3-opus-20240229"})}
    assert got["claude-sonnet-4-5-20250929"].shutdown_date == date(2026, 11, 30)
    assert got["claude-3-opus-20240229"].removed
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(sources.SourceSkipped):
        sources.anthropic_models("api", set())
    server.close()


def test_bedrock_lifecycle_through_stubber() -> None:
    client = boto3.client("bedrock", region_name="us-east-1")
    summaries = [
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0",
         "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0", "providerName": "Anthropic",
         "modelLifecycle": {"status": "LEGACY", "legacyTime": datetime(2026, 1, 1), "endOfLifeTime": datetime(2026, 6, 1)}},
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0",
         "modelId": "amazon.titan-embed-text-v2:0", "providerName": "Amazon", "modelLifecycle": {"status": "ACTIVE"}},
    ]
    with Stubber(client) as stub:
        stub.add_response("list_foundation_models", {"modelSummaries": summaries}, {})
        got = {n.model_id: n for n in sources.bedrock_models(
            "us-east-1", {"bedrock:us.anthropic.claude-3-5-sonnet-20240620-v1:0", "bedrock:meta.llama2-13b-chat-v1"},
            client_factory=lambda region: client)}
    legacy = got["anthropic.claude-3-5-sonnet-20240620-v1:0"]
    assert legacy.shutdown_date == date(2026, 6, 1) and legacy.announced == date(2026, 1, 1)
    assert got["meta.llama2-13b-chat-v1"].removed
    assert "amazon.titan-embed-text-v2:0" not in got


def test_a_failed_scan_leaves_the_registry_byte_for_byte_unchanged(registry: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from tests.registry.conftest import snapshot_bytes

    broken = tmp_path / "moved.md"
    broken.write_text("# This page has moved\n")
    reg = open_registry(registry)
    run_scan(reg, SOURCES, TODAY)
    before = snapshot_bytes(registry)
    with pytest.raises(SystemExit) as exc:
        main(["--registry", registry, "deprecations", "scan", "--source", f"openai={broken}",
              "--source", f"feed={FIX / 'feed.yaml'}", "--today", "2026-12-30"])
    assert exc.value.code == 4
    assert snapshot_bytes(registry) == before


def _opus_writer(uri: str) -> Registry:
    """A registry at ``uri`` whose model ``writer`` serves claude-opus-4-1-20250805 in production."""
    reg = open_registry(uri, actor="test")
    reg.init()
    reg.register("writer", {"provider": "anthropic", "model_id": "claude-opus-4-1-20250805"})
    reg.record_eval("writer", 1, suite="s", passed=True)
    reg.promote("writer", 1, "production", reason="first")
    return reg


def test_every_model_in_use_gets_a_plan(tmp_path: Path) -> None:
    """No notice: a none-announced plan with lifecycle facts, a review date and a proposed target; refreshed
    by every scan, written once, and replaced when an announcement arrives."""
    uri = str(tmp_path / "reg")
    reg = _opus_writer(uri)
    reg.register("tagger", {"provider": "openai", "model_id": "gpt-4.1-2025-04-14"})
    reg.register("tagger", {"provider": "openai", "model_id": "gpt-4.1-mini-2025-04-14"})
    reg.record_eval("tagger", 1, suite="s", passed=True)
    reg.promote("tagger", 1, "production", reason="first")
    reg.promote("tagger", 2, "staging", reason="candidate")
    reg.register("unused", {"provider": "openai", "model_id": "gpt-4.1-2025-04-14"})  # a candidate: not in use
    feed = tmp_path / "feed.yaml"  # the scan knows a newer opus 4.1 snapshot (no deprecation of the old one)
    feed.write_text("notices:\n  - {provider: anthropic, model_id: claude-opus-4-1-20260101, "
                    "shutdown_date: 2028-01-01}\n")
    sources_ = [("anthropic", str(FIX / "anthropic.md")), ("litellm", str(FIX / "litellm.json")),
                ("feed", str(feed))]
    run_scan(reg, sources_, TODAY)
    writer = reg.get_model("writer").deprecation_plans
    assert [(p.model_id, p.status, p.affected_versions) for p in writer] == \
        [("claude-opus-4-1-20250805", "none-announced", [1])]
    plan = writer[0]
    assert plan.lifecycle is not None and plan.lifecycle.release_date == date(2025, 8, 5)
    assert plan.review_date == date(2027, 2, 21)  # today + plan_review_days (90)
    assert (plan.migration.target, plan.migration.target_source) == ("claude-opus-4-1-20260101", "same-family")
    assert plan.timeline.hard_deadline is None and len(plan.migration.migration_steps) == 5
    tagger = {p.model_id: p for p in reg.get_model("tagger").deprecation_plans}
    assert set(tagger) == {"gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14"}  # production and staging
    prod = tagger["gpt-4.1-2025-04-14"]
    assert (prod.migration.target, prod.migration.target_version, prod.migration.target_source) == \
        ("gpt-4.1-mini-2025-04-14", 2, "staging")
    assert reg.get_model("unused").deprecation_plans == []
    assert not any(p.status == "none-announced" for p in reg.get_model("writer").deprecation_plans
                   if p.model_id != "claude-opus-4-1-20250805")
    before = snapshot_bytes(uri)
    run_scan(reg, sources_, date(2026, 11, 24))  # a day later: same plans, nothing written but the scan record
    after = snapshot_bytes(uri)
    assert {k: v for k, v in after.items() if "aux" not in k} == {k: v for k, v in before.items() if "aux" not in k}
    feed.write_text("notices:\n  - {provider: anthropic, model_id: claude-opus-4-1-20250805, "
                    "shutdown_date: 2027-08-05, replacement: claude-opus-4-1-20260101}\n")
    run_scan(reg, sources_, TODAY)
    (announced,) = reg.get_model("writer").deprecation_plans
    assert (announced.status, announced.timeline.hard_deadline) == ("announced", date(2027, 8, 5))
    scan = json.loads(reg.read_aux("deprecation-scan.json") or b"{}")
    assert scan["providers"] == ["anthropic", "bedrock", "local", "openai"] and scan["failed_sources"] == []


def test_an_active_models_published_floor_is_a_lifecycle_fact(tmp_path: Path) -> None:
    page = tmp_path / "anthropic.md"
    page.write_text("# Model deprecations\n\n## Model status\n\n| API model name | Current state | Deprecated | "
                    "Tentative retirement date |\n|:---|:---|:---|:---|\n| `claude-opus-4-1-20250805` | Active | N/A | "
                    "Not sooner than August 5, 2026 |\n")
    litellm = tmp_path / "litellm.json"
    litellm.write_text(json.dumps({"claude-opus-4-1-20250805": {"litellm_provider": "anthropic",
                                                                "deprecation_date": "2026-09-01"}}))
    uri = str(tmp_path / "reg")
    reg = _opus_writer(uri)
    result = run_scan(reg, [("anthropic", str(page)), ("litellm", str(litellm))], TODAY)
    assert result.affected == [] and result.events == []  # the provider has not deprecated it
    (plan,) = reg.get_model("writer").deprecation_plans
    assert plan.status == "none-announced" and plan.lifecycle is not None
    assert (plan.lifecycle.release_date, plan.lifecycle.minimum_availability,
            plan.lifecycle.litellm_deprecation_date) == (date(2025, 8, 5), date(2026, 8, 5), date(2026, 9, 1))
    assert f"anthropic={page}" in plan.lifecycle.sources and "litellm" in plan.lifecycle.sources
