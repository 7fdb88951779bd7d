"""The evaluation report as one self-contained HTML page (``modelctl eval run --report out.html``).

A pure renderer over the evaluation's result (what the CLI prints with ``--json``): the decision and its
reasons, the metrics table, and the cases where candidate and baseline differ most, side by side. Case
inputs and outputs are untrusted text (a model may answer with markup): every value goes through Jinja2's
autoescaping, and the page loads nothing (inline CSS, no script, no external resource).
"""

from __future__ import annotations

from typing import Any

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evaluation: {{ r.candidate }} vs {{ r.baseline or "no baseline" }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem; color: #1b1f23; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; }
.decision { display: inline-block; padding: .2rem .6rem; border-radius: .3rem; font-weight: 600; }
.promote { background: #dafbe1; } .reject { background: #ffebe9; } .inconclusive { background: #fff8c5; }
table { border-collapse: collapse; margin-top: .5rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.text { white-space: pre-wrap; max-width: 28rem; overflow-wrap: anywhere; }
tr.regression td:first-child { border-left: 4px solid #cf222e; }
.muted { color: #57606a; }
</style>
</head>
<body>
<h1>Evaluation: {{ r.candidate }} vs {{ r.baseline or "no baseline" }}</h1>
<p><span class="decision {{ r.decision }}">Decision: {{ r.decision | upper }}</span>
{% if r.cases_needed %} <span class="muted">about {{ r.cases_needed }} cases would settle it</span>{% endif %}</p>
{% if r.summary %}<p>{{ r.summary }}</p>{% endif %}
<p class="muted">Suite {{ r.suite }} (digest {{ (r.suite_digest or "")[:12] }}){% if r.run_id %}, run {{ r.run_id }}{% endif %}.</p>
<h2>Reasons</h2>
<ul>{% for reason in r.reasons %}<li>{{ reason }}</li>{% endfor %}</ul>
<h2>Metrics</h2>
<table>
<tr><th>metric</th><th>candidate</th><th>baseline</th><th>diff</th><th>diff 95% CI</th><th>p</th><th>test</th>
<th>gate</th></tr>
{% for m in r.metrics %}<tr><td>{{ m.metric }}</td><td class="num">{{ num(m.candidate) }}</td>
<td class="num">{{ num(m.baseline) }}</td><td class="num">{{ num(m.diff) }}</td><td class="num">{{ ci(m.ci) }}</td>
<td class="num">{{ num(m.p_value) }}</td><td>{{ m.test or "" }}</td>
<td>{% if m.gate is not none %}{{ m.gate }} {{ "passed" if m.gate_passed else "FAILED" }}{% endif %}</td></tr>
{% endfor %}</table>
<p class="muted">Each difference's 95% CI and p-value come from Student's t on the per-case differences (paired).
Gates compare point estimates; non-inferiority margins are compared with the 95% CI bound of the paired
difference.</p>
{% if r.cases %}
<h2>Cases side by side</h2>
<p>The {{ r.cases | length }} cases where {{ r.candidate }} and {{ r.baseline or "the baseline" }} differ most
(by score, then by output); regressions are marked.</p>
<table>
<tr><th>case</th><th>input</th><th>expected</th><th>{{ r.candidate }}</th><th>score</th>
<th>{{ r.baseline or "baseline" }}</th><th>score</th><th>diff</th></tr>
{% for c in r.cases %}<tr{% if c.regression %} class="regression"{% endif %}>
<td>{{ c.case_id }}{% if c.regression %} <strong>regression</strong>{% endif %}</td>
<td class="text">{{ text(c.input) }}</td><td class="text">{{ text(c.expected) }}</td>
<td class="text">{{ text(c.candidate_output) }}</td><td class="num">{{ num(c.candidate_score) }}</td>
<td class="text">{{ text(c.baseline_output) }}</td><td class="num">{{ num(c.baseline_score) }}</td>
<td class="num">{{ num(c.diff) }}</td></tr>
{% endfor %}</table>
{% endif %}
</body>
</html>
"""


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _ci(ci: list[float] | None) -> str:
    return "—" if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def _text(value: Any) -> str:
    return "—" if value is None else str(value)


def render_eval_html(result: dict[str, Any]) -> str:
    """The report page of an evaluation result (``run_evaluation``'s or the flow's return value)."""
    from jinja2 import Environment, StrictUndefined

    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    page = env.from_string(_TEMPLATE)
    data = {"run_id": None, "cases": [], "cases_needed": None, "summary": "", **result}
    return page.render(r=data, num=_num, ci=_ci, text=_text)


def render_report(result: dict[str, Any], markdown: str, suffix: str) -> str:
    """The report for a file name's suffix: HTML for ``.html``/``.htm``, the markdown otherwise."""
    return render_eval_html(result) if suffix.lower() in (".html", ".htm") else markdown
