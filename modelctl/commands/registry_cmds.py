"""Top-level registry commands: init, import, export, register, list, show, promote, rollback, diff,
history, resolve, validate, copy, archive, deprecate."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelctl.context import (
    environments,
    escape_text,
    open_registry,
    parse_ref,
    parse_time,
    print_json,
    to_json,
)
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


def import_(file: Annotated[Path, typer.Argument(help="A model-registry.yaml in the seed format.")],
            json_out: JsonOpt = False) -> None:
    """Import a seed-format model-registry.yaml (each entry becomes a model with one version)."""
    from registry.seed import import_seed

    lines = import_seed(open_registry(), file)
    if json_out:
        print_json({"file": str(file), "imported": lines})
        return
    for line in lines:
        print(f"imported {line}")


def export(file: Annotated[Path | None, typer.Argument(help="Output file (default: stdout).")] = None,
           json_out: Annotated[bool, typer.Option(
               "--json", help="Machine-readable output (the export itself when no FILE is given).")] = False,
           desired_state: Annotated[bool, typer.Option(
               "--desired-state", help="Write a desired-state file (models.yaml) for plan/apply instead.")] = False,
           ) -> None:
    """Write the registry in the seed's model-registry.yaml format (or as a desired-state file)."""
    from registry.seed import export_seed

    if desired_state:
        from registry.desired import export_desired

        data = export_desired(open_registry().list_models())
    else:
        data = export_seed(open_registry())
    if file is None:
        sys.stdout.write(to_json(data) + "\n" if json_out else _dumps(data))
        return
    try:
        file.write_text(_dumps(data))
    except OSError as exc:
        raise InvalidInput(f"cannot write: {exc.strerror or exc}", file=str(file)) from exc
    if json_out:
        print_json({"file": str(file), "models": sorted(data["models"])})
    else:
        print(f"exported {len(data['models'])} model(s) to {file}")


def register(name: Annotated[str, typer.Argument(help="Model name (lowercase; no @VERSION).")], file: Annotated[Path, typer.Option("--file", "-f", help="CONFIG.yaml")],
             reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Register a version from CONFIG.yaml; prints NAME@VERSION and the digest."""
    from registry.spec import load_spec_file

    spec = load_spec_file(file)
    reg = open_registry()  # never created here: a mistyped --registry must not become a new registry
    version, created = reg.register(name, spec, reason=reason, source_file=str(file))
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
             "experiment": (r.running_experiment().id if r.running_experiment() else None),  # type: ignore[union-attr]
             "pending_approvals": [{"environment": p.environment, "version": p.version, "id": p.id,
                                    "requested_by": p.requested_by, "approvals": len(p.approvers()),
                                    "required": p.required} for p in r.pending_approvals()]}
            for r in records]
    if json_out:
        print_json(rows)
        return
    if not rows:
        print("(no models)")
    for row in rows:
        envs = " ".join(f"{e}=@{v}" for e, v in row["environments"].items()) or "-"
        exp = f"  experiment={row['experiment']}" if row["experiment"] else ""
        pend = "".join(f"  pending={p['environment']}@{p['version']}({p['approvals']}/{p['required']})"
                       for p in row["pending_approvals"])
        print(f"{row['name']:<32} {row['kind']:<11} versions={row['versions']:<3} {envs}{exp}{pend}")


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
            migration_acknowledged: Annotated[bool, typer.Option(
                "--migration-acknowledged",
                help="Confirm the re-embedding plan of a change of embedding model or dimension.")] = False,
            json_out: JsonOpt = False) -> None:
    """Promote a version to an environment (production needs strict pinning and a passing eval)."""
    from registry.approvals import pending_request

    name, number = _numbered(ref)
    reg = open_registry()
    v = reg.promote(name, number, to, reason=reason, force=force, migration_acknowledged=migration_acknowledged)
    request = pending_request(reg.get_model(name), number, to)
    if json_out:
        print_json({"name": name, "version": v.number, "environment": to, "stage": v.stage, "forced": force,
                    "pending_approval": request})
    elif request is not None:
        print(f"{name}@{v.number} -> {to}: pending approval ({len(request.approvers())}/{request.required}), "
              f"request {request.id}; approve with `modelctl approve {name}@{v.number} --env {to}`")
    else:
        print(f"{name}@{v.number} -> {to}")
    if request is not None:
        raise typer.Exit(3)


def rollback(name: Annotated[str, typer.Argument(help="Model name.")], env: Annotated[str, typer.Option("--env", help="Environment to roll back.")],
             reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Point an environment back at its previous good version (skipping deprecated, failed-evaluation and
    rolled-back-from versions); refused when there is none."""
    reg = open_registry()
    model = parse_ref(name)[0]
    v = reg.rollback(model, env, reason=reason)
    last = next((e for e in reversed(reg.get_model(model).history) if e.action == "rollback"), None)
    skipped = list((last.after or {}).get("skipped", [])) if last else []
    if json_out:
        print_json({"name": model, "version": v.number, "environment": env, "skipped": skipped})
    else:
        print(f"{model} {env} rolled back to @{v.number}")
        for line in skipped:
            print(f"  skipped {line}")


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


def diff(a: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ENVIRONMENT")],
         b: Annotated[str, typer.Argument(help="NAME@VERSION or NAME@ENVIRONMENT")], json_out: JsonOpt = False) -> None:
    """Show what changed between two versions (configuration and metadata)."""
    from registry.templates import template_diffs

    reg = open_registry()
    sides, configs = [], []
    for ref in (a, b):
        name, which = _ref(ref)
        record = reg.get_model(name)
        v = reg.version_of(record, which)
        configs.append(v.config)
        sides.append(v.model_dump(mode="json", exclude_none=True,
                                  exclude={"number", "created_at", "created_by", "stage"}))
    templates = template_diffs(configs[0], configs[1], a, b)
    keys = sorted({*_flatten(sides[0]), *_flatten(sides[1])})
    fa, fb = _flatten(sides[0]), _flatten(sides[1])
    changes = {k: [fa.get(k), fb.get(k)] for k in keys if fa.get(k) != fb.get(k)}
    if json_out:
        print_json({"a": a, "b": b, "changes": changes, "same_config": sides[0]["digest"] == sides[1]["digest"],
                    "template_diffs": templates})
        return
    for side in sides:  # templates are shown line by line below, not as escaped YAML strings
        for field in templates:
            side["config"].pop(field, None)
    text = difflib.unified_diff(_dumps(sides[0]).splitlines(), _dumps(sides[1]).splitlines(),
                                fromfile=a, tofile=b, lineterm="")
    out = "\n".join([*text, *(line for lines in templates.values() for line in lines)])
    print(out if out else f"{a} and {b} are identical")


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: d}


