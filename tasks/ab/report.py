"""Pure renderers for the A/B report: markdown, table rows, and a PNG chart of effects with CIs."""

from __future__ import annotations

import io
from typing import Any

from tasks.ab.analysis import Analysis


def _f(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.2%}" if pct else f"{x:.4g}"


def metric_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """One row per metric for a table artifact."""
    def r(x: float | None, digits: int = 4) -> float | None:
        return None if x is None else float(f"{x:.{digits}g}")

    return [{"metric": m.metric, "estimator": m.estimator, "control_n": m.control["n"],
             "control": r(m.control["mean"]), "treatment_n": m.treatment["n"], "treatment": r(m.treatment["mean"]),
             "lift": _f(m.rel_diff, True), "lift_95_ci": _pct(m.rel_ci), "p_value": r(m.p_value, 3),
             "p_value_adjusted": r(m.p_value_adjusted, 3), "significant": m.significant,
             "chance_to_win": r((m.bayes or {}).get("chance_to_win"), 3),
             "cuped_variance_reduction": _f((m.cuped or {}).get("variance_reduction"), True) if m.cuped else None,
             "raw_lift": _f((m.raw or {}).get("rel_diff"), True), "test": m.test} for m in analysis.metrics]


def _pct(ci: Any) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "—"
    return f"[{ci[0]:+.2%}, {ci[1]:+.2%}]"


def render_ab_markdown(title: str, analysis: Analysis) -> str:
    """The A/B report as markdown."""
    srm = analysis.srm
    lines = [f"# A/B analysis: {title}", "", f"**Decision: {analysis.decision.upper()}** ({analysis.mode} mode)", "",
             f"Users: control {analysis.users.get('control')}, treatment {analysis.users.get('treatment')}; "
             f"SRM chi-square p = {srm['p_value']:.3g} ({'ok' if srm['ok'] else 'MISMATCH'}) against planned "
             f"treatment share {srm['planned']['treatment']:.3f}.", "", "## Reasons",
             *[f"- {r}" for r in analysis.reasons], "", "## Metrics", "",
             "| metric | estimator | control n / estimate | treatment n / estimate | lift (95% CI) | p | p (Holm) "
             "| P(better) | raw-mean lift | CUPED |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for m in analysis.metrics:
        if not m.control["n"] and not m.treatment["n"]:
            continue  # a metric this input does not carry (e.g. tokens)
        bayes = _f((m.bayes or {}).get("chance_to_win")) if m.bayes else "—"
        cuped = f"-{m.cuped['variance_reduction']:.0%} var" if m.cuped else "—"
        lines.append(f"| {m.metric} | {m.estimator} | {m.control['n']} / {_f(m.control['mean'])} | {m.treatment['n']} / "
                     f"{_f(m.treatment['mean'])} | {_f(m.rel_diff, True)} {_pct(m.rel_ci)} | "
                     f"{_f(m.p_value)} | {_f(m.p_value_adjusted)} | {bayes} | {_f((m.raw or {}).get('rel_diff'), True)} "
                     f"| {cuped} |")
    lines += ["", "Each row's interval and p-value come from the same estimator: `mean` = ratio of sums per arm "
              "(delta method), `log` = per-user log-scale mean (geometric-mean ratio), `capped` = ratio of sums with "
              "users capped at a pooled percentile. P(better) is the Gaussian posterior chance the treatment is "
              "better (flat prior, as gbstats)."]
    if analysis.guardrails:
        lines += ["", "| guardrail | allowance | observed harm | status | p vs allowance (Holm) |", "|---|---|---|---|---|"]
        for name, g in analysis.guardrails.items():
            lines.append(f"| {name} | {g['allowance']:.1%} | {_f(g['observed_harm'], True)} | {g['status']} | "
                         f"{_f(g['p_value_adjusted'])} |")
    data = analysis.data or {}
    if data.get("switched_users"):
        lines += ["", f"{data['switched_users']} users switched arms at the step boundary: attributed to their arm "
                  f"at first exposure in the window ({data['dropped_requests']} requests from the other arm left out)."]
    lat = next((m for m in analysis.metrics if m.metric == "latency_ms" and m.robust), None)
    if lat and lat.robust:
        r = lat.robust
        lines += ["", f"Latency (heavy-tailed): median {r['control_median']:.1f} → {r['treatment_median']:.1f} ms, "
                  f"p95 {r['control_p95']:.1f} → {r['treatment_p95']:.1f} ms; {r['test']} p = {r['p_value']:.3g}."]
    power = analysis.power
    if power.get("users_per_arm_needed"):
        lines += ["", f"Power: minimum detectable effect now {_f(power.get('mde_rel'), True)} on {power['metric']}; "
                  f"{power['users_per_arm_needed']} users per arm detect {power['min_effect']:.1%} "
                  f"({power.get('more_users_needed', 0)} more users needed)."]
    return "\n".join(lines) + "\n"


def render_effects_png(analysis: Analysis) -> bytes:
    """A PNG chart: each metric's relative effect with its 95% CI (green better, red worse)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [m for m in analysis.metrics if m.rel_diff is not None and m.rel_ci and m.rel_ci[0] is not None]
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(len(rows), 1) + 1.2))
    for i, m in enumerate(rows):
        better = (m.rel_diff or 0) > 0 if m.direction == "higher" else (m.rel_diff or 0) < 0
        color = "grey" if not m.significant else ("tab:green" if better else "tab:red")
        lo, hi = m.rel_ci[0], m.rel_ci[1]  # type: ignore[index]
        ax.errorbar([m.rel_diff * 100], [i], xerr=[[(m.rel_diff - lo) * 100], [(hi - m.rel_diff) * 100]],  # type: ignore[operator]
                    fmt="o", color=color, capsize=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [f"{m.metric} ({m.direction} is better)" for m in rows])
    ax.set_xlabel("relative effect, treatment vs control (%), 95% CI")
    ax.set_title(f"decision: {analysis.decision}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()
