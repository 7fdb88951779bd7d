"""Deprecation sources, one plugin per kind. Each returns notices or fails on its own.

Kinds: ``openai`` / ``anthropic`` (deprecation pages, Markdown or HTML), ``bedrock``
(``list_foundation_models`` per region), ``openai-models`` / ``anthropic-models`` (the SDKs' model lists),
``litellm`` (``model_prices_and_context_window.json``), ``feed`` (a project-local YAML feed).
A page whose format no longer parses raises ``SourceFormatError`` — never "no deprecations".
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from tasks.deprecations.parsing import Table, clean, column_roles, parse_date, split_ids, tables_of

DEFAULT_SOURCES: dict[str, str] = {
    "openai": "https://developers.openai.com/api/docs/deprecations.md",
    "anthropic": "https://docs.claude.com/en/docs/about-claude/model-deprecations.md",
    "openai-models": "api",
    "anthropic-models": "api",
    "bedrock": "us-east-1",
    "litellm": "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
}
KINDS = ("openai", "anthropic", "bedrock", "openai-models", "anthropic-models", "litellm", "feed")


class SourceFormatError(Exception):
    """The source was reached but its content no longer parses."""


class SourceSkipped(Exception):
    """The source needs a key (or credentials) that is not set."""


@dataclass
class Notice:
    """A provider's statement that a model will be (or was) retired."""

    provider: str
    model_id: str
    shutdown_date: date | None
    date_kind: str
    source: str
    replacement: str | None = None
    announced: date | None = None
    not_before: date | None = None
    removed: bool = False
    title: str | None = None
    active: bool = False  # a status row of a model still active: its floor is a lifecycle fact, not a notice
    known_ids: set[str] = field(default_factory=set, repr=False)

    @property
    def key(self) -> str:
        return f"{self.provider}:{self.model_id}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("known_ids")
        if not out["active"]:
            out.pop("active")
        for k in ("shutdown_date", "announced", "not_before"):
            out[k] = out[k].isoformat() if out[k] else None
        return out


def read_text(location: str, timeout: float = 30.0) -> str:
    """A page from a URL (httpx) or a local file."""
    if location.startswith(("http://", "https://")):
        import httpx

        resp = httpx.get(location, timeout=timeout, follow_redirects=True, headers={"User-Agent": "modelctl"})
        resp.raise_for_status()
        return resp.text
    return Path(location).read_text(encoding="utf-8")


def _replacement(cell: str | None) -> str | None:
    if cell is None:
        return None
    text = clean(cell)
    if not text or parse_date(text).kind == "unknown" and re.fullmatch(r"(?i)n/?a|none|-+|—|tba|tbd", text):
        return None
    ids = split_ids(text)
    return ids[0] if ids and len(ids) == 1 and len(text) <= len(ids[0]) + 4 else text


def _notices_from_table(table: Table, provider: str, source: str, announced: date | None) -> list[Notice]:
    roles = column_roles(table.header)
    if "model" not in roles or ("shutdown" not in roles and "state" not in roles):
        return []
    out = []
    for row in table.rows:
        if len(row) < len(table.header):
            row = row + [""] * (len(table.header) - len(row))
        ids = split_ids(row[roles["model"]])
        if not ids:
            continue  # not about a model (an endpoint or a feature)
        when = parse_date(row[roles["shutdown"]]) if "shutdown" in roles else parse_date(None)
        state = clean(row[roles["state"]]).lower() if "state" in roles else ""
        if "state" in roles and "shutdown" not in roles and not state:
            continue
        if state.startswith("active") and when.kind == "unknown":
            continue  # a status table row of a model nobody is retiring
        dep = parse_date(row[roles["deprecated"]]).exact if "deprecated" in roles else None
        repl = _replacement(row[roles["replacement"]]) if "replacement" in roles else None
        for model_id in ids:
            out.append(Notice(provider, model_id, when.exact, when.kind, source, repl, dep or announced,
                              when.floor, removed=state.startswith("retired"), title=table.heading or None,
                              active=state.startswith("active")))
    return out


_DATED_HEADING = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*[:\-—]\s*(.*)$")


