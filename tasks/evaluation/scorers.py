"""Scorers: per-case scores in [0, 1] (None when a case cannot be scored), plus classification
aggregates. Scorers that need a model (embedding similarity, LLM-as-judge) call a registered version
through the providers layer; the judge must be a pinned version number with its own cache.

Configuration is trusted, suites are data: a suite names a custom scorer only by a name that the
installation allows, from the ``modelctl.scorers`` entry-point group or the ``custom_scorers`` mapping
(name -> ``module:function``) of the MODELCTL_CONFIG file. A ``module:function`` written in a suite is
refused: it would let a data file run any importable callable.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry.errors import InvalidInput
from tasks.evaluation.cases import Case, ScorerSpec

BINARY = {"exact_match", "contains", "regex", "json_valid", "json_schema", "numeric", "accuracy"}
LOWER_IS_BETTER = {"error_rate", "latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms",
                   "cost_usd", "cost_per_1k_requests"}
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"\w+", re.UNICODE)


def normalize(text: str, steps: list[str]) -> str:
    """Apply normalisation steps: strip, lower, whitespace, punctuation."""
    for step in steps:
        if step == "strip":
            text = text.strip()
        elif step == "lower":
            text = text.lower()
        elif step == "whitespace":
            text = " ".join(text.split())
        elif step == "punctuation":
            text = text.translate(str.maketrans("", "", string.punctuation))
    return text


def exact_match(output: str, case: Case, params: dict[str, Any]) -> float | None:
    if case.expected is None:
        return None
    steps = params.get("normalize", [])
    return float(normalize(output, steps) == normalize(str(case.expected), steps))


def contains(output: str, case: Case, params: dict[str, Any]) -> float | None:
    values = params.get("values") or ([case.expected] if case.expected is not None else [])
    if isinstance(values, str):
        values = [values]
    if not values:
        return None
    sensitive = params.get("case_sensitive", False)
    hay = output if sensitive else output.lower()
    hits = [(str(v) if sensitive else str(v).lower()) in hay for v in values]
    return float(all(hits) if params.get("mode", "any") == "all" else any(hits))


def regex(output: str, case: Case, params: dict[str, Any]) -> float | None:
    pattern = params.get("pattern") or case.expected
    if not pattern:
        return None
    flags = re.IGNORECASE if params.get("ignore_case") else 0
    return float(re.search(str(pattern), output, flags) is not None)


def json_valid(output: str, case: Case, params: dict[str, Any]) -> float | None:
    try:
        json.loads(output)
    except (ValueError, TypeError):
        return 0.0
    return 1.0


def json_schema(output: str, case: Case, params: dict[str, Any]) -> float | None:
    import jsonschema

    try:
        jsonschema.validate(json.loads(output), params["schema"])
    except (ValueError, TypeError, jsonschema.ValidationError):
        return 0.0
    return 1.0


def numeric(output: str, case: Case, params: dict[str, Any]) -> float | None:
    if case.expected is None:
        return None
    found = _NUMBER.search(output.replace(",", "") if params.get("thousands", True) else output)
    if not found:
        return 0.0
    got, want = float(found.group().replace(",", ".")), float(case.expected)
    tolerance = max(float(params.get("tolerance", 0.0)), abs(want) * float(params.get("rel_tolerance", 0.0)))
    return float(abs(got - want) <= tolerance + 1e-12)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def token_f1(output: str, case: Case, params: dict[str, Any]) -> float | None:
    if case.expected is None:
        return None
    pred, gold = _tokens(output), _tokens(str(case.expected))
    if not pred or not gold:
        return float(pred == gold)
    common: dict[str, int] = {}
    for t in pred:
        common[t] = common.get(t, 0) + 1
    overlap = 0
    for t in gold:
        if common.get(t, 0) > 0:
            overlap += 1
            common[t] -= 1
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def rouge_l(output: str, case: Case, params: dict[str, Any]) -> float | None:
    """ROUGE-L F-measure (longest common subsequence of tokens)."""
    if case.expected is None:
        return None
    a, b = _tokens(output), _tokens(str(case.expected))
    if not a or not b:
        return float(a == b)
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def classification(output: str, case: Case, params: dict[str, Any]) -> float | None:
    """Per case: correct (1) or not; the aggregates (macro-F1, per-class P/R) come from ``class_metrics``."""
    return exact_match(output, case, {"normalize": params.get("normalize", ["strip", "lower"])})


@dataclass
class ScoringContext:
    """What model-backed scorers need: the registry to resolve versions and a judge cache."""

    registry_uri: str | None = None
    cache: Any = None


def _resolve(ref: str, ctx: ScoringContext, *, pinned: bool) -> Any:
    from registry.pinning import is_strict
    from registry.service import open_registry, parse_ref

    name, which = parse_ref(ref)
    if pinned and not isinstance(which, int):
        raise InvalidInput(f"the judge must be a pinned version NAME@VERSION, got {ref!r}", field="judge")
    reg = open_registry(ctx.registry_uri)
    version = reg.get_version(name, which)
    if pinned and not is_strict(version.config, reg.extra_strict):
        raise InvalidInput(f"judge {ref} is not strictly pinned ({version.config.model_id})", field="judge")
    return name, version


def embedding_similarity(output: str, case: Case, params: dict[str, Any], ctx: ScoringContext) -> float | None:
    """Cosine similarity of output and expected under a registered embedding model, clipped to [0, 1]."""
    if case.expected is None:
        return None
    from tasks.providers import embed

    name, version = _resolve(params.get("model", ""), ctx, pinned=False)
    a, b = embed(version.config, [output, str(case.expected)], model=name, version=version.number)
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return max(0.0, dot / norm) if norm else 0.0


JUDGE_PROMPT = ("You are grading a model's answer against a rubric.\nRubric:\n{rubric}\n\n"
                "Question:\n{input}\n\nReference answer (may be empty):\n{expected}\n\nAnswer to grade:\n{output}\n\n"
                "Reply with only the score, a number from {low} to {high}.")


def llm_judge(output: str, case: Case, params: dict[str, Any], ctx: ScoringContext) -> float | None:
    """A rubric score from a separate, registered and pinned judge version, normalised to [0, 1]."""
    from tasks.providers import complete

    name, version = _resolve(params.get("judge", ""), ctx, pinned=True)
    low, high = params.get("scale", [1, 5])
    prompt = JUDGE_PROMPT.format(rubric=params.get("rubric", "Is the answer correct and helpful?"),
                                 input=case.input_key(), expected=case.expected or "", output=output,
                                 low=low, high=high)
    key = (version.digest, prompt, 0)
    text = ctx.cache.get(*key) if ctx.cache is not None else None
    if text is None:
        text = complete(version.config, [{"role": "user", "content": prompt}], pricing=version.pricing,
                        model=name, version=version.number).text
        if ctx.cache is not None:
            ctx.cache.put(*key, {"text": text})
    else:
        text = text["text"]
    found = _NUMBER.search(text)
    if not found:
        return None
    value = min(max(float(found.group()), low), high)
    return (value - low) / (high - low) if high > low else None


PER_CASE: dict[str, Callable[..., float | None]] = {
    "exact_match": exact_match, "contains": contains, "regex": regex, "json_valid": json_valid,
    "json_schema": json_schema, "numeric": numeric, "token_f1": token_f1, "rouge_l": rouge_l,
    "classification": classification,
}
MODEL_BACKED: dict[str, Callable[..., float | None]] = {
    "embedding_similarity": embedding_similarity, "llm_judge": llm_judge,
}


ENTRY_POINT_GROUP = "modelctl.scorers"


def allowed_custom_scorers() -> dict[str, str]:
    """Name -> ``module:function`` of every custom scorer this installation allows."""
    from registry.settings import get_settings

    return dict(_allowed(get_settings().config))


@functools.lru_cache(maxsize=16)
def _allowed(config_path: str | None) -> tuple[tuple[str, str], ...]:
    from importlib.metadata import entry_points

    from registry.settings import load_file_config

    allowed = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    allowed.update(load_file_config(config_path).custom_scorers)
    return tuple(allowed.items())


def _import_target(name: str, target: str) -> Callable[..., float | None]:
    module, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise ValueError(f"custom scorer {name!r} ({target}) is not importable: {exc}") from exc
    if not callable(fn):
        raise ValueError(f"custom scorer {name!r} ({target}) is not callable")
    return fn  # type: ignore[no-any-return]


def _custom(spec: ScorerSpec) -> Callable[..., float | None]:
    name = str(spec.params.get("function") or spec.type)
    allowed = allowed_custom_scorers()
    if name not in allowed:
        if ":" in name:
            raise ValueError(f"custom scorer {name!r}: a suite cannot name module:function; register the "
                             f"scorer under a name in the {ENTRY_POINT_GROUP!r} entry-point group or in "
                             "`custom_scorers` of MODELCTL_CONFIG, and use that name")
        known = ", ".join(sorted(allowed)) or "none configured"
        raise ValueError(f"unknown custom scorer {name!r} (allowed: {known})")
    return _import_target(name, allowed[name])


def check_scorer(spec: ScorerSpec) -> None:
    """Raise ValueError for an unknown type or missing required parameters."""
    if spec.type in PER_CASE or spec.type in MODEL_BACKED:
        if spec.type == "json_schema" and not isinstance(spec.params.get("schema"), dict):
            raise ValueError("json_schema needs a `schema` mapping")
        if spec.type == "llm_judge" and not spec.params.get("judge"):
            raise ValueError("llm_judge needs `judge: NAME@VERSION`")
        if spec.type == "embedding_similarity" and not spec.params.get("model"):
            raise ValueError("embedding_similarity needs `model: NAME@ENVIRONMENT|VERSION`")
        return
    if spec.type == "custom" or ":" in spec.type or spec.type in allowed_custom_scorers():
        _custom(spec)
        return
    known = sorted([*PER_CASE, *MODEL_BACKED, "custom"])
    raise ValueError(f"unknown scorer type {spec.type!r}; one of {', '.join(known)} or an allowed custom "
                     "scorer name")


def metric_name(spec: ScorerSpec) -> str:
    """The metric a scorer produces (``classification`` reports ``accuracy``)."""
    if spec.name:
        return spec.name
    return "accuracy" if spec.type == "classification" else spec.type


def score_case(specs: list[ScorerSpec], output: str, case: Case, ctx: ScoringContext) -> dict[str, float]:
    """Every scorer's value for one output (unscorable values are left out)."""
    scores: dict[str, float] = {}
    for spec in specs:
        if spec.type in PER_CASE:
            value = PER_CASE[spec.type](output, case, spec.params)
        elif spec.type in MODEL_BACKED:
            value = MODEL_BACKED[spec.type](output, case, spec.params, ctx)
        else:
            params = {k: v for k, v in spec.params.items() if k != "function"}
            raw = _custom(spec)(output, case, **params)
            value = None if raw is None else float(raw)
        if value is not None:
            scores[metric_name(spec)] = float(value)
    return scores


def class_metrics(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Accuracy, macro-F1 and per-class precision/recall from (predicted, expected) label pairs."""
    if not pairs:
        return {}
    labels = sorted({e for _, e in pairs})
    out: dict[str, float] = {}
    f1s = []
    for label in labels:
        tp = sum(p == label and e == label for p, e in pairs)
        fp = sum(p == label and e != label for p, e in pairs)
        fn = sum(p != label and e == label for p, e in pairs)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        out[f"precision_{label}"], out[f"recall_{label}"] = precision, recall
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    out["macro_f1"] = sum(f1s) / len(f1s)
    return out
