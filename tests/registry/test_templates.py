"""Prompt templates: sandboxed rendering, the variables a version expects, the digest rule, diff."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from registry.entities import ModelConfig
from registry.errors import InvalidInput
from registry.service import open_registry
from registry.spec import parse_spec
from registry.templates import expected_variables, render, render_request
from tests.registry.test_cli import run, write

PLAIN = {"provider": "openai", "model_id": "gpt-4o-2024-08-06", "system_prompt": "Classify.", "temperature": 0.0}


def test_a_version_without_prompt_template_keeps_its_digest() -> None:
    canonical = json.dumps(PLAIN, sort_keys=True, separators=(",", ":"))
    assert ModelConfig(**PLAIN).digest() == hashlib.sha256(canonical.encode()).hexdigest()
    assert "prompt_template" not in ModelConfig(**PLAIN).canonical_json()
    with_template = ModelConfig(**PLAIN, prompt_template="Ticket: {{ ticket }}")
    assert with_template.digest() != ModelConfig(**PLAIN).digest()
    assert ModelConfig(**PLAIN, prompt_template="Ticket:\n{{ ticket }}").digest() != with_template.digest()


def test_variables_are_rendered_and_not_part_of_the_configuration() -> None:
    cfg = ModelConfig(**{**PLAIN, "system_prompt": "You help {{ name }}.{% if vip %} Be extra kind.{% endif %}"},
                      prompt_template="{{ question }}")
    assert expected_variables(cfg) == ("name", "question", "vip")
    rendered, messages = render_request(cfg, [{"role": "user", "content": "earlier turn"}],
                                        {"name": "Ada", "vip": True, "question": "Refund?"})
    assert rendered.system_prompt == "You help Ada. Be extra kind." and rendered.prompt_template is None
    assert messages == [{"role": "user", "content": "earlier turn"}, {"role": "user", "content": "Refund?"}]
    assert cfg.digest() == ModelConfig(**cfg.model_dump()).digest()  # rendering never changes the version
    plain = ModelConfig(**PLAIN)
    assert render_request(plain, [{"role": "user", "content": "x"}], {"unused": 1})[0] is plain


def test_an_undefined_variable_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="'customer_name' is undefined.*expects customer_name"):
        render("Dear {{ customer_name }}", {})
    with pytest.raises(InvalidInput, match="'x' is undefined"):
        render("{{ x.y }}", {"y": 1})


@pytest.mark.parametrize("attack", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ name.__class__.__base__ }}",
    "{% set _ = items.append(1) %}{{ items }}",
])
def test_the_sandbox_refuses_template_injection(attack: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        render(attack, {"name": "Ada", "items": []})
    assert "sandbox" in str(exc.value) or "undefined" in str(exc.value)


def test_a_variable_value_is_never_evaluated_as_a_template() -> None:
    assert render("Hi {{ name }}", {"name": "{{ ''.__class__ }}"}) == "Hi {{ ''.__class__ }}"


def test_a_template_that_does_not_parse_is_refused_at_register_time() -> None:
    with pytest.raises(InvalidInput, match="prompt_template.*syntax"):
        parse_spec({**PLAIN, "prompt_template": "{{ unclosed "})


def test_diff_shows_template_changes_line_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = str(tmp_path / "reg")
    open_registry(uri).init()
    one = "provider: openai\nmodel_id: gpt-4o-2024-08-06\nsystem_prompt: |\n  You are a support agent.\n" \
          "  Greet {{ customer_name }}.\n  Be brief.\nprompt_template: 'Ticket: {{ ticket }}'\n"
    two = one.replace("Greet {{ customer_name }}.", "Greet {{ customer_name }} by first name.")
    run(capsys, "--registry", uri, "register", "support", "--file", write(tmp_path, "a.yaml", one))
    run(capsys, "--registry", uri, "register", "support", "--file", write(tmp_path, "b.yaml", two))
    code, out, _ = run(capsys, "--registry", uri, "diff", "support@1", "support@2")
    assert code == 0
    assert "-Greet {{ customer_name }}." in out and "+Greet {{ customer_name }} by first name." in out
    assert " You are a support agent." in out and "+++ support@2 system_prompt" in out
    code, out, _ = run(capsys, "--registry", uri, "diff", "support@1", "support@2", "--json")
    assert list(json.loads(out)["template_diffs"]) == ["system_prompt"]
