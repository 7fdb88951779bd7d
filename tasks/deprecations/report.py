"""Pure renderer of a scan's markdown report."""

from __future__ import annotations

from tasks.deprecations.scan import ScanResult


def render_scan_markdown(result: ScanResult) -> str:
    """Notices, affected versions by severity, source failures and changes."""
    order = {"critical": 0, "warning": 1, "info": 2}
    lines = ["# Deprecation scan", "",
             f"{len(result.notices)} notices, {len(result.affected)} affected placements, "
             f"{len(result.changes)} changes, {len(result.failed_sources)} failed and "
             f"{len(result.skipped_sources)} skipped sources.", "", "## Affected versions", "",
             "| severity | model | version | environment | model id | shutdown | replacement |", "|---|---|---|---|---|---|---|"]
    for a in sorted(result.affected, key=lambda a: (order[a["severity"]], a["model"], a["version"])):
        lines.append(f"| {a['severity']} | {a['model']} | {a['version']} | {a['environment']} | {a['model_id']} | "
                     f"{a['shutdown_date'] or a['date_kind']} | {a['replacement'] or ''} |")
    if result.failed_sources:
        lines += ["", "## Failed sources (not read as 'no deprecations')", *[f"- {f['source']}: {f['error']}"
                                                                          for f in result.failed_sources]]
    if result.skipped_sources:
        lines += ["", "## Skipped sources", *[f"- {s['source']}: {s['reason']}" for s in result.skipped_sources]]
    if result.changes:
        lines += ["", "## Changes since the previous scan",
                  *[f"- {c['notice']}: {c['change']}" + (f" {c['field']} {c.get('before')} → {c.get('after')}"
                                                          if c.get("field") else "") + f" ({c['source']})"
                    for c in result.changes]]
    return "\n".join(lines) + "\n"
