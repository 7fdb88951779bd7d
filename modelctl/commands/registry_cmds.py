"""Top-level registry commands: init, import, export, register, list, show, promote, rollback, diff,
history, resolve, validate, copy, archive, deprecate."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelctl.context import environments, open_registry, parse_ref, print_json
from registry.errors import InvalidInput, VersionNotFound

if TYPE_CHECKING:
    from registry.entities import ModelRecord, Version

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in history).")]


def _dumps(data: Any) -> str:
    from registry import yamlio

    return yamlio.dumps(data)


def _ref(text: str) -> tuple[str, int | str | None]:
    return parse_ref(text)


def version_json(record: ModelRecord, v: Version) -> dict[str, Any]:
    """The JSON form of one version (``show NAME@V --json``)."""
    envs = [e for e in environments() if record.env_version(e) == v.number]
    latest = record.latest_eval(v.digest)
    body = v.model_dump(mode="json", exclude_none=True, exclude={"number"})
    return {"name": record.name, "version": v.number, **body, "environments": envs,
            "evaluation": latest.model_dump(mode="json", exclude_none=True) if latest else None,
            "kind": record.kind}


def model_json(record: ModelRecord) -> dict[str, Any]:
    """The JSON form of a model with its environments (``show NAME --json``)."""
    envs = {e: record.env_version(e) for e in environments() if record.env_version(e)}
    rollback = {e: p.previous for e, p in record.environments.items() if p.previous}
    head = record.version(envs.get("production") or (record.versions[-1].number if record.versions else 0))
    out: dict[str, Any] = {"name": record.name, "purpose": record.purpose, "owner": record.owner,
                           "kind": record.kind, "capture_content": record.capture_content,
                           "environments": envs, "rollback_targets": rollback}
    if head is not None:
        out.update(version=head.number, digest=head.digest, stage=head.stage,
                   config=head.config.model_dump(mode="json", exclude_none=True))
    out["versions"] = [{"version": v.number, "digest": v.digest, "stage": v.stage, "deprecated": v.deprecated,
                        "model_id": v.config.model_id, "description": v.description,
                        "created_at": v.created_at} for v in record.versions]
    exp = record.running_experiment()
    out["experiment"] = exp.model_dump(mode="json", exclude={"analyses"}) if exp else None
    out["deprecation_plans"] = [p.model_dump(mode="json", exclude_none=True) for p in record.deprecation_plans]
    return out


def init(json_out: JsonOpt = False) -> None:
    """Create an empty registry at --registry (idempotent)."""
    reg = open_registry()
    created = reg.init()
    if json_out:
        print_json({"uri": reg.uri, "created": created})
    else:
        print(f"{'initialised' if created else 'already initialised:'} registry at {reg.uri}")


def import_(file: Annotated[Path, typer.Argument(help="A model-registry.yaml in the seed format.")]) -> None:
    """Import a seed-format model-registry.yaml (each entry becomes a model with one version)."""
    from registry.seed import import_seed

    for line in import_seed(open_registry(), file):
        print(f"imported {line}")


def export(file: Annotated[Path | None, typer.Argument(help="Output file (default: stdout).")] = None) -> None:
    """Write the registry in the seed's model-registry.yaml format."""
    from registry.seed import export_seed

    text = _dumps(export_seed(open_registry()))
    if file is None:
        sys.stdout.write(text)
    else:
        file.write_text(text)
        print(f"exported to {file}")


