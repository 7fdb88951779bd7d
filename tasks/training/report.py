"""The fine-tune report: a pure markdown renderer (published as the ``finetune-<model>`` artifact)."""

from __future__ import annotations

from typing import Any


def artifact_key(model: str) -> str:
    """The Prefect artifact key of a model's fine-tune report."""
    return f"finetune-{model}".lower().replace("_", "-").replace(".", "-")


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def render_finetune_markdown(result: dict[str, Any], events: list[str] | None = None) -> str:
    """Dataset counts and drops, the split manifest, the job and its events, the decision, the deployment."""
    ds, split = result["dataset"], result["split"]
    lines = [f"# Fine-tune: {result['model']}", ""]
    decision = result.get("decision") or ("dry run" if result.get("dry_run") else "-")
    lines += [f"**Decision:** {decision}  ", f"**Version:** {result.get('version') or '-'}  ",
              f"**Experiment:** {result.get('experiment_id') or '-'}", "", "## Dataset", ""]
    lines += _table([("source", ds.get("source", "")), ("read", ds.get("read", "")), ("kept", ds["rows"]),
                     *((f"dropped: {k}", v) for k, v in ds["dropped"].items()), ("sha256", f"`{ds['sha256']}`")],
                    ("", "value"))
    lines += ["", "## Split", ""]
    labels = ds.get("labels") or {}
    lines += _table([(s, n, ", ".join(f"{k} {v}" for k, v in (labels.get(s) or {}).items()))
                     for s, n in split.items()], ("split", "rows", "labels"))
    job = result.get("job")
    if job:
        lines += ["", "## Training job", "", f"- trainer: {job['trainer']}", f"- id: `{job['id']}`",
                  f"- status: {job['status']}"]
        for event in (events or [])[-20:]:
            lines.append(f"  - {event}")
    evaluation = result.get("evaluation")
    if evaluation:
        lines += ["", f"## Evaluation on `{evaluation['suite']}` against {evaluation.get('baseline') or 'no baseline'}",
                  ""]
        lines += _table([(m, g.get("gate"), "-" if g.get("value") is None else f"{g['value']:.4g}",
                          "yes" if g.get("passed") else "no") for m, g in evaluation["gates"].items()],
                        ("metric", "gate", "value", "passed"))
    if result.get("reasons"):
        lines += ["", "## Reasons", "", *(f"- {r}" for r in result["reasons"])]
    return "\n".join(lines) + "\n"
