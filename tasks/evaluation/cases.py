"""The data a scorer sees: a dataset case and a scorer's specification (no imports from the rest of
``tasks.evaluation``, so that ``suite`` and ``scorers`` both depend on it and not on each other)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict


class ScorerSpec(BaseModel):
    """One scorer: a ``type`` plus its parameters (extra keys are the parameters)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str
    name: str | None = None

    @property
    def metric(self) -> str:
        return self.name or self.type

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


@dataclass(frozen=True)
class Case:
    """One dataset row: an input (text or chat messages) and/or template ``variables``, an optional expected
    answer, metadata."""

    id: str
    input: str | list[dict[str, Any]]
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] | None = None

    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.input, str):
            return [{"role": "user", "content": self.input}] if self.input else []
        return list(self.input)

    def input_key(self) -> str:
        """Canonical text of the input and variables (for the cache key)."""
        text = self.input if isinstance(self.input, str) else json.dumps(self.input, sort_keys=True)
        if self.variables:
            text += "\x1e" + json.dumps(self.variables, sort_keys=True)
        return text

    def display_input(self) -> str:
        """The input as a reviewer reads it (text, the last user turn, or the variables)."""
        if isinstance(self.input, str) and self.input:
            return self.input + (f"  {json.dumps(self.variables)}" if self.variables else "")
        if isinstance(self.input, list) and self.input:
            return str(self.input[-1].get("content", ""))
        return json.dumps(self.variables or {}, ensure_ascii=False)