def history(name: Annotated[str | None, typer.Argument(help="Model name (default: every model).")] = None,
            model: Annotated[str | None, typer.Option("--model", help="Only this model.")] = None,
            since: Annotated[str | None, typer.Option("--since", help="Only changes at or after YYYY-MM-DD or an "
                                                                       "ISO-8601 time (UTC).")] = None,
            actor: Annotated[str | None, typer.Option("--actor", help="Only changes by this actor.")] = None,
            json_out: JsonOpt = False) -> None:
    """Every change, oldest first: time, actor, action, model, version, environment, reason."""
    if name and model and parse_ref(name)[0] != model:
        raise InvalidInput(f"NAME {name!r} and --model {model!r} disagree", field="model")
    wanted = model or (parse_ref(name)[0] if name else None)
    events = open_registry().history(wanted)
    if since is not None:
        start = parse_time(since, "--since")
        events = [e for e in events if e.time >= start]
    if actor is not None:
        events = [e for e in events if e.actor == actor]
    if json_out:
        print_json([e.model_dump(mode="json") for e in events])
        return
    for e in events:
        v = f"@{e.version}" if e.version else ""
        forced = " [forced]" if e.forced else ""
        env = (e.after or {}).get("environment") or (e.before or {}).get("environment")
        where = f" env={env}" if env else ""
        print(f"{e.time:%Y-%m-%dT%H:%M:%SZ} {escape_text(e.actor):<12} {e.action:<20} {e.model}{v}{where}{forced}"
              f"{'  — ' + escape_text(e.reason) if e.reason else ''}")


def resolve(name: Annotated[str, typer.Argument(help="Model name.")],
            env: Annotated[str, typer.Option("--env", help="Environment to resolve.")] = "production",
            user_id: Annotated[str | None, typer.Option("--user-id", help="Route this user through a running "
                                                                          "experiment.")] = None,
            json_out: JsonOpt = False) -> None:
    """Which version serves NAME in an environment (with experiment routing for --user-id)."""
    from modelctl.commands.resolve_cmd import show_resolution

    show_resolution(name, env, user_id, json_out)


def validate(json_out: JsonOpt = False) -> None:
    """List every policy violation (non-strict production pins first); exit 1 when there is one."""
    from registry.approvals import load_policy, pending

    reg = open_registry()
    report = reg.validate()
    waiting = pending(reg.list_models(), load_policy(reg))
    if json_out:
        print_json({"ok": report.ok, "violations": report.violations, "warnings": report.warnings,
                    "pending_approvals": [{"model": p.model, **p.request.model_dump(mode="json"), "stale": p.stale}
                                          for p in waiting]})
    else:
        for v in report.violations:
            print(f"VIOLATION {v}")
        for w in report.warnings:
            print(f"warning   {w}")
        for p in waiting:
            print(f"pending   {p.describe()}")
        print("ok: no policy violations" if report.ok else f"{len(report.violations)} violation(s)")
    if not report.ok:
        raise typer.Exit(1)


