"""What a CONFIG.yaml holds: a version's configuration and metadata at top level."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from registry.entities import CONFIG_FIELDS, Frozen, Lineage, ModelConfig, Pricing, Provider
from registry.errors import InvalidInput
from registry.yamlio import LocatedYaml, load_located

MODEL_FIELDS: tuple[str, ...] = ("purpose", "owner", "kind", "capture_content")


class VersionSpec(Frozen):
    """A version to register: configuration fields, version metadata, optional model fields."""

    provider: Provider
    model_id: str = Field(min_length=1)
    api_version: str | None = None
    system_prompt: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stop: list[str] | None = None
    tools: list[str | dict[str, Any]] | None = None
    response_format: str | dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    description: str | None = None
    lineage: Lineage | None = None
    pricing: Pricing | None = None
    dimension: int | None = Field(default=None, gt=0)
    corpus_size: int | None = Field(default=None, ge=0)
    corpus_avg_tokens: int | None = Field(default=None, gt=0)
    retrain_schedule: str | None = None
    deployed_date: date | None = None
    notes: str | None = None
    tags: dict[str, str] | None = None
    purpose: str | None = None
    owner: str | None = None
    kind: str | None = None
    capture_content: bool | None = None

    def config(self) -> ModelConfig:
        """The configuration part (what the digest covers)."""
        return ModelConfig(**{f: getattr(self, f) for f in CONFIG_FIELDS})

    def metadata(self) -> dict[str, Any]:
        """Version metadata outside the digest."""
        skip = set(CONFIG_FIELDS) | set(MODEL_FIELDS)
        return {k: getattr(self, k) for k in type(self).model_fields if k not in skip}

    def model_fields_given(self) -> dict[str, Any]:
        """Model-level fields present in this file."""
        return {k: getattr(self, k) for k in MODEL_FIELDS if getattr(self, k) is not None}


def parse_spec(data: Any, *, source: str = "<input>", located: LocatedYaml | None = None) -> VersionSpec:
    """Validate a CONFIG mapping, naming file, line and field on error."""
    if not isinstance(data, dict):
        raise InvalidInput("expected a mapping of configuration fields at top level", file=source, line=1)
    try:
        return VersionSpec.model_validate(data)
    except ValidationError as exc:
        if located is not None:
            raise located.error(exc) from exc
        err = exc.errors()[0]
        raise InvalidInput(err["msg"], file=source, field=".".join(map(str, err["loc"]))) from exc


def load_spec_file(path: str | Path) -> VersionSpec:
    """Read and validate a CONFIG.yaml file."""
    located = load_located(path)
    return parse_spec(located.data, source=str(path), located=located)