def register(name: str, file: Annotated[Path, typer.Option("--file", "-f", help="CONFIG.yaml")],
             reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Register a version from CONFIG.yaml; prints NAME@VERSION and the digest."""
    from registry.spec import load_spec_file

    spec = load_spec_file(file)
    reg = open_registry()
    if not reg.store.exists():
        reg.init()
    version, created = reg.register(parse_ref(name)[0], spec, reason=reason, source_file=str(file))
    if json_out:
        print_json({"name": name, "version": version.number, "digest": version.digest, "created": created})
    else:
        print(f"{name}@{version.number} {version.digest}{'' if created else ' (unchanged: identical configuration)'}")


def list_(json_out: JsonOpt = False) -> None:
    """List models with the version in each environment."""
    records = open_registry().list_models()
    rows: list[dict[str, Any]] = [{"name": r.name, "kind": r.kind, "owner": r.owner, "purpose": r.purpose,
             "environments": {e: r.env_version(e) for e in environments() if r.env_version(e)},
             "versions": len(r.versions),
             "experiment": (r.running_experiment().id if r.running_experiment() else None)}  # type: ignore[union-attr]
            for r in records]
    if json_out:
        print_json(rows)
        return
    if not rows:
        print("(no models)")
    for row in rows:
        envs = " ".join(f"{e}=@{v}" for e, v in row["environments"].items()) or "-"
        exp = f"  experiment={row['experiment']}" if row["experiment"] else ""
        print(f"{row['name']:<32} {row['kind']:<11} versions={row['versions']:<3} {envs}{exp}")


def show(ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ENVIRONMENT")],
         json_out: JsonOpt = False) -> None:
    """Show a model with its environments, or one version."""
    name, which = _ref(ref)
    reg = open_registry()
    record = reg.get_model(name)
    data = model_json(record) if which is None else version_json(record, reg.version_of(record, which))
    if json_out:
        print_json(data)
    else:
        sys.stdout.write(_dumps(data))


def promote(ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
            to: Annotated[str, typer.Option("--to", help="development, staging or production")],
            reason: ReasonOpt = None,
            force: Annotated[bool, typer.Option("--force", help="Override the evaluation gate (not pinning).")] = False,
            json_out: JsonOpt = False) -> None:
    """Promote a version to an environment (production needs strict pinning and a passing eval)."""
    name, number = _numbered(ref)
    v = open_registry().promote(name, number, to, reason=reason, force=force)
    if json_out:
        print_json({"name": name, "version": v.number, "environment": to, "stage": v.stage, "forced": force})
    else:
        print(f"{name}@{v.number} -> {to}")


def rollback(name: str, env: Annotated[str, typer.Option("--env", help="Environment to roll back.")],
             reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Point an environment back at its previous version."""
    v = open_registry().rollback(parse_ref(name)[0], env, reason=reason)
    if json_out:
        print_json({"name": name, "version": v.number, "environment": env})
    else:
        print(f"{name} {env} rolled back to @{v.number}")


def _numbered(ref: str) -> tuple[str, int]:
    name, which = _ref(ref)
    if isinstance(which, int):
        return name, which
    if which is None:
        raise InvalidInput(f"{ref!r}: give a version number, NAME@VERSION", field="ref")
    number = open_registry().get_model(name).env_version(which)
    if number is None:
        raise VersionNotFound(f"{ref}: no version in {which}")
    return name, number


def diff(a: str, b: str, json_out: JsonOpt = False) -> None:
    """Show what changed between two versions (configuration and metadata)."""
    reg = open_registry()
    sides = []
    for ref in (a, b):
        name, which = _ref(ref)
        record = reg.get_model(name)
        v = reg.version_of(record, which)
        sides.append(v.model_dump(mode="json", exclude_none=True,
                                  exclude={"number", "created_at", "created_by", "stage"}))
    keys = sorted({*_flatten(sides[0]), *_flatten(sides[1])})
    fa, fb = _flatten(sides[0]), _flatten(sides[1])
    changes = {k: [fa.get(k), fb.get(k)] for k in keys if fa.get(k) != fb.get(k)}
    if json_out:
        print_json({"a": a, "b": b, "changes": changes, "same_config": sides[0]["digest"] == sides[1]["digest"]})
        return
    text = difflib.unified_diff(_dumps(sides[0]).splitlines(), _dumps(sides[1]).splitlines(),
                                fromfile=a, tofile=b, lineterm="")
    out = "\n".join(text)
    print(out if out else f"{a} and {b} are identical")


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def history(name: Annotated[str | None, typer.Argument()] = None, json_out: JsonOpt = False) -> None:
    """Every change, oldest first: time, actor, action, model, version, reason."""
    events = open_registry().history(parse_ref(name)[0] if name else None)
    if json_out:
        print_json([e.model_dump(mode="json") for e in events])
        return
    for e in events:
        v = f"@{e.version}" if e.version else ""
        forced = " [forced]" if e.forced else ""
        print(f"{e.time:%Y-%m-%dT%H:%M:%SZ} {e.actor:<12} {e.action:<20} {e.model}{v}{forced}"
              f"{'  — ' + e.reason if e.reason else ''}")


def resolve(name: str, env: Annotated[str, typer.Option("--env")] = "production",
            user_id: Annotated[str | None, typer.Option("--user-id")] = None, json_out: JsonOpt = False) -> None:
    """Which version serves NAME in an environment (with experiment routing for --user-id)."""
    from registry.serving import ServingSnapshot

    res = ServingSnapshot(open_registry().store).resolve(parse_ref(name)[0], env, user_id)
    if json_out:
        print_json(res.to_dict())
    else:
        arm = f" arm={res.arm} ({res.experiment_id})" if res.arm else ""
        print(f"{res.name}@{res.version} {res.environment} {res.config.provider}:{res.config.model_id} "
              f"{res.digest}{arm}")


def validate(json_out: JsonOpt = False) -> None:
    """List every policy violation (non-strict production pins first); exit 1 when there is one."""
    report = open_registry().validate()
    if json_out:
        print_json({"ok": report.ok, "violations": report.violations, "warnings": report.warnings})
    else:
        for v in report.violations:
            print(f"VIOLATION {v}")
        for w in report.warnings:
            print(f"warning   {w}")
        print("ok: no policy violations" if report.ok else f"{len(report.violations)} violation(s)")
    if not report.ok:
        raise typer.Exit(1)


def copy(src: Annotated[str, typer.Option("--from")], dst: Annotated[str, typer.Option("--to")]) -> None:
    """Copy a whole store (file <-> S3) with full fidelity."""
    from registry.stores import open_store

    source, target = open_store(src), open_store(dst)
    if not source.exists():
        raise InvalidInput(f"no registry at {src}", field="from")
    target.initialize()
    names = source.names()
    for name in names:
        data = source.read_raw(name)
        if data is not None:
            target.write_raw(name, data)  # type: ignore[attr-defined]
    for key in source.aux_keys():
        data = source.read_aux(key)
        if data is not None:
            target.write_aux(key, data)
    print(f"copied {len(names)} model(s) from {src} to {dst}")


def archive(ref: str, reason: ReasonOpt = None) -> None:
    """Archive a version that no environment uses."""
    name, number = _numbered(ref)
    open_registry().archive(name, number, reason=reason)
    print(f"{name}@{number} archived")


def deprecate(ref: str, reason: ReasonOpt = None,
              undo: Annotated[bool, typer.Option("--undo", help="Clear the flag.")] = False) -> None:
    """Flag a version as deprecated (or clear the flag with --undo)."""
    name, number = _numbered(ref)
    open_registry().set_deprecated(name, number, not undo, reason=reason)
    print(f"{name}@{number} {'no longer ' if undo else ''}deprecated")


def register_commands(app: typer.Typer) -> None:
    """Attach the registry commands to the root app."""
    app.command("init")(init)
    app.command("import")(import_)
    app.command("export")(export)
    app.command("register")(register)
    app.command("list")(list_)
    app.command("show")(show)
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("diff")(diff)
    app.command("history")(history)
    app.command("resolve")(resolve)
    app.command("validate")(validate)
    app.command("copy")(copy)
    app.command("archive")(archive)
    app.command("deprecate")(deprecate)
