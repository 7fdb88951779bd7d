"""Stored documents carry a schema_version: older ones migrate, newer ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from registry.errors import SchemaError
from registry.service import open_registry
from tests.registry.conftest import config


def test_v0_document_migrates_and_newer_is_refused(tmp_path: Path) -> None:
    uri = str(tmp_path / "reg")
    reg = open_registry(uri)
    reg.init()
    reg.register("m", config())
    path = Path(uri, "models", "m.yaml")
    doc = yaml.safe_load(path.read_text())
    doc.pop("schema_version")
    doc["environments"] = {"staging": 1}
    path.write_text(yaml.safe_dump(doc))
    assert reg.get_model("m").env_version("staging") == 1
    doc["schema_version"] = 99
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SchemaError, match="upgrade modelctl"):
        reg.get_model("m")


SCHEMA2 = Path(__file__).parent / "fixtures" / "schema2"  # written by the schema-2 code: import + bundled scan


def test_schema2_plans_move_to_the_seed_shape(tmp_path: Path) -> None:
    import shutil
    from datetime import date

    uri = str(tmp_path / "reg")
    shutil.copytree(SCHEMA2, uri)
    path = Path(uri, "models", "embedding-production.yaml")
    assert yaml.safe_load(path.read_text().rsplit("# sha256", 1)[0])["schema_version"] == 2
    reg = open_registry(uri)
    plan = reg.get_model("embedding-production").deprecation_plans[0]
    assert (plan.timeline.not_before, plan.timeline.date_kind, plan.timeline.announced) == \
        (date(2027, 10, 1), "floor", date(2026, 10, 2))
    assert plan.migration.target == "text-embedding-3-large" and plan.migration.target_source == "provider"
    assert plan.migration.eval_status == "pending" and len(plan.migration.migration_steps) == 5
    assert "re-embed" in (plan.migration.estimated_effort or "") and plan.status == "announced"
    critical = reg.get_model("summarization-primary").deprecation_plans[0]
    assert (critical.severity, critical.timeline.hard_deadline, critical.timeline.soft_deadline) == \
        ("critical", date(2026, 11, 30), date(2026, 10, 31))
    reg.set_model_fields("embedding-production", owner="team-search", reason="migration test")  # the next write
    doc = yaml.safe_load(path.read_text().rsplit("# sha256", 1)[0])
    stored = doc["deprecation_plans"][0]
    assert doc["schema_version"] == 3 and "replacement" not in stored and "not_before" not in stored
    assert stored["timeline"]["not_before"] == "2027-10-01" and stored["migration"]["target"] == "text-embedding-3-large"
    assert reg.get_model("embedding-production").deprecation_plans[0] == plan  # nothing lost on the way
    assert not reg.validate().violations or all("embedding-production" not in v for v in reg.validate().violations)