def copy(src: Annotated[str, typer.Option("--from", help="Source registry URI (directory or s3://).")],
         dst: Annotated[str, typer.Option("--to", help="Target registry URI (directory or s3://).")],
         force: Annotated[bool, typer.Option("--force", help="Overwrite a target registry that holds models.")] = False,
         json_out: JsonOpt = False) -> None:
    """Copy a whole store (file <-> S3) with full fidelity; refuses to overwrite a registry unless --force."""
    from registry.errors import PolicyViolation
    from registry.stores import open_store

    source, target = open_store(src), open_store(dst)
    if not source.exists():
        raise InvalidInput(f"no registry at {src}", field="from")
    if target.exists() and not force:
        existing = target.names()
        if existing or target.aux_keys():
            raise PolicyViolation(f"refused: {dst} already holds a registry ({len(existing)} model(s)); "
                                  "copying would overwrite its history", ["pass --force to overwrite it"])
    names = source.names()
    documents = {name: source.read_raw(name) for name in names}  # read (and verify) everything first
    for name, data in documents.items():
        if data is not None:
            from registry.stores.base import decode_record

            decode_record(data, f"{src} model {name}")
    target.initialize()
    for name, data in documents.items():
        if data is not None:
            target.write_raw(name, data)  # type: ignore[attr-defined]
    for key in source.aux_keys():
        aux = source.read_aux(key)
        if aux is not None:
            target.write_aux(key, aux)
    if json_out:
        print_json({"from": src, "to": dst, "models": len(names), "forced": force})
    else:
        print(f"copied {len(names)} model(s) from {src} to {dst}")


def _parse_pricing(text: str | None) -> dict[str, float] | None:
    from registry.numbers import finite

    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError as exc:
        raise InvalidInput(f"--pricing {text!r}: expected INPUT_PER_1M[,OUTPUT_PER_1M] in USD",
                           field="pricing") from exc
    if not 1 <= len(values) <= 2:
        raise InvalidInput(f"--pricing {text!r}: expected INPUT_PER_1M[,OUTPUT_PER_1M]", field="pricing")
    for value in values:
        finite(value, "pricing", minimum=0)
    return {"input_per_1m": values[0], "output_per_1m": values[1] if len(values) > 1 else 0.0}


def annotate(ref: Annotated[str, typer.Argument(help="NAME@VERSION")],
             pricing: Annotated[str | None, typer.Option(
                 "--pricing", help="USD per 1M tokens: INPUT[,OUTPUT], e.g. 2.5,10")] = None,
             corpus_size: Annotated[int | None, typer.Option(
                 "--corpus-size", help="Documents embedded with this version.", min=0)] = None,
             corpus_avg_tokens: Annotated[int | None, typer.Option(
                 "--corpus-avg-tokens", help="Average tokens per document.", min=1)] = None,
             notes: Annotated[str | None, typer.Option("--notes", help="Free-text notes.")] = None,
             description: Annotated[str | None, typer.Option("--description", help="What changed and why.")] = None,
             reason: ReasonOpt = None, json_out: JsonOpt = False) -> None:
    """Change a version's metadata (never its configuration or digest); recorded in history."""
    name, number = _numbered(ref)
    v = open_registry().annotate(name, number, reason=reason, pricing=_parse_pricing(pricing),
                                 corpus_size=corpus_size, corpus_avg_tokens=corpus_avg_tokens, notes=notes,
                                 description=description)
    if json_out:
        print_json(version_json(open_registry().get_model(name), v))
    else:
        print(f"{name}@{v.number} annotated ({v.digest})")


def archive(ref: Annotated[str, typer.Argument(help="NAME@VERSION")], reason: ReasonOpt = None,
            json_out: JsonOpt = False) -> None:
    """Archive a version that no environment uses."""
    name, number = _numbered(ref)
    v = open_registry().archive(name, number, reason=reason)
    if json_out:
        print_json({"name": name, "version": number, "stage": v.stage})
    else:
        print(f"{name}@{number} archived")


def deprecate(ref: Annotated[str, typer.Argument(help="NAME@VERSION")], reason: ReasonOpt = None,
              undo: Annotated[bool, typer.Option("--undo", help="Clear the flag.")] = False,
              json_out: JsonOpt = False) -> None:
    """Flag a version as deprecated (or clear the flag with --undo)."""
    name, number = _numbered(ref)
    v = open_registry().set_deprecated(name, number, not undo, reason=reason)
    if json_out:
        print_json({"name": name, "version": number, "deprecated": v.deprecated})
    else:
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
    app.command("annotate")(annotate)
    app.command("deprecate")(deprecate)
