"""Pinning levels (strict / family / tier), classified per provider.

strict: an exact provider snapshot, behaviour reproducible (``claude-sonnet-4-5-20250929``).
family: a moving alias or pattern inside one model family (``claude-sonnet-4-5``, ``gpt-4o-*``).
tier:   a pattern across generations (``claude-sonnet-*``, ``gpt-*``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from registry.entities import ModelConfig

PinLevel = Literal["strict", "family", "tier"]

# Models the provider publishes without dated snapshots: they are their own snapshot.
KNOWN_STRICT: frozenset[str] = frozenset({
    "text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
    "omni-moderation-2024-09-26", "whisper-1", "tts-1", "tts-1-hd", "dall-e-2", "dall-e-3",
    "babbage-002", "davinci-002",
})

_DATE8 = re.compile(r"-\d{8}$")                        # claude-3-5-sonnet-20240620
_OPENAI_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")  # gpt-4o-2024-08-06, gpt-4-0613
_OPENAI_FT = re.compile(r"^ft:[^:]+:[^:]*:[^:]*:[A-Za-z0-9_-]+$")
_BEDROCK_STRICT = re.compile(
    r"^(arn:aws[a-z-]*:bedrock:.+|(?:[a-z]{2,4}\.)?[a-z0-9-]+\.[a-z0-9.-]+-v\d+(?::\d+)?(?::\d+k)?)$")
_LOCAL_STRICT = re.compile(r"-v\d+$")
_VERSIONISH = re.compile(r"\d")


def _wildcard_level(model_id: str) -> PinLevel:
    """A pattern with version digits before the star is a family; one without is a tier."""
    stem = model_id.split("*", 1)[0].rstrip("-.:")
    return "family" if _VERSIONISH.search(stem) else "tier"


def classify(config: ModelConfig, extra_strict: Iterable[str] = ()) -> PinLevel:
    """Classify a configuration's model_id for its provider."""
    model_id, provider = config.model_id, config.provider
    if model_id in KNOWN_STRICT or model_id in set(extra_strict):
        return "strict"
    if "*" in model_id:
        return _wildcard_level(model_id)
    if model_id.endswith("-latest") or model_id in {"latest", "default"}:
        return "family" if _VERSIONISH.search(model_id) else "tier"
    if provider == "anthropic":
        return "strict" if _DATE8.search(model_id) else "family"
    if provider == "openai":
        if _OPENAI_FT.match(model_id) or _OPENAI_DATED.search(model_id):
            return "strict"
        return "family"
    if provider == "bedrock":
        return "strict" if _BEDROCK_STRICT.match(model_id) else "family"
    if provider == "local":
        return "strict" if _LOCAL_STRICT.search(model_id) else "family"
    return "family"


def is_strict(config: ModelConfig, extra_strict: Iterable[str] = ()) -> bool:
    """True when the configuration names an exact provider snapshot."""
    return classify(config, extra_strict) == "strict"
