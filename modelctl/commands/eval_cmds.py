"""``modelctl eval``: evaluation records (and, with the evaluation flow, ``eval run``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelctl.context import escape_text, open_registry, parse_ref, print_json
from registry.errors import InvalidInput

app = typer.Typer(no_args_is_help=True, help="Evaluation records and runs.")


def parse_scores(items: list[str]) -> dict[str, float]:
    """``KEY=VALUE`` items (repeated, or comma-separated) as a dict of floats."""
    scores: dict[str, float] = {}
    for item in items:
        for part in filter(None, item.split(",")):
            key, sep, value = part.partition("=")
            try:
                if not sep or not key:
                    raise ValueError
                scores[key.strip()] = float(value)
            except ValueError as exc:
                raise InvalidInput(f"expected KEY=NUMBER, got {part!r}", field="scores") from exc
    return scores


@app.command("record")
def record(
    ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
    more_scores: Annotated[list[str] | None, typer.Argument(help="More KEY=VALUE scores.", show_default=False)] = None,
    suite: Annotated[str, typer.Option("--suite", help="Suite name.")] = "",
    passed: Annotated[bool | None, typer.Option("--passed/--failed", help="The outcome.")] = None,
    scores: Annotated[list[str] | None, typer.Option("--scores", help="KEY=VALUE (repeatable).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded in history).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Record an evaluation result on a version's digest (the promotion gate reads the latest)."""
    if passed is None:
        raise InvalidInput("give --passed or --failed", field="passed")
    if not suite:
        raise InvalidInput("give --suite NAME", field="suite")
    name, number = parse_ref(ref)
    if not isinstance(number, int):
        raise InvalidInput(f"{ref!r}: expected NAME@VERSION with a version number", field="ref")
    values = parse_scores([*(scores or []), *(more_scores or [])])
    rec = open_registry().record_eval(name, number, suite=suite, passed=passed, scores=values, reason=reason)
    if json_out:
        print_json(rec.model_dump(mode="json", exclude_none=True))
    else:
        print(f"{name}@{number} {suite}: {'passed' if passed else 'failed'} (digest {rec.digest[:12]})")


EXIT = {"promote": 0, "reject": 1, "inconclusive": 3}


@app.command("run")
def run(
    suite: Annotated[str, typer.Argument(help="Suite YAML file.")],
    candidate: Annotated[str, typer.Option("--candidate", help="NAME@VERSION")],
    baseline: Annotated[str | None, typer.Option("--baseline", help="NAME@ENVIRONMENT or NAME@VERSION")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Calls in flight per provider.")] = 16,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Call the provider even for cached cases.")] = False,
    promote_to_staging: Annotated[bool, typer.Option("--promote-to-staging",
                                                     help="Point staging at a promoted candidate.")] = False,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write the report to this file: a self-contained HTML page for a .html name, markdown "
                         "otherwise.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    prefect: Annotated[bool, typer.Option("--prefect", help="Run as the evaluate-candidate flow (default when "
                                                            "PREFECT_API_URL is set).")] = False,
) -> None:
    """Evaluate a candidate in-process (the flow's pipeline; ``--prefect`` runs the flow); exit 0 promote,
    1 reject, 3 inconclusive, 2 bad input, 5 a provider that cannot be called (nothing recorded)."""
    from modelctl.context import STATE, use_prefect
    from tasks.evaluation import load_suite
    from tasks.evaluation.pipeline import EvaluateCandidateParams, run_evaluation

    load_suite(suite)  # bad suite files fail here, before Prefect starts
    name, which = parse_ref(candidate)
    if not isinstance(which, int):
        raise InvalidInput(f"--candidate must be NAME@VERSION with a number, got {candidate!r}", field="candidate")
    if baseline is not None:
        parse_ref(baseline)
    open_registry().get_version(name, which)
    params = EvaluateCandidateParams(suite=suite, candidate=candidate, baseline=baseline, concurrency=concurrency,
                                     use_cache=not no_cache, promote_to_staging=promote_to_staging,
                                     registry=STATE.registry_uri)
    if use_prefect(prefect):
        from flows.evaluate_candidate import evaluate_candidate

        result = evaluate_candidate(params)
    else:
        result = run_evaluation(params, source="cli")
    markdown = result.pop("report")
    if report is not None:
        from tasks.evaluation.report_html import render_report

        report.write_text(render_report(result, markdown, report.suffix), encoding="utf-8")
    if json_out:
        print_json(result)
    else:
        print(f"decision: {result['decision']}")
        print(f"  {result['summary']}")
        for reason in result["reasons"]:
            print(f"  - {reason}")
        for m in result["metrics"]:
            if m["candidate"] is None:
                continue
            base = "" if m["baseline"] is None else f"  baseline {m['baseline']:.4g}"
            diff = "" if m["diff"] is None else f"  diff {m['diff']:+.4g}"
            ci = "" if not m["ci"] else f" [{m['ci'][0]:.4g}, {m['ci'][1]:.4g}]"
            p = "" if m["p_value"] is None else f"  p={m['p_value']:.3g}"
            print(f"  {m['metric']:<24} {m['candidate']:.4g}{base}{diff}{ci}{p}")
        print(f"run {result['run_id']}: `modelctl eval show {result['run_id']} --cases` lists the cases side by side")
    raise typer.Exit(EXIT[result["decision"]])


