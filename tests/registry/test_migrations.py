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
