"""Acting on a deprecation plan: the replacement as a candidate version (pure decisions, thin writes)."""

from __future__ import annotations

from typing import Any

from registry.entities import DeprecationPlan, ModelRecord, Version
from registry.pinning import is_strict
from registry.service import Registry


def actionable_plans(record: ModelRecord, retry_failed: bool = False) -> list[DeprecationPlan]:
    """Plans with a known replacement whose evaluation has not passed yet (nor is running)."""
    wanted = {"pending", "failed"} if retry_failed else {"pending"}
    return [p for p in record.deprecation_plans
            if p.replacement and p.status not in ("migrated", "none-announced") and p.eval_status in wanted]


def source_version(record: ModelRecord, plan: DeprecationPlan) -> Version | None:
    """The configuration to carry over: production's if affected, else the newest affected version."""
    prod = record.env_version("production")
    numbers = [prod] if prod in plan.affected_versions else sorted(plan.affected_versions, reverse=True)
    return next((v for n in numbers if n is not None and (v := record.version(n)) is not None), None)


def replacement_spec(version: Version, replacement: str) -> dict[str, Any]:
    """The same configuration with the replacement model id (metadata says where it came from)."""
    config = version.config.model_dump(mode="json", exclude_none=True)
    return {**config, "model_id": replacement,
            "description": f"replacement of {version.config.model_id} (deprecated), from version {version.number}"}


def register_replacement(registry: Registry, name: str, plan: DeprecationPlan) -> tuple[Version, bool]:
    """Register the replacement as a candidate version; refuses a replacement that is not strictly pinned."""
    from registry.errors import PolicyViolation
    from registry.spec import parse_spec

    record = registry.get_model(name)
    base = source_version(record, plan)
    if base is None or not plan.replacement:
        raise PolicyViolation(f"refused: {name} has no affected version to migrate from {plan.model_id}")
    spec = parse_spec(replacement_spec(base, plan.replacement), source=f"deprecation plan of {name}")
    if not is_strict(spec.config(), registry.extra_strict):
        raise PolicyViolation(f"refused: replacement {plan.replacement} of {name} is not strictly pinned; "
                              "register a dated snapshot id and evaluate it by hand")
    return registry.register(name, spec, reason=f"replacement for deprecated {plan.model_id}")


def set_eval_status(registry: Registry, name: str, plan: DeprecationPlan, status: str, note: str) -> None:
    """Record the migration evaluation's status in the plan."""
    migration = plan.migration.model_copy(update={"eval_status": status})
    updated = plan.model_copy(update={"migration": migration, "notes": note[:500], "updated_at": None})
    registry.upsert_deprecation_plan(name, updated, reason=f"migration evaluation {status}")
