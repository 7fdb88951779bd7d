"""YAML in and out: safe loading that can name the line of any field, and stable dumping."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from registry.errors import InvalidInput

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class LocatedYaml:
    """Parsed YAML plus the node tree, so a validation error can point at its line."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        try:
            self.node = yaml.compose(text, Loader=_Loader)
            self.data: Any = yaml.load(text, Loader=_Loader) if self.node is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInput(f"malformed YAML: {problem}", file=source, line=line) from exc

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the node at ``loc`` (or of its closest existing parent)."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for key in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(key):
                        child, line = v, k.start_mark.line + 1
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line

    def error(self, exc: ValidationError, prefix: Sequence[str | int] = ()) -> InvalidInput:
        """An InvalidInput naming file, line and field for the first validation error."""
        err = exc.errors()[0]
        loc = [*prefix, *[x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-"))]]
        field = ".".join(str(x) for x in loc) or None
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "missing required field"
        return InvalidInput(message, file=self.source, line=self.line_of(loc), field=field)


def load_located(path: str | Path) -> LocatedYaml:
    """Read and parse a YAML file, raising InvalidInput (exit 2) on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput("file not found", file=str(path)) from exc
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise InvalidInput(f"cannot read: {exc}", file=str(path)) from exc
    return LocatedYaml(text, str(path))


def loads(text: str | bytes) -> Any:
    """Parse trusted, store-written YAML quickly (C loader when available)."""
    return yaml.load(text, Loader=_Loader)


def dumps(data: Any) -> str:
    """Stable, human-readable, git-diffable YAML."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=100)
