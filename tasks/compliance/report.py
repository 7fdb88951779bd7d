"""Pure renderer of the compliance report (the ``compliance`` artifact and ``modelctl compliance --markdown``)."""

from __future__ import annotations

from tasks.compliance.verdicts import ITEMS, ComplianceReport

MARK = {"pass": "pass", "fail": "**FAIL**", "not-applicable": "n/a"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_compliance_markdown(report: ComplianceReport) -> str:
    """A summary matrix (model x item), then each model's verdicts with the evidence in one line."""
    t = report.thresholds
    failed = sum(v.status == "fail" for m in report.models for v in m.items)
    lines = ["# Compliance", "",
             f"As of {report.now}: **{report.status.upper()}** — {len(report.models)} model(s) in use, "
             f"{failed} failed item(s).", "",
             f"Thresholds: deprecation scan ≤ {t['scan_max_age_days']} days, monitor result ≤ "
             f"{t['monitor_max_age_hours']} h, evaluation age ≤ "
             f"{str(t['evaluation_max_age_days']) + ' days' if t['evaluation_max_age_days'] else 'any'}"
             f"{', flow-produced evaluations only' if t['require_flow_evaluation'] else ''}.", "",
             "| # | item |", "|---|---|", *[f"| {i} | {title} |" for i, (_, title) in enumerate(ITEMS, 1)], "",
             "| model | version | " + " | ".join(str(i) for i in range(1, len(ITEMS) + 1)) + " | status |",
             "|---|---|" + "---|" * len(ITEMS) + "---|"]
    for m in report.models:
        where = f"@{m.version} ({m.environment})" if m.version else "not in use"
        lines.append(f"| {m.model} | {where} | " + " | ".join(MARK[v.status] for v in m.items)
                     + f" | {MARK[m.status]} |")
    for m in report.models:
        serving = ", ".join(f"{env} @{n}" for env, n in m.serving.items()) or "nothing"
        lines += ["", f"## {m.model}: {m.status}", "", f"Serving: {serving}.", "",
                  "| # | item | verdict | evidence |", "|---|---|---|---|"]
        lines += [f"| {v.number} | {v.title} | {MARK[v.status]} | {_cell(v.summary)} |" for v in m.items]
    return "\n".join(lines) + "\n"
