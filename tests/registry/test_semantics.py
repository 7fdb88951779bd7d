"""Registry semantics: embedding-model changes are guarded, metadata can be annotated, manual-only gates
are flagged by validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry.errors import InvalidInput, PolicyViolation
from registry.service import Registry, open_registry
from tests.registry.conftest import snapshot_bytes
from tests.registry.test_cli import run, write


def embedder(model_id: str = "text-embedding-3-small", **extra: object) -> dict:
    return {"provider": "openai", "model_id": model_id, **extra}


def _to_production(reg: Registry, name: str, number: int, **kw: object) -> None:
    reg.record_eval(name, number, suite="s", passed=True, source="flow")
    reg.promote(name, number, "production", reason="x", **kw)  # type: ignore[arg-type]


def test_register_infers_embedding_kind(reg: Registry) -> None:
    reg.register("emb", embedder())
    reg.register("chat", {"provider": "openai", "model_id": "gpt-4o-2024-08-06"})
    reg.register("dims", {"provider": "local", "model_id": "my-vectors-v1", "dimension": 384})
    assert [reg.get_model(n).kind for n in ("emb", "chat", "dims")] == ["embedding", "chat", "embedding"]


def test_embedding_model_change_needs_a_migration_acknowledgement(reg: Registry, store_uri: str) -> None:
    reg.register("emb", embedder(dimension=1536, corpus_size=2_000_000, pricing={"input_per_1m": 0.02}))
    _to_production(reg, "emb", 1)
    reg.register("emb", embedder("text-embedding-3-large", dimension=3072, pricing={"input_per_1m": 0.13}))
    reg.record_eval("emb", 2, suite="s", passed=True, source="flow")
    before = snapshot_bytes(store_uri)
    with pytest.raises(PolicyViolation, match="embedding space") as exc:
        reg.promote("emb", 2, "production", reason="bigger model")
    text = str(exc.value)
    assert "re-embed 2,000,000 documents" in text and "dimension 1536 -> 3072" in text
    assert "--migration-acknowledged" in text
    assert snapshot_bytes(store_uri) == before
    reg.promote("emb", 2, "production", reason="planned", migration_acknowledged=True)
    event = reg.get_model("emb").history[-1]
    assert event.after is not None and "re-embed" in event.after["migration"]
    reg.promote("emb", 2, "staging", reason="staging is not guarded")


def test_experiments_on_embedding_models_are_refused(reg: Registry) -> None:
    reg.register("emb", embedder())
    _to_production(reg, "emb", 1)
    reg.register("emb", embedder("text-embedding-3-large"))
    reg.record_eval("emb", 2, suite="s", passed=True)
    with pytest.raises(PolicyViolation, match="vector spaces"):
        reg.start_experiment("emb", control=1, treatment=2, split=0.1)


def test_annotate_changes_metadata_not_the_digest(reg: Registry) -> None:
    v, _ = reg.register("emb", embedder())
    got = reg.annotate("emb", 1, pricing={"input_per_1m": 0.02}, corpus_size=5000, notes="RAG corpus",
                       reason="backfill")
    assert got.digest == v.digest and got.config == v.config
    assert got.corpus_size == 5000 and got.pricing is not None and got.pricing.input_per_1m == 0.02
    event = reg.get_model("emb").history[-1]
    assert event.action == "annotate" and event.after == {"pricing": {"input_per_1m": 0.02, "output_per_1m": 0.0},
                                                          "corpus_size": 5000, "notes": "RAG corpus"}
    with pytest.raises(InvalidInput):
        reg.annotate("emb", 1, model_id="other")
    with pytest.raises(InvalidInput):
        reg.annotate("emb", 1, corpus_size=-1)


def test_cli_annotate(uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--registry", uri, "annotate", "embedding-production@1", "--pricing", "0.02",
                       "--corpus-size", "2000000", "--notes", "2M docs", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["corpus_size"] == 2_000_000 and shown["pricing"]["input_per_1m"] == 0.02
    before = snapshot_bytes(uri)
    for bad in (["--pricing", "inf"], ["--pricing", "abc"], ["--corpus-size", "-3"], []):
        code, _, err = run(capsys, "--registry", uri, "annotate", "embedding-production@1", *bad)
        assert code == 2 and "Traceback" not in err, bad
    assert snapshot_bytes(uri) == before


def test_validate_warns_about_manual_only_gates(uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write(tmp_path, "c.yaml", "provider: openai\nmodel_id: gpt-4o-2024-08-06\n")
    run(capsys, "--registry", uri, "register", "triage", "--file", cfg)
    run(capsys, "--registry", uri, "eval", "record", "triage@1", "--suite", "t", "--passed")
    assert run(capsys, "--registry", uri, "promote", "triage@1", "--to", "production", "--reason", "x")[0] == 0
    code, out, _ = run(capsys, "--registry", uri, "validate")
    assert code == 0 and "triage@1 (production): gated by manual evaluation records only" in out


def test_policy_can_require_a_flow_evaluation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "modelctl.yaml"
    config.write_text("require_flow_evaluation: true\n")
    monkeypatch.setenv("MODELCTL_CONFIG", str(config))
    reg = open_registry(str(tmp_path / "reg"))
    reg.init()
    reg.register("m", {"provider": "openai", "model_id": "gpt-4o-2024-08-06"})
    reg.record_eval("m", 1, suite="s", passed=True)
    with pytest.raises(PolicyViolation, match="flow-produced"):
        reg.promote("m", 1, "production", reason="x")
    reg.record_eval("m", 1, suite="s", passed=True, source="flow")
    reg.promote("m", 1, "production", reason="x")