def parse_page(text: str, provider: str, source: str) -> list[Notice]:
    """Notices from a deprecation page (OpenAI or Anthropic layout, Markdown or HTML)."""
    tables = tables_of(text)
    if not tables:
        raise SourceFormatError(f"{source}: no tables found; the page layout changed")
    notices: list[Notice] = []
    recognised = 0
    for table in tables:
        roles = column_roles(table.header)
        if "model" in roles and ("shutdown" in roles or "state" in roles):
            recognised += 1
        heading = clean(table.heading)
        dated = _DATED_HEADING.match(heading)
        announced = parse_date(dated.group(1)).exact if dated else None
        notices.extend(_notices_from_table(table, provider, source, announced))
    if recognised == 0:
        raise SourceFormatError(f"{source}: {len(tables)} table(s) but none with a model and a date column; "
                                "the page layout changed")
    return _merge(notices)


def source_kind(source: str) -> str:
    """``openai=https://...`` -> ``openai``."""
    return source.split("=", 1)[0]


def _priority(n: Notice) -> int:
    """A provider's own page or API beats a project feed beats a third-party feed."""
    return {"litellm": 0, "feed": 1}.get(source_kind(n.source), 2)


def _merge(notices: Iterable[Notice]) -> list[Notice]:
    """One notice per (provider, model id): the most authoritative source wins; then exact dates beat floors
    beat unknowns, and the earliest exact date wins."""
    rank = {"exact": 2, "floor": 1, "unknown": 0}
    best: dict[str, Notice] = {}
    for n in notices:
        cur = best.get(n.key)
        if cur is None or (_priority(n), rank[n.date_kind]) > (_priority(cur), rank[cur.date_kind]) or (
                _priority(n) == _priority(cur) and n.date_kind == cur.date_kind == "exact" and n.shutdown_date
                and cur.shutdown_date and n.shutdown_date < cur.shutdown_date):
            if cur is not None:
                n.replacement = n.replacement or cur.replacement
                n.announced = n.announced or cur.announced
            best[n.key] = n
        else:
            cur.replacement = cur.replacement or n.replacement
            cur.announced = cur.announced or n.announced
            cur.removed = cur.removed or n.removed
    return list(best.values())


# -- plugins --------------------------------------------------------------------------------------
def openai_page(location: str, pinned: set[str]) -> list[Notice]:
    return parse_page(read_text(location), "openai", f"openai={location}")


def anthropic_page(location: str, pinned: set[str]) -> list[Notice]:
    return parse_page(read_text(location), "anthropic", f"anthropic={location}")


def _missing_as_removed(provider: str, listed: set[str], pinned: set[str], source: str) -> list[Notice]:
    return [Notice(provider, m, None, "unknown", source, removed=True, title="missing from the provider's model list")
            for m in sorted(pinned - listed)]


def openai_models(location: str, pinned: set[str]) -> list[Notice]:
    if not os.environ.get("OPENAI_API_KEY"):  # the SDK's own variable: skipped, not failed, without it
        raise SourceSkipped("OPENAI_API_KEY is not set")
    import openai

    client = openai.OpenAI(max_retries=2)
    listed, out = set(), []
    for model in client.models.list():
        listed.add(model.id)
        shutdown = getattr(model, "shutdown_date", None) or (model.model_extra or {}).get("shutdown_date")
        if shutdown:
            when = parse_date(str(shutdown)) if not isinstance(shutdown, int | float) else \
                parse_date(datetime.fromtimestamp(shutdown, UTC).date().isoformat())
            out.append(Notice("openai", model.id, when.exact, when.kind, "openai-models"))
    source_pinned = {p.split(":", 1)[1] for p in pinned if p.startswith("openai:")}
    source_pinned = {p for p in source_pinned if not p.startswith("ft:")}
    return out + _missing_as_removed("openai", listed, source_pinned, "openai-models")


def anthropic_models(location: str, pinned: set[str]) -> list[Notice]:
    if not os.environ.get("ANTHROPIC_API_KEY"):
        raise SourceSkipped("ANTHROPIC_API_KEY is not set")
    import anthropic

    client = anthropic.Anthropic(max_retries=2)
    listed, out = set(), []
    for model in client.models.list(limit=1000):
        listed.add(model.id)
        extra = getattr(model, "model_extra", None) or {}
        lifecycle = getattr(model, "lifecycle", None) or extra.get("lifecycle")
        retires = getattr(model, "retires_at", None) or extra.get("retires_at")
        if retires or (lifecycle and str(getattr(lifecycle, "status", lifecycle)).lower() not in ("active", "ga")):
            when = parse_date(str(retires)[:10]) if retires else parse_date(None)
            out.append(Notice("anthropic", model.id, when.exact, when.kind, "anthropic-models",
                              title=f"lifecycle: {lifecycle}"))
    source_pinned = {p.split(":", 1)[1] for p in pinned if p.startswith("anthropic:")}
    return out + _missing_as_removed("anthropic", listed, source_pinned, "anthropic-models")


