"""``modelctl sync mlflow|sagemaker``: push the registry into the registries teams already run."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from modelctl.context import open_registry, print_json

if TYPE_CHECKING:
    from registry.entities import ModelRecord

app = typer.Typer(help="Sync models, versions and environments to MLflow or SageMaker.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
CheckOpt = Annotated[bool, typer.Option("--check", help="Only report what differs (exit 3 when something does).")]
Names = Annotated[list[str] | None, typer.Argument(help="Models to sync (default: all).")]


def _records(names: list[str] | None) -> list[ModelRecord]:
    reg = open_registry()
    return [reg.get_model(n) for n in names] if names else reg.list_models()


@app.command("mlflow")
def mlflow(names: Names = None,
           tracking_uri: Annotated[str, typer.Option("--tracking-uri", envvar="MLFLOW_TRACKING_URI",
                                                     help="The MLflow tracking server (http://...).")] = "http://127.0.0.1:5000",
           check: CheckOpt = False, workers: Annotated[int, typer.Option("--workers", min=1, max=32, help="Concurrent writers to MLflow.")] = 4,
           json_out: JsonOpt = False) -> None:
    """Registered model per model, model version per version (modelctl.* tags), environments as aliases."""
    from modelctl.context import STATE
    from registry.settings import get_settings
    from tasks.sync.mlflow_sync import sync_mlflow
    from tasks.training.artifacts import open_artifacts

    reg = open_registry()
    beside = reg.uri.rstrip("/") + "-artifacts" if STATE.registry_uri else None  # as `finetune` writes them
    artifacts = open_artifacts(get_settings().artifacts or beside)
    report = sync_mlflow(_records(names), tracking_uri, source_uri=f"modelctl://{reg.uri.lstrip('/')}",
                         check=check, workers=workers, artifacts=artifacts)
    for line in report.drift:
        sys.stderr.write(f"drift: {line}\n")
    if json_out:
        print_json({**report.to_dict(), "check": check, "tracking_uri": tracking_uri})
    else:
        verb = "would write" if check else "wrote"
        print(f"{report.models} model(s): {report.created_models} registered model(s) and "
              f"{report.created_versions} version(s) new; {verb} {report.writes} change(s); "
              f"{len(report.drift)} alias(es) moved by hand")
    if check and (report.writes or report.drift):
        raise typer.Exit(3)


@app.command("sagemaker")
def sagemaker(names: Names = None,
              group_prefix: Annotated[str, typer.Option("--group-prefix", help="Prefix of group names.")] = "",
              metrics_s3: Annotated[str | None, typer.Option(
                  "--metrics-s3", help="s3://bucket/prefix for evaluation ModelMetrics documents.")] = None,
              check: CheckOpt = False, json_out: JsonOpt = False) -> None:
    """Model Package Group per model, Model Package per version; Approved for production."""
    from tasks.sync.sagemaker_sync import sync_sagemaker

    report = sync_sagemaker(_records(names), group_prefix=group_prefix, metrics_prefix=metrics_s3, check=check)
    if json_out:
        print_json({**report.to_dict(), "check": check})
    else:
        for line in report.details:
            print(("would " if check else "") + line)
        print(f"{report.groups_created} group(s) and {report.packages_created} package(s) created, "
              f"{report.packages_updated} updated")
    if check and (report.groups_created or report.packages_created or report.packages_updated):
        raise typer.Exit(3)