@app.command("request")
def request(
    candidate: Annotated[str, typer.Argument(help="NAME@VERSION to evaluate.")],
    suite: Annotated[str | None, typer.Option("--suite", help="Suite path or URI (default: the model's recorded suite).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the evaluation is requested (in the event payload).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Emit modelctl.evaluation.requested: the evaluate-candidate deployment runs it (needs PREFECT_API_URL)."""
    from tasks.events import request_evaluation

    name, which = parse_ref(candidate)
    if not isinstance(which, int):
        raise InvalidInput(f"candidate must be NAME@VERSION with a number, got {candidate!r}", field="candidate")
    open_registry().get_version(name, which)
    if not request_evaluation(candidate, suite, reason):
        raise InvalidInput("no Prefect API configured: set PREFECT_API_URL (or run `make serve`)",
                           field="PREFECT_API_URL")
    if json_out:
        print_json({"event": "modelctl.evaluation.requested", "candidate": candidate, "suite": suite, "reason": reason})
    else:
        print(f"requested evaluation of {candidate}")


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="The run id printed by `eval run` (the flow run id).")],
    cases: Annotated[bool, typer.Option("--cases", help="List the cases, candidate next to baseline.")] = False,
    only_regressions: Annotated[bool, typer.Option("--only-regressions",
                                                   help="Only cases where the candidate is worse.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="At most this many cases (0: all).")] = 20,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The per-case results kept for a run (Parquet beside the evaluation cache)."""
    from registry.settings import get_settings
    from tasks.evaluation.case_results import read_case_results, side_by_side

    frame = read_case_results(get_settings().cache, run_id)
    if not len(frame):
        raise InvalidInput(f"no per-case results for run {run_id!r} in {get_settings().cache}", field="run_id")
    versions = frame.drop_duplicates("ref")[["ref", "role", "digest", "suite_digest"]].to_dict(orient="records")
    cand = frame[frame["role"] == "candidate"]
    base = frame[frame["role"] == "baseline"]
    rows = side_by_side(cand, base if len(base) else None, limit=limit or None,
                        only_regressions=only_regressions) if cases or only_regressions else []
    if json_out:
        print_json({"run_id": run_id, "versions": versions, "cases": [r.to_dict() for r in rows]})
        return
    for v in versions:
        part = frame[frame["ref"] == v["ref"]]
        print(f"{v['role']:<9} {v['ref']}  digest {v['digest'][:12]}  suite {v['suite_digest'][:12]}  "
              f"{part['case_id'].nunique()} cases, {int(part['error'].notna().sum())} errors")
    refs = {v["role"]: v["ref"] for v in versions}
    for r in rows:
        mark = "REGRESSION " if r.regression else ""
        diff = "" if r.diff is None else f"  diff {r.diff:+.3g}"
        print(f"\n{mark}{escape_text(r.case_id)}{diff}")
        print(f"  input:    {_short(r.input)}")
        print(f"  expected: {_short(r.expected)}")
        print(f"  {refs.get('candidate', 'candidate')}: {_short(r.candidate_output)}  [{_scores(r.candidate_scores)}]")
        if "baseline" in refs:
            print(f"  {refs['baseline']}: {_short(r.baseline_output)}  [{_scores(r.baseline_scores)}]")
    if (cases or only_regressions) and not rows:
        print("\n(no regressions)" if only_regressions else "\n(no cases)")


def _short(text: object, width: int = 200) -> str:
    value = "—" if text is None else str(text).replace("\n", " ")
    return escape_text(value if len(value) <= width else value[: width - 1] + "…")


def _scores(scores: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in sorted(scores.items())) or "no scores"