def bedrock_models(location: str, pinned: set[str], client_factory: Callable[[str], Any] | None = None) -> list[Notice]:
    """LEGACY models (with legacy / extended-access / end-of-life times) per region; pinned ids missing are removed."""
    import boto3
    from botocore.exceptions import NoCredentialsError

    regions = [r.strip() for r in location.split(",") if r.strip()] or ["us-east-1"]
    out: list[Notice] = []
    listed: set[str] = set()
    for region in regions:
        client = client_factory(region) if client_factory else boto3.client("bedrock", region_name=region)
        try:
            summaries = client.list_foundation_models()["modelSummaries"]
        except NoCredentialsError as exc:
            raise SourceSkipped("no AWS credentials") from exc
        for s in summaries:
            listed.add(s["modelId"])
            lifecycle = s.get("modelLifecycle") or {}
            if lifecycle.get("status") == "LEGACY":
                eol = lifecycle.get("endOfLifeTime") or lifecycle.get("publicExtendedAccessTime")
                when = parse_date(eol.date().isoformat() if isinstance(eol, datetime) else eol)
                legacy = lifecycle.get("legacyTime")
                out.append(Notice("bedrock", s["modelId"], when.exact, when.kind, f"bedrock={region}",
                                  announced=legacy.date() if isinstance(legacy, datetime) else None,
                                  title=f"LEGACY in {region}"))
    from tasks.deprecations.matching import normalize_id

    listed_norm = {normalize_id(m) for m in listed}
    missing = {p.split(":", 1)[1] for p in pinned if p.startswith("bedrock:")
               and normalize_id(p.split(":", 1)[1]) not in listed_norm and not p.split(":", 1)[1].startswith("arn:")}
    return _merge(out) + _missing_as_removed("bedrock", set(), missing, f"bedrock={location}")


def litellm_feed(location: str, pinned: set[str]) -> list[Notice]:
    try:
        data = json.loads(read_text(location))
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"litellm={location}: not JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or not data:
        raise SourceFormatError(f"litellm={location}: expected an object keyed by model")
    out = []
    for model_id, spec in data.items():
        if not isinstance(spec, dict) or not spec.get("deprecation_date"):
            continue
        when = parse_date(str(spec["deprecation_date"]))
        if when.kind == "unknown":
            continue  # e.g. the "sample_spec" entry describing the format
        provider = str(spec.get("litellm_provider") or "unknown").split("_")[0]
        bare = model_id.split("/", 1)[1] if "/" in model_id and provider in model_id.split("/", 1)[0] else model_id
        out.append(Notice(provider, bare, when.exact, when.kind, "litellm"))
    return _merge(out)


def local_feed(location: str, pinned: set[str]) -> list[Notice]:
    from registry.errors import InvalidInput
    from registry.yamlio import load_text

    try:
        data = load_text(read_text(location), location) or {}
    except InvalidInput as exc:
        raise SourceFormatError(f"feed={location}: malformed YAML ({exc})") from exc
    entries = data.get("notices") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SourceFormatError(f"feed={location}: expected a `notices:` list")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "model_id" not in entry:
            raise SourceFormatError(f"feed={location}: notice {i} has no model_id")
        when = parse_date(str(entry["shutdown_date"])) if entry.get("shutdown_date") else parse_date(None)
        out.append(Notice(str(entry.get("provider", "internal")), str(entry["model_id"]), when.exact, when.kind,
                          f"feed={location}", entry.get("replacement"),
                          parse_date(str(entry["announced"])).exact if entry.get("announced") else None,
                          when.floor, bool(entry.get("removed", False)), entry.get("title")))
    return out


PLUGINS: dict[str, Callable[[str, set[str]], list[Notice]]] = {
    "openai": openai_page, "anthropic": anthropic_page, "bedrock": bedrock_models, "openai-models": openai_models,
    "anthropic-models": anthropic_models, "litellm": litellm_feed, "feed": local_feed,
}
