"""YAML in and out: safe loading that can name the line of any field, and stable dumping.

User YAML (CONFIG.yaml, suites, seed files, MODELCTL_CONFIG) is untrusted data: aliases are refused
(an alias bomb of a few hundred bytes expands to gigabytes), as are duplicate keys (naming both
lines), documents nested deeper than ``MAX_DEPTH``, files over ``MAX_BYTES`` and non-finite numbers
(``.inf``/``.nan`` would serialise as null and share a digest with it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from registry.errors import InvalidInput

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_TIMESTAMPS = yaml.SafeLoader("")
MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64


def _line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


def _check_events(text: str, source: str) -> None:
    """Refuse aliases and excessive nesting from the event stream, before anything is constructed."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise InvalidInput(f"YAML aliases (*{event.anchor}) are not allowed in this file; write the value "
                               "out", file=source, line=_line(event.start_mark))
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", file=source,
                                   line=_line(event.start_mark))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Duplicate keys (both lines named) and non-finite numbers, walking the node tree iteratively."""
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        raise InvalidInput(f"duplicate key {key.value!r} (lines {seen[key.value]} and {line})",
                                           file=source, line=line, field=str(key.value))
                    seen[key.value] = line
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif node.tag == "tag:yaml.org,2002:int" and len(node.value) > 40:
            raise InvalidInput(f"number too large ({len(node.value)} digits)", file=source,
                               line=node.start_mark.line + 1)
        elif node.tag == "tag:yaml.org,2002:timestamp":
            try:
                _TIMESTAMPS.construct_yaml_timestamp(node)  # type: ignore[arg-type]
            except (ValueError, OverflowError) as exc:
                raise InvalidInput(f"invalid date {node.value!r}: {exc}", file=source,
                                   line=node.start_mark.line + 1) from exc
        elif node.tag == "tag:yaml.org,2002:float":
            try:
                finite = math.isfinite(float(node.value.replace("_", "")))
            except ValueError:
                finite = False
            if not finite:
                raise InvalidInput(f"non-finite number {node.value!r} is not allowed", file=source,
                                   line=node.start_mark.line + 1)


class LocatedYaml:
    """Parsed YAML plus the node tree, so a validation error can point at its line."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        if len(text) > MAX_BYTES:
            raise InvalidInput(f"file too large ({len(text)} characters; at most {MAX_BYTES})", file=source)
        try:
            _check_events(text, source)
            self.node = yaml.compose(text, Loader=_Loader)
            if self.node is not None:
                _check_nodes(self.node, source)
            self.data: Any = yaml.load(text, Loader=_Loader) if self.node is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidInput(f"malformed YAML: {problem}", file=source, line=line) from exc
        except (ValueError, OverflowError, RecursionError) as exc:  # a value the constructor cannot build
            raise InvalidInput(f"unreadable YAML value: {str(exc).splitlines()[0][:200]}", file=source) from exc

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


def load_text(text: str, source: str) -> Any:
    """Parse untrusted YAML text (aliases, duplicate keys, deep nesting, non-finite numbers refused)."""
    return LocatedYaml(text, source).data


def load_located(path: str | Path) -> LocatedYaml:
    """Read and parse a YAML file, raising InvalidInput (exit 2) on any problem."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise InvalidInput(f"file too large ({p.stat().st_size} bytes; at most {MAX_BYTES})", file=str(path))
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidInput("file not found", file=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8 text (byte {exc.start})", file=str(path)) from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
    return LocatedYaml(text, str(path))


def loads(text: str | bytes) -> Any:
    """Parse trusted, store-written YAML quickly (C loader when available)."""
    return yaml.load(text, Loader=_Loader)


def dumps(data: Any) -> str:
    """Stable, human-readable, git-diffable YAML."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=100)
