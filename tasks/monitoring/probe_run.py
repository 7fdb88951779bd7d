"""The probe use case over the registry: plan, sample, record a reference or compare with it, report.

References and the latest result are side documents of the registry keyed by model and digest
(``probe-reference-<model>-<digest16>``, ``probe-result-<model>-<digest16>``), so any worker can read them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from registry.entities import ModelConfig, Pricing
from registry.errors import InvalidInput, VersionNotFound
from registry.service import Registry
from tasks.monitoring.keys import probe_result_key
from tasks.monitoring.probe import (
    Collected,
    ProbePlan,
    ProbeResult,
    Sample,
    Sampler,
    collect,
    compare,
    encode,
    method_for,
    plan_probe,
    reference_document,
)

MAX_INPUTS = 500
EXIT_CODES = {"stable": 0, "reference-recorded": 0, "drift": 1, "insufficient": 3}


@dataclass
class ProbeOutcome:
    """What a probe run did and found."""

    model: str
    version: int
    digest: str
    status: str
    plan: ProbePlan
    result: ProbeResult | None
    reference_key: str
    reference_created_at: str | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "version": self.version, "digest": self.digest,
                               "status": self.status, "plan": vars(self.plan), "reference_key": self.reference_key,
                               "reference_created_at": self.reference_created_at}
        if self.result is not None:
            out.update(self.result.to_dict())
        return out


def reference_key(model: str, digest: str) -> str:
    return f"probe-reference-{model}-{digest[:16]}"


def result_key(model: str, digest: str) -> str:
    return probe_result_key(model, digest)


def read_probe_inputs(path: str) -> list[str]:
    """Probe inputs from a JSONL file (``input``, ``text`` or ``document`` per line), a YAML list or plain lines."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInput("file not found", file=path)
    text = file.read_text()
    out: list[str] = []
    if path.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text) or []
        items = data.get("inputs", []) if isinstance(data, dict) else data
        out = [str(i["input"] if isinstance(i, dict) else i) for i in items]
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if path.endswith(".jsonl"):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(f"not JSON: {exc.msg}", file=path, line=n) from exc
                value = next((row.get(k) for k in ("input", "text", "document") if row.get(k)), None)
                if value is None:
                    raise InvalidInput("each line needs an input, text or document field", file=path, line=n)
                out.append(str(value))
            else:
                out.append(line)
    if not 1 <= len(out) <= MAX_INPUTS:
        raise InvalidInput(f"a probe set has 1 to {MAX_INPUTS} inputs, got {len(out)}", file=path)
    return out


def live_sampler(config: ModelConfig, pricing: Pricing | None, model: str, version: int) -> Sampler:
    """One provider call per sample, with the version's whole configuration."""
    from tasks import providers

    def sample(text: str) -> Sample:
        c = providers.complete(config, [{"role": "user", "content": text}], pricing=pricing, model=model,
                               version=version)
        return Sample(c.text, c.model_id, c.fingerprint, c.output_tokens, c.cost_usd)

    return sample


def per_call_usd(config: ModelConfig, pricing: Pricing | None, inputs: list[str],
                 reference: dict[str, Any] | None) -> float:
    """Estimated cost of one call: average input tokens, and output tokens from the reference (else max_tokens)."""
    if pricing is None or not inputs:
        return 0.0
    tokens_in = sum(len(t) for t in inputs) / len(inputs) / 4 + len(config.system_prompt or "") / 4
    if reference and reference.get("inputs"):
        outputs = [o for item in reference["inputs"] for o in item["outputs"]]
        tokens_out = sum(len(o) for o in outputs) / max(len(outputs), 1) / 4
    else:
        tokens_out = float(config.max_tokens or 256)
    return pricing.cost(int(tokens_in) + 1, int(tokens_out) + 1)


