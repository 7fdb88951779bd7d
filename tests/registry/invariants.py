"""Consistency checks every stored registry must pass, whatever happened to its writers."""

from __future__ import annotations

from registry.entities import ENVIRONMENTS, ModelRecord


def check_record(record: ModelRecord) -> None:
    """Numbers contiguous, digests true, pointers valid, one register event per version."""
    assert [v.number for v in record.versions] == list(range(1, len(record.versions) + 1))
    assert len({v.digest for v in record.versions}) == len(record.versions)
    for v in record.versions:
        assert v.digest == v.config.digest()
    for env in ENVIRONMENTS:
        pointer = record.environments.get(env)
        if pointer is not None and pointer.version is not None:
            assert record.version(pointer.version) is not None
            assert record.version(pointer.version).stage == env or env != "production"  # type: ignore[union-attr]
    registered = [e.version for e in record.history if e.action == "register"]
    assert sorted(registered) == [v.number for v in record.versions]
    promotions = [e for e in record.history if e.action in ("promote", "rollback")
                  and (e.after or {}).get("environment") == "production"]
    if promotions:
        assert promotions[-1].after["version"] == record.env_version("production")
