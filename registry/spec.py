"""What a CONFIG.yaml holds: a version's configuration and metadata at top level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError, ValidationInfo, field_validator

from registry.entities import CONFIG_FIELDS, ConfigFields, ModelConfig, VersionMetadata, check_local_params
from registry.errors import InvalidInput
from registry.yamlio import LocatedYaml, load_located

MODEL_FIELDS: tuple[str, ...] = ("purpose", "owner", "kind", "capture_content")


class VersionSpec(ConfigFields, VersionMetadata):
    """A version to register: configuration fields, version metadata, optional model fields."""

    purpose: str | None = None
    owner: str | None = None
    kind: str | None = None
    capture_content: bool | None = None

    @field_validator("system_prompt", "prompt_template", mode="after")
    @classmethod
    def _template_parses(cls, value: str | None) -> str | None:
        from registry.templates import variables_of

        try:
            variables_of(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc
        return value

    @field_validator("params", mode="after")
    @classmethod
    def _local_params(cls, value: Any, info: ValidationInfo) -> Any:
        """Registration checks the local provider's parameters (stored documents are not re-judged)."""
        if info.data.get("provider") == "local" and value:
            check_local_params(value)
        return value

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