def run_probe(registry: Registry, name: str, *, environment: str = "production", inputs_file: str | None = None,
              samples: int | None = None, budget_usd: float | None = None, record_reference: bool = False,
              alpha: float = 0.05, sampler: Sampler | None = None,
              on_plan: Callable[[ProbePlan], None] | None = None) -> ProbeOutcome:
    """Record a reference for the serving version's digest (first run, or ``record_reference``), else compare.

    Raises:
        VersionNotFound: no version serves ``environment``.
        InvalidInput: no reference and no inputs, bad sizes, or a budget too small to record a reference.
        ProviderError: the provider is unreachable (exit 5) or refuses the request.
    """
    if samples is not None and not 2 <= samples <= 50:
        raise InvalidInput(f"samples per input must be 2..50, got {samples}", field="samples")
    if budget_usd is not None and budget_usd < 0:
        raise InvalidInput("the budget must be >= 0", field="budget_usd")
    record = registry.get_model(name)
    pointer = record.environments.get(environment)
    version = record.version(pointer.version) if pointer and pointer.version else None
    if version is None:
        raise VersionNotFound(f"no version of {name} serves {environment}")
    key = reference_key(name, version.digest)
    stored = registry.read_aux(key)
    reference = json.loads(stored) if stored and not record_reference else None
    if reference is None and inputs_file is None:
        raise InvalidInput(f"no probe reference for {name}@{version.number} yet: give --inputs FILE to record one",
                           field="inputs")
    inputs = [i["input"] for i in reference["inputs"]] if reference else read_probe_inputs(str(inputs_file))
    n = samples or (int(reference["samples"]) if reference else 5)
    sampler = sampler or live_sampler(version.config, version.pricing, name, version.number)
    plan = plan_probe(len(inputs), n, per_call_usd(version.config, version.pricing, inputs, reference), budget_usd)
    if on_plan is not None:
        on_plan(plan)
    if reference is None:
        if plan.affordable_inputs < len(inputs):
            raise InvalidInput(f"the budget covers {plan.affordable_inputs} of {len(inputs)} inputs: a reference "
                               "needs them all (raise --budget-usd or use fewer inputs)", field="budget_usd")
        collected = collect(inputs, n, sampler)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        doc = reference_document(collected, model=name, version=version.number, digest=version.digest,
                                 method=method_for(record.kind, version.config.temperature), created_at=created)
        registry.write_aux(key, encode(doc))
        result = ProbeResult("reference-recorded", doc["method"], [f"reference recorded: {len(inputs)} inputs x {n} "
                                                                   "samples"],
                             {"reference_model_ids": collected.model_ids,
                              "reference_fingerprints": collected.fingerprints, "changed": False},
                             calls=collected.calls, cost_usd=round(collected.cost_usd, 6))
        registry.write_aux(result_key(name, version.digest), encode({"time": created, **result.to_dict()}))
        return ProbeOutcome(name, version.number, version.digest, result.status, plan, result, key, created)
    current: Collected = collect(inputs, n, sampler, budget_usd=budget_usd, per_call_usd=plan.per_call_usd)
    result = compare(reference, current, alpha=alpha)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    registry.write_aux(result_key(name, version.digest), encode({"time": now, **result.to_dict()}))
    outcome = ProbeOutcome(name, version.number, version.digest, result.status, plan, result, key,
                           reference.get("created_at"))
    if result.status == "drift":
        note_drift(registry, outcome, now)
        emit_drift(outcome)
    return outcome


def note_drift(registry: Registry, outcome: ProbeOutcome, when: str) -> None:
    """A dated line in the version's notes (and so its history): what the probe found."""
    version = registry.get_version(outcome.model, outcome.version)
    found = "; ".join(outcome.result.reasons[:2]) if outcome.result else "drift"
    line = f"{when} drift probe: {found}"
    notes = f"{version.notes}\n{line}" if version.notes else line
    registry.annotate(outcome.model, outcome.version, notes=notes,
                      reason=f"drift probe: the provider's behaviour changed for digest {outcome.digest[:12]}")


def emit_drift(outcome: ProbeOutcome) -> bool:
    """``modelctl.monitor.drift`` about ``modelctl.model.<name>`` with the evidence."""
    from tasks import events

    result = outcome.result
    payload = {"version": outcome.version, "digest": outcome.digest,
               "reasons": result.reasons if result else [], "identity": result.identity if result else {},
               "drifted_inputs": result.drifted_inputs if result else 0,
               "reference_created_at": outcome.reference_created_at}
    return events.emit("monitor", "drift", resource_id=outcome.model, resource_prefix="modelctl.model",
                       related=events.model_related(outcome.model, [outcome.version])[1:], payload=payload)


def probed_models(registry: Registry, environment: str = "production") -> list[str]:
    """Models whose serving version has a probe reference (what the daily deployment probes)."""
    keys = set(registry.store.aux_keys())
    out = []
    for record in registry.list_models():
        pointer = record.environments.get(environment)
        version = record.version(pointer.version) if pointer and pointer.version else None
        if version is not None and reference_key(record.name, version.digest) in keys:
            out.append(record.name)
    return out
