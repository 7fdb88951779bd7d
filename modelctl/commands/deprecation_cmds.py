"""``modelctl deprecations scan|list``: provider deprecation notices turned into migration plans."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from modelctl.context import open_registry, print_json
from registry.errors import InvalidInput

app = typer.Typer(no_args_is_help=True, help="Deprecation-notice scanning and migration plans.")


@app.command("scan")
def scan(
    source: Annotated[list[str] | None, typer.Option("--source", help="KIND=URL_OR_PATH (repeatable)")] = None,
    today: Annotated[str | None, typer.Option("--today", help="YYYY-MM-DD (default: today, UTC)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Scan sources, match the registry, update plans; exit 4 when a source failed."""
    from tasks.deprecations.scan import parse_sources, run_scan
    from tasks.events import emit_all

    try:
        day = date.fromisoformat(today) if today else None
    except ValueError as exc:
        raise InvalidInput(f"--today {today!r}: expected YYYY-MM-DD", field="today") from exc
    result = run_scan(open_registry(), parse_sources(source), day)
    emit_all(result.events)
    if json_out:
        print_json(result.to_dict())
    else:
        print(f"{len(result.notices)} notices; {len(result.affected)} affected version placements; "
              f"{len(result.changes)} changes; {len(result.events)} events")
        for a in result.affected:
            print(f"  [{a['severity']:<8}] {a['model']}@{a['version']} ({a['environment']}) {a['model_id']} "
                  f"[notice {a['notice_model_id']}]: "
                  f"shutdown {a['shutdown_date'] or a['date_kind']} -> {a['replacement'] or '?'}")
        for f in result.failed_sources:
            print(f"  FAILED  {f['source']}: {f['error']}")
        for s in result.skipped_sources:
            print(f"  skipped {s['source']}: {s['reason']}")
    if result.failed_sources:
        raise typer.Exit(4)


@app.command("list")
def list_(json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """Every deprecation plan in the registry."""
    rows = [{"model": r.name, **p.model_dump(mode="json", exclude_none=True)}
            for r in open_registry().list_models() for p in r.deprecation_plans]
    if json_out:
        print_json(rows)
        return
    if not rows:
        print("(no deprecation plans)")
    for p in rows:
        t, m = p.get("timeline", {}), p.get("migration", {})
        deadline = t.get("hard_deadline") or (f"not before {t['not_before']}" if t.get("not_before") else "unknown")
        if p["status"] == "none-announced":
            deadline = f"review {p.get('review_date', '-')}"
        print(f"[{p['severity']:<8}] {p['model']:<26} {p['model_id']:<40} {p['status']:<14} "
              f"{'' if p['status'] == 'none-announced' else 'shutdown '}{deadline:<22} "
              f"soft {t.get('soft_deadline', '-')}  -> {m.get('target', '?')}  eval {m.get('eval_status', 'pending')}"
              + (f"  cost {m['cost_impact']}" if m.get("cost_impact") else "")
              + (f"\n{'':12}{m['estimated_effort']}" if m.get("estimated_effort") else ""))
