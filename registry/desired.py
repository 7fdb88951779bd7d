"""The desired-state format (``models.yaml``): the registry as code, reviewed in pull requests.

A file (or a directory of ``*.yaml`` files, merged; a model may appear in one file only)::

    format: modelctl/desired-state/v1
    models:
      summarizer:                      # a registered model name
        owner: team-search             # model fields: purpose, owner, kind, capture_content
        purpose: Summaries for search
        versions:                      # every version, oldest first; numbers are assigned in this order
          - version: 1                 # optional: asserts the number this configuration has (or gets)
            provider: anthropic        # a CONFIG.yaml inline: configuration + metadata fields
            model_id: claude-sonnet-4-5-20250929
            system_prompt: Summarize.
          - file: configs/summarizer-v2.yaml   # or a CONFIG.yaml, relative to this file
        environments:                  # the version each environment should serve
          production: 1
          staging: 2
        experiment:                    # optional: an A/B test or canary that should be running
          treatment: 2                 #   (control: the production version); `experiment: null` stops one
          split: 0.1
          kind: ab                     #   or canary, with steps: [5, 25, 50, 100]

A version is identified by its configuration digest: listing an identical configuration twice is an
error, and a configuration already registered keeps its number. ``environments`` not listed are left
alone; a missing ``experiment`` key leaves experiments alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from registry.entities import ENVIRONMENTS, MODEL_KINDS, Frozen, ModelRecord
from registry.errors import InvalidInput
from registry.spec import MODEL_FIELDS, VersionSpec
from registry.stores.base import check_name
from registry.yamlio import LocatedYaml, load_located

FORMAT = "modelctl/desired-state/v1"


class DesiredExperiment(Frozen):
    """An experiment that should be running on the model's production traffic."""

    treatment: int = Field(ge=1)
    kind: Literal["ab", "canary"] = "ab"
    split: float | None = Field(default=None, gt=0, le=1)
    steps: list[float] | None = None
    primary_metric: str = "quality_score"
    guardrails: dict[str, float] = Field(default_factory=dict)
    min_effect: float = 0.01
    min_samples: int | None = None
    max_days: float | None = None
    step_min_samples: int | None = None


class _DesiredModelDoc(Frozen):
    purpose: str | None = None
    owner: str | None = None
    kind: str | None = None
    capture_content: bool | None = None
    versions: list[dict[str, Any]] = Field(default_factory=list)
    environments: dict[Literal["development", "staging", "production"], int] = Field(default_factory=dict)
    experiment: DesiredExperiment | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str | None) -> str | None:
        if value is not None and value not in MODEL_KINDS:
            raise ValueError(f"unknown kind {value!r}; one of {', '.join(MODEL_KINDS)}")
        return value


@dataclass(frozen=True)
class DesiredVersion:
    """One version of the desired state, with where it was written."""

    spec: VersionSpec
    declared: int | None
    source: str
    line: int | None
    field: str

    @property
    def digest(self) -> str:
        return self.spec.config().digest()


@dataclass(frozen=True)
class DesiredModel:
    """One model of the desired state."""

    name: str
    fields: dict[str, Any]
    versions: list[DesiredVersion]
    environments: dict[str, int]
    experiment: DesiredExperiment | None
    experiment_managed: bool
    source: str
    lines: dict[str, int | None] = field(default_factory=dict)

    def error(self, message: str, key: str) -> InvalidInput:
        """An InvalidInput naming this model's file, the line of ``key`` and the field."""
        return InvalidInput(message, file=self.source, line=self.lines.get(key), field=f"models.{self.name}.{key}")


@dataclass(frozen=True)
class DesiredState:
    """Every model of a desired-state file or directory, by name."""

    models: dict[str, DesiredModel]
    sources: list[str]


def _parse_version(raw: Any, located: LocatedYaml, where: list[str | int], base: Path) -> DesiredVersion:
    line = located.line_of(where)
    dotted = ".".join(map(str, where))
    if not isinstance(raw, dict):
        raise InvalidInput("expected a mapping (a configuration, or `file:`)", file=located.source, line=line,
                           field=dotted)
    declared = raw.get("version")
    if declared is not None and (not isinstance(declared, int) or isinstance(declared, bool) or declared < 1):
        raise InvalidInput("version must be a positive integer", file=located.source,
                           line=located.line_of([*where, "version"]), field=f"{dotted}.version")
    body = {k: v for k, v in raw.items() if k != "version"}
    if "file" in body:
        if set(body) != {"file"}:
            extra = sorted(set(body) - {"file"})[0]
            raise InvalidInput("a `file:` version takes no inline fields", file=located.source,
                               line=located.line_of([*where, extra]), field=f"{dotted}.{extra}")
        path = base / str(body["file"])
        inner = load_located(path)
        if not isinstance(inner.data, dict):
            raise InvalidInput("expected a mapping of configuration fields", file=str(path), line=1)
        try:
            spec = VersionSpec.model_validate(inner.data)
        except ValidationError as exc:
            raise inner.error(exc) from exc
        source = str(path)
    else:
        try:
            spec = VersionSpec.model_validate(body)
        except ValidationError as exc:
            raise located.error(exc, prefix=where) from exc
        source = located.source
    given = spec.model_fields_given()
    if given:
        key = sorted(given)[0]
        raise InvalidInput("model fields go on the model, not on a version", file=located.source,
                           line=located.line_of([*where, key]), field=f"{dotted}.{key}")
    return DesiredVersion(spec=spec, declared=declared, source=source, line=line, field=dotted)


