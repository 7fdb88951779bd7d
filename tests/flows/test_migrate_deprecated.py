"""migrate-deprecated: the replacement becomes a candidate, is evaluated against production, and the plan says how it went."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from registry.errors import PolicyViolation
from registry.service import open_registry
from tasks.deprecations.migrate import register_replacement
from tests.flows.test_evaluate_candidate import SUITE, registry  # noqa: F401  (fixture)

FEED = """notices:
  - provider: local
    model_id: tfidf-logreg-v1
    shutdown_date: 2026-12-01
    replacement: {replacement}
    title: "internal: classifier retired"
"""


def scan(registry: str, tmp_path: Path, replacement: str) -> None:  # noqa: F811
    from tasks.deprecations.scan import run_scan

    feed = tmp_path / "feed.yaml"
    feed.write_text(FEED.format(replacement=replacement))
    run_scan(open_registry(registry), [("feed", str(feed))], date(2026, 11, 23))


def test_the_replacement_is_registered_evaluated_and_recorded_in_the_plan(registry: str, tmp_path: Path,  # noqa: F811
                                                                          prefect_harness: None) -> None:
    from flows.migrate_deprecated import MigrateDeprecatedParams, migrate_deprecated

    reg = open_registry(registry)
    reg.record_eval("triage", 1, suite="ticket-triage", passed=True, suite_uri=str(SUITE))  # the recorded suite
    scan(registry, tmp_path, "lead-3-v1")  # v3 already runs lead-3-v1, but with another configuration
    out = migrate_deprecated(MigrateDeprecatedParams(models=["triage", ""], registry=registry))
    model = open_registry(registry).get_model("triage")
    new = model.versions[-1]
    assert out["triage"]["candidate"] == f"triage@{new.number}" and new.number == 4
    assert new.config.model_id == "lead-3-v1" and new.config.params == model.version(1).config.params
    record = model.latest_eval(new.digest)
    assert record is not None and record.decision == out["triage"]["decision"] == "reject"  # lead-3 cannot classify
    plan = next(p for p in model.deprecation_plans if p.model_id == "tfidf-logreg-v1")
    assert plan.eval_status == "failed" and plan.notes and "triage@4" in plan.notes
    again = migrate_deprecated(MigrateDeprecatedParams(models=["triage"], registry=registry))
    assert again == {}  # a failed plan is retried only when asked


def test_a_replacement_that_is_not_strictly_pinned_is_refused_before_registering(registry: str,  # noqa: F811
                                                                                  tmp_path: Path) -> None:
    scan(registry, tmp_path, "lead-3-latest")
    reg = open_registry(registry)
    plan = next(p for p in reg.get_model("triage").deprecation_plans if p.model_id == "tfidf-logreg-v1")
    with pytest.raises(PolicyViolation, match="not strictly pinned"):
        register_replacement(reg, "triage", plan)
    assert len(reg.get_model("triage").versions) == 3
