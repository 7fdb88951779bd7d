"""Prompt templates: a version's ``system_prompt`` and ``prompt_template`` with ``{{ variables }}``.

Rendering uses Jinja2's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``: a template cannot
reach Python internals or mutate its inputs, and a variable the request does not give is an error that
names it. Templates are compiled once per text. The template text is configuration (inside the digest);
the variables of a request are not.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from registry.entities import ModelConfig
from registry.errors import InvalidInput

_MARKERS = ("{{", "{%", "{#")


def is_template(text: str | None) -> bool:
    """True when ``text`` holds Jinja syntax (plain prompts are sent as they are)."""
    if not text or "{" not in text:  # the hot path: a plain prompt
        return False
    return any(m in text for m in _MARKERS)


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _compiled(text: str, where: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _environment().from_string(text)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"template syntax error at line {exc.lineno}: {exc.message}", field=where) from exc


@lru_cache(maxsize=512)
def variables_of(text: str | None) -> tuple[str, ...]:
    """The variables a template expects, sorted (empty for a plain prompt)."""
    if not is_template(text):
        return ()
    from jinja2 import TemplateSyntaxError, meta

    try:
        return tuple(sorted(meta.find_undeclared_variables(_environment().parse(text))))
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"template syntax error at line {exc.lineno}: {exc.message}") from exc


def expected_variables(config: ModelConfig) -> tuple[str, ...]:
    """Every variable of a version's system prompt and prompt template."""
    return tuple(sorted({*variables_of(config.system_prompt), *variables_of(config.prompt_template)}))


def render(text: str, variables: dict[str, Any] | None, where: str = "system_prompt") -> str:
    """Render one template.

    Raises:
        InvalidInput: an undefined variable (named), a syntax error, or something the sandbox refuses.
    """
    from jinja2 import TemplateError, UndefinedError
    from jinja2.exceptions import SecurityError

    try:
        return str(_compiled(text, where).render(variables or {}))
    except UndefinedError as exc:
        expected = ", ".join(variables_of(text))
        raise InvalidInput(f"{exc.message}: the template expects {expected}; pass them in variables={{...}}",
                           field=where) from exc
    except SecurityError as exc:
        raise InvalidInput(f"the template sandbox refused: {exc}", field=where) from exc
    except TemplateError as exc:
        raise InvalidInput(f"template error: {exc}", field=where) from exc


def render_request(config: ModelConfig, messages: list[dict[str, Any]] | None,
                   variables: dict[str, Any] | None) -> tuple[ModelConfig, list[dict[str, Any]]]:
    """The configuration with its system prompt rendered, and the messages with the prompt template's
    user message appended (after any history the caller gives).

    A version without templates is returned unchanged (no copy), so plain prompts cost nothing.
    """
    messages = list(messages or [])
    system_is_template = is_template(config.system_prompt)
    if not system_is_template and config.prompt_template is None:
        return config, messages  # extra variables are ignored: both arms of an experiment get the same call
    update: dict[str, Any] = {"prompt_template": None}
    if system_is_template:
        update["system_prompt"] = render(config.system_prompt or "", variables, "system_prompt")
    if config.prompt_template is not None:
        messages.append({"role": "user", "content": render(config.prompt_template, variables, "prompt_template")})
    return config.model_copy(update=update), messages


TEMPLATE_FIELDS = ("system_prompt", "prompt_template")


def template_diffs(a: ModelConfig, b: ModelConfig, a_name: str, b_name: str) -> dict[str, list[str]]:
    """Line-by-line unified diffs of the templates that changed between two configurations."""
    import difflib

    out: dict[str, list[str]] = {}
    for name in TEMPLATE_FIELDS:
        old, new = getattr(a, name) or "", getattr(b, name) or ""
        if old != new:
            out[name] = list(difflib.unified_diff(old.splitlines(), new.splitlines(), fromfile=f"{a_name} {name}",
                                                  tofile=f"{b_name} {name}", lineterm=""))
    return out
