"""Drift probes: detect a provider silently changing a pinned model.

The first run for a version's digest records a **reference**: for each probe input, N samples of the
output and what the provider reports about the model (resolved model id, ``system_fingerprint``).
Each later run samples again and compares (``compare``): a change of model id or fingerprint is
conclusive; otherwise a two-sample test per input (``probe_stats``) plus output length and refusal
rate, combined with Benjamini–Hochberg. The plan (calls, estimated cost) is known before any call,
and a budget stops sampling.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tasks.monitoring import probe_stats as ps

Status = Literal["stable", "drift", "insufficient", "reference-recorded"]
Method = Literal["char-3gram-mmd", "exact-match", "chi-square"]
MIN_INPUTS = 5


@dataclass(frozen=True)
class Sample:
    """One sampled output and what the provider said about the model that produced it."""

    text: str
    model_id: str | None = None
    fingerprint: str | None = None
    output_tokens: int = 0
    cost_usd: float = 0.0


Sampler = Callable[[str], Sample]


@dataclass
class ProbePlan:
    """What a run will do before any call: calls and their estimated cost against the budget."""

    inputs: int
    samples: int
    calls: int
    per_call_usd: float
    estimated_cost_usd: float
    budget_usd: float | None
    affordable_inputs: int

    def describe(self) -> str:
        budget = "no budget" if self.budget_usd is None else f"budget ${self.budget_usd:.4f}"
        cut = "" if self.affordable_inputs >= self.inputs else (
            f"; the budget covers {self.affordable_inputs} of {self.inputs} inputs")
        return (f"probe plan: {self.inputs} inputs x {self.samples} samples = {self.calls} calls, "
                f"estimated cost ${self.estimated_cost_usd:.4f} ({budget}{cut})")


@dataclass
class Collected:
    """Outputs per input and the provider's model identity, with what the calls cost."""

    inputs: list[str]
    outputs: list[list[str]]
    model_ids: list[str]
    fingerprints: list[str]
    calls: int = 0
    cost_usd: float = 0.0
    stopped_by_budget: bool = False


