"""Pure renderers for the evaluation report (markdown and table rows for Prefect artifacts)."""

from __future__ import annotations

from typing import Any

from tasks.evaluation.compare import Recommendation, VersionSummary


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _ci(ci: list[float] | None) -> str:
    return "—" if not ci else f"[{ci[0]:.4g}, {ci[1]:.4g}]"


def metric_rows(rec: Recommendation) -> list[dict[str, Any]]:
    """One row per metric: values, paired difference with its CI and p-value, gate."""
    return [{"metric": c.metric, "candidate": c.candidate, "baseline": c.baseline, "diff": c.diff,
             "ci": c.ci, "p_value": c.p_value, "test": c.test, "gate": c.gate, "gate_passed": c.gate_passed,
             "margin": c.margin, "non_inferiority": c.status, "n_pairs": c.n_pairs} for c in rec.metrics]


def render_eval_markdown(suite_name: str, suite_digest: str, candidate: VersionSummary,
                         baseline: VersionSummary | None, rec: Recommendation) -> str:
    """The evaluation report as markdown."""
    lines = [f"# Evaluation: {candidate.ref} vs {baseline.ref if baseline else 'no baseline'}",
             "", f"**Decision: {rec.decision.upper()}**" + (f" — about {rec.cases_needed} cases would settle it"
                                                           if rec.cases_needed else ""),
             "", f"> {rec.summary}" if rec.summary else "",
             "", f"Suite `{suite_name}` (digest `{suite_digest[:12]}`), {candidate.cases} cases, "
             f"{candidate.calls} calls ({candidate.cached} cached, {candidate.errors} errors) for the candidate.", "",
             "## Reasons", *[f"- {r}" for r in rec.reasons], "",
             "## Metrics", "",
             "| metric | candidate (95% CI) | baseline (95% CI) | diff | diff 95% CI | p | test | gate |",
             "|---|---|---|---|---|---|---|---|"]
    for c in rec.metrics:
        cand_ci = candidate.metrics.get(c.metric)
        base_ci = baseline.metrics.get(c.metric) if baseline else None
        gate = "" if c.gate is None else f"{c.gate} {'✅' if c.gate_passed else '❌'}"
        lines.append(f"| {c.metric} | {_fmt(c.candidate)} {_ci(cand_ci.ci if cand_ci else None)} | "
                     f"{_fmt(c.baseline)} {_ci(base_ci.ci if base_ci else None)} | {_fmt(c.diff)} | {_ci(c.ci)} | "
                     f"{_fmt(c.p_value)} | {c.test or ''} | {gate} |")
    lines += ["", "Each difference's 95% CI and p-value come from one estimator: Student's t on the per-case "
              "differences (paired). Gates compare point estimates; non-inferiority margins are compared with the "
              "95% CI bound of the paired difference; cost and p95 latency are judged against the suite's "
              "allowances (default cost +25%, p95 latency +50% and at least 25 ms)."]
    return "\n".join(lines) + "\n"


def human_rows(rows: list[dict[str, Any]], digits: int = 4) -> list[dict[str, Any]]:
    """Table rows for people: floats to ``digits`` significant digits, CIs as ``[low, high]`` text."""
    def cell(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.{digits}g}")
        if isinstance(value, list | tuple) and value and all(isinstance(v, float) for v in value):
            return "[" + ", ".join(f"{v:.{digits}g}" for v in value) + "]"
        return value

    return [{k: cell(v) for k, v in row.items()} for row in rows]


def artifact_key(prefix: str, subject: str) -> str:
    """A Prefect artifact key (lowercase letters, digits, dashes) per subject: ``evaluation-ticket-triage``."""
    slug = "".join(c if c.isalnum() else "-" for c in subject.lower()).strip("-")
    return f"{prefix}-{'-'.join(p for p in slug.split('-') if p)}"