def _parse_file(path: Path) -> dict[str, DesiredModel]:
    located = load_located(path)
    doc = located.data
    src = str(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
        raise InvalidInput("expected a top-level `models:` mapping", file=src, line=1, field="models")
    unknown = sorted(set(doc) - {"models", "format"})
    if unknown:
        raise InvalidInput("unknown field", file=src, line=located.line_of([unknown[0]]), field=unknown[0])
    if doc.get("format", FORMAT) != FORMAT:
        raise InvalidInput(f"unknown format {doc['format']!r}; expected {FORMAT}", file=src,
                           line=located.line_of(["format"]), field="format")
    out: dict[str, DesiredModel] = {}
    for name, raw in doc["models"].items():
        where: list[str | int] = ["models", str(name)]
        try:
            check_name(str(name))
        except InvalidInput as exc:
            raise InvalidInput(exc.message, file=src, line=located.line_of(where), field=f"models.{name}") from exc
        if not isinstance(raw, dict):
            raise InvalidInput("expected a mapping", file=src, line=located.line_of(where), field=f"models.{name}")
        try:
            model = _DesiredModelDoc.model_validate(raw)
        except ValidationError as exc:
            raise located.error(exc, prefix=where) from exc
        versions = [_parse_version(v, located, [*where, "versions", i], path.parent)
                    for i, v in enumerate(model.versions)]
        seen: dict[str, int] = {}
        for i, v in enumerate(versions):
            if v.digest in seen:
                raise InvalidInput(f"identical configuration to versions[{seen[v.digest]}] (digest "
                                   f"{v.digest[:12]})", file=src, line=v.line, field=v.field)
            seen[v.digest] = i
        fields = {k: getattr(model, k) for k in MODEL_FIELDS if getattr(model, k) is not None}
        lines = {key: located.line_of([*where, key]) for key in ("environments", "experiment", *MODEL_FIELDS)}
        lines.update({f"environments.{e}": located.line_of([*where, "environments", e]) for e in ENVIRONMENTS})
        out[str(name)] = DesiredModel(name=str(name), fields=fields, versions=versions,
                                      environments={str(k): v for k, v in model.environments.items()}, experiment=model.experiment,
                                      experiment_managed="experiment" in raw, source=src, lines=lines)
    return out


def load_desired(path: str | Path) -> DesiredState:
    """Parse and validate a desired-state file or directory; InvalidInput names file, line and field."""
    p = Path(path)
    files = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p]
    if p.is_dir() and not files:
        raise InvalidInput("no *.yaml files in the directory", file=str(p))
    models: dict[str, DesiredModel] = {}
    for f in files:
        for name, model in _parse_file(f).items():
            if name in models:
                raise InvalidInput(f"model {name!r} is also defined in {models[name].source}", file=str(f),
                                   line=model.lines.get("environments"), field=f"models.{name}")
            models[name] = model
    return DesiredState(models=models, sources=[str(f) for f in files])


def export_desired(records: list[ModelRecord]) -> dict[str, Any]:
    """The desired-state document of a live registry: applying it to that registry changes nothing."""
    models: dict[str, Any] = {}
    for record in records:
        entry: dict[str, Any] = {k: getattr(record, k) for k in ("owner", "purpose") if getattr(record, k)}
        entry["kind"] = record.kind
        if record.capture_content:
            entry["capture_content"] = True
        entry["versions"] = [{"version": v.number, **v.config.model_dump(mode="json", exclude_none=True),
                              **v.model_dump(mode="json", exclude_none=True,
                                             exclude={"number", "digest", "config", "created_at", "created_by",
                                                      "stage", "deprecated"})} for v in record.versions]
        envs = {e: record.env_version(e) for e in ENVIRONMENTS if record.env_version(e)}
        if envs:
            entry["environments"] = envs
        exp = record.running_experiment()
        entry["experiment"] = None if exp is None else {
            k: v for k, v in exp.model_dump(mode="json", exclude_none=True).items()
            if k in DesiredExperiment.model_fields and k != "split"} | (
                {} if exp.kind == "canary" else {"split": exp.split})
        models[record.name] = entry
    return {"format": FORMAT, "models": models}