@dataclass
class ProbeResult:
    """stable / drift / insufficient, with the evidence."""

    status: Status
    method: str
    reasons: list[str]
    identity: dict[str, Any]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    length: dict[str, Any] = field(default_factory=dict)
    refusal: dict[str, Any] = field(default_factory=dict)
    combined: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    cost_usd: float = 0.0
    drifted_inputs: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_probe(inputs: int, samples: int, per_call_usd: float, budget_usd: float | None) -> ProbePlan:
    """The calls and estimated cost of sampling ``inputs`` x ``samples``, and how many inputs the budget covers."""
    calls = inputs * samples
    affordable = inputs
    if budget_usd is not None and per_call_usd > 0:
        affordable = min(inputs, int(budget_usd // (per_call_usd * samples)))
    return ProbePlan(inputs, samples, calls, per_call_usd, calls * per_call_usd, budget_usd, affordable)


def collect(inputs: list[str], samples: int, sampler: Sampler, *, budget_usd: float | None = None,
            per_call_usd: float = 0.0) -> Collected:
    """``samples`` outputs for each input, stopping before a call would take the spend past the budget."""
    out = Collected([], [], [], [])
    model_ids: set[str] = set()
    fingerprints: set[str] = set()
    for text in inputs:
        if budget_usd is not None and out.cost_usd + per_call_usd * samples > budget_usd + 1e-12:
            out.stopped_by_budget = True
            break
        answers = []
        for _ in range(samples):
            s = sampler(text)
            out.calls += 1
            out.cost_usd += s.cost_usd or per_call_usd
            answers.append(s.text)
            if s.model_id:
                model_ids.add(s.model_id)
            if s.fingerprint:
                fingerprints.add(s.fingerprint)
        out.inputs.append(text)
        out.outputs.append(answers)
    out.model_ids, out.fingerprints = sorted(model_ids), sorted(fingerprints)
    return out


def method_for(kind: str, temperature: float | None) -> Method:
    """chi-square for classifiers, exact-match for deterministic settings, else the character n-gram MMD."""
    if kind == "classifier":
        return "chi-square"
    if temperature == 0:
        return "exact-match"
    return "char-3gram-mmd"


def _input_test(method: str, ref: list[str], cur: list[str], seed: int) -> tuple[float, float, Any]:
    if method == "chi-square":
        return ps.chi_square_permutation(ref, cur, seed)
    gram = ps.exact_gram(ref + cur) if method == "exact-match" else ps.ngram_gram(ref + cur)
    return ps.mmd_permutation(gram, len(ref), seed)


def _identity(reference: dict[str, Any], current: Collected) -> dict[str, Any]:
    ref_ids, ref_fp = set(reference.get("model_ids") or []), set(reference.get("fingerprints") or [])
    new_ids = sorted(set(current.model_ids) - ref_ids) if ref_ids else []
    new_fp = sorted(set(current.fingerprints) - ref_fp) if ref_fp else []
    return {"reference_model_ids": sorted(ref_ids), "current_model_ids": current.model_ids,
            "reference_fingerprints": sorted(ref_fp), "current_fingerprints": current.fingerprints,
            "changed": bool(new_ids or new_fp), "new_model_ids": new_ids, "new_fingerprints": new_fp}


def compare(reference: dict[str, Any], current: Collected, *, alpha: float = 0.05,
            min_inputs: int = MIN_INPUTS) -> ProbeResult:
    """Test the current samples against the reference (same inputs, matched by text)."""
    method = str(reference.get("method") or "char-3gram-mmd")
    identity = _identity(reference, current)
    by_text = {item["input"]: item["outputs"] for item in reference["inputs"]}
    pairs = [(i, text, by_text[text], outs) for i, (text, outs) in enumerate(zip(current.inputs, current.outputs,
                                                                                   strict=True))
             if text in by_text and len(by_text[text]) >= 2 and len(outs) >= 2]
    result = ProbeResult("stable", method, [], identity, calls=current.calls, cost_usd=round(current.cost_usd, 6))
    if identity["changed"]:
        result.status = "drift"
        result.reasons.append("the provider reports a different model: "
                              + ", ".join(f"model id {m}" for m in identity["new_model_ids"])
                              + ", ".join(f"fingerprint {f}" for f in identity["new_fingerprints"])
                              + " (conclusive)")
    rows: list[dict[str, Any]] = []
    p_values: list[float] = []
    nulls = []
    for i, text, ref, cur in pairs:
        stat, p, null = _input_test(method, ref, cur, seed=zlib.crc32(text.encode()))
        nulls.append(null)
        rows.append({"input": i, "preview": text[:40], "statistic": round(stat, 6), "p_value": p,
                     "exact_match_reference": _match_rate(ref, ref), "exact_match_current": _match_rate(ref, cur)})
        p_values.append(p)
    ratio, p_len = ps.length_test([[len(o) for o in r] for _, _, r, _ in pairs],
                                  [[len(o) for o in c] for _, _, _, c in pairs])
    ref_refusals = sum(ps.is_refusal(o) for _, _, r, _ in pairs for o in r)
    cur_refusals = sum(ps.is_refusal(o) for _, _, _, c in pairs for o in c)
    ref_n, cur_n = sum(len(r) for _, _, r, _ in pairs), sum(len(c) for _, _, _, c in pairs)
    p_ref = ps.refusal_test(ref_refusals, ref_n, cur_refusals, cur_n)
    global_stat, p_all = ps.combined_permutation(nulls, seed=len(pairs))
    adjusted = ps.benjamini_hochberg([*p_values, p_len, p_ref, p_all])
    for row, q in zip(rows, adjusted, strict=False):
        row["q_value"] = q
    result.inputs = rows
    result.length = {"median_log_ratio": ratio, "relative_change": float(_expm1(ratio)), "p_value": p_len,
                     "q_value": adjusted[len(rows)], "test": "wilcoxon signed-rank on per-input log length ratios"}
    result.refusal = {"reference_rate": ref_refusals / ref_n if ref_n else None,
                      "current_rate": cur_refusals / cur_n if cur_n else None, "p_value": p_ref,
                      "q_value": adjusted[len(rows) + 1], "test": "fisher exact"}
    result.combined = {"statistic": global_stat, "p_value": p_all, "q_value": adjusted[len(rows) + 2],
                       "test": f"sum of standardised per-input {method} statistics, stratified permutation"}
    result.drifted_inputs = sum(1 for r in rows if float(r["q_value"]) < alpha)
    findings = []
    if result.combined["q_value"] < alpha:
        findings.append(f"the outputs differ across inputs as a whole (combined permutation test, "
                        f"q={result.combined['q_value']:.3g})")
    if result.drifted_inputs:
        findings.append(f"{result.drifted_inputs} of {len(rows)} inputs answer differently ({method} permutation "
                        f"test, Benjamini-Hochberg q < {alpha})")
    if result.length["q_value"] < alpha:
        findings.append(f"output length changed {result.length['relative_change']:+.1%} (median per input, "
                        f"q={result.length['q_value']:.3g})")
    if result.refusal["q_value"] < alpha:
        findings.append(f"refusal rate {result.refusal['reference_rate']:.1%} -> {result.refusal['current_rate']:.1%}")
    if result.status != "drift" and len(pairs) < min_inputs:  # the tests are calibrated on a full probe set
        result.status = "insufficient"
        result.reasons.append(f"only {len(pairs)} inputs compared (at least {min_inputs} needed)"
                              + ("; the budget stopped sampling" if current.stopped_by_budget else ""))
        result.reasons += [f"(not conclusive) {f}" for f in findings]
    elif findings:
        result.status = "drift"
        result.reasons += findings
    elif result.status != "drift":
        result.reasons.append(f"no change detected over {len(pairs)} inputs ({method}, length, refusals; "
                              f"Benjamini-Hochberg at {alpha})")
    return result


def _expm1(x: float) -> float:
    import math

    return math.expm1(x)


def _match_rate(ref: list[str], cur: list[str]) -> float:
    """Share of ``cur`` equal to the reference's most common output."""
    if not ref or not cur:
        return 0.0
    mode = max(set(ref), key=ref.count)
    return sum(1 for c in cur if c == mode) / len(cur)


def reference_document(collected: Collected, *, model: str, version: int, digest: str, method: str,
                       created_at: str) -> dict[str, Any]:
    """The stored reference for a digest."""
    return {"model": model, "version": version, "digest": digest, "method": method, "created_at": created_at,
            "samples": max((len(o) for o in collected.outputs), default=0),
            "inputs": [{"input": t, "outputs": o} for t, o in zip(collected.inputs, collected.outputs, strict=True)],
            "model_ids": collected.model_ids, "fingerprints": collected.fingerprints,
            "calls": collected.calls, "cost_usd": collected.cost_usd}


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
