"""Evaluation: suites, scorers, the runner and its cache, paired comparison and the recommendation.

The plain functions here are what the ``evaluate-candidate`` flow wires together; they are usable
(and tested) without Prefect.
"""

from __future__ import annotations

import json
from pathlib import Path

from registry.service import open_registry, parse_ref
from tasks.evaluation.cache import ResponseCache
from tasks.evaluation.compare import Recommendation, VersionSummary, recommend, summarize
from tasks.evaluation.runner import CaseResult, Target, run_cases
from tasks.evaluation.suite import LoadedSuite, load_suite

__all__ = ["CaseResult", "LoadedSuite", "Recommendation", "ResponseCache", "Target", "VersionSummary",
           "load_suite", "recommend", "resolve_target", "run_cases", "summarize", "write_results"]


def resolve_target(registry_uri: str | None, ref: str) -> Target:
    """``NAME@VERSION`` or ``NAME@ENVIRONMENT`` (bare NAME: production) to a Target."""
    name, which = parse_ref(ref)
    version = open_registry(registry_uri).get_version(name, which if which is not None else "production")
    return Target(name=name, version=version.number, digest=version.digest, config=version.config,
                  pricing=version.pricing)


def write_results(directory: str | Path, target: Target, results: list[CaseResult]) -> str:
    """Per-case results as JSONL (pairable with any other run by case id)."""
    path = Path(directory) / f"{target.name}@{target.version}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"ref": target.ref, "digest": target.digest, **r.to_dict()}) + "\n"
                            for r in results))
    return str(path)
