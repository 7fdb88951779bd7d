"""``modelctl finetune run``: collect -> validate -> split -> train -> evaluate -> register -> A/B, in-process."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from modelctl.context import STATE, print_json

app = typer.Typer(no_args_is_help=True, help="Fine-tune a model on verified data and A/B test the result.")


def _progress(message: str) -> None:
    sys.stderr.write(f"  {message}\n")


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    trainer: Annotated[str, typer.Option("--trainer", help="local | openai | bedrock")] = "local",
    base_model: Annotated[str | None, typer.Option("--base-model", help="Provider model id to fine-tune.")] = None,
    data: Annotated[str | None, typer.Option("--data", help="JSONL/CSV/Parquet path or s3:// URI "
                                                            "(default: the request log).")] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Suite YAML (default: the model's).")] = None,
    min_samples: Annotated[int, typer.Option("--min-samples", help="Fewest verified examples to train on (the seed: 5000).")] = 5000,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Training epochs (the trainer's default when unset).")] = None,
    learning_rate_multiplier: Annotated[float | None, typer.Option("--learning-rate-multiplier", help="OpenAI learning-rate multiplier.")] = None,
    split: Annotated[str, typer.Option("--split", help="train,validation,test fractions")] = "0.8,0.1,0.1",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split (and the job).")] = 0,
    ab_split: Annotated[float, typer.Option("--ab-split", help="Treatment share of production traffic.")] = 0.10,
    ab_days: Annotated[float, typer.Option("--ab-days", help="Experiment length in days.")] = 7,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Collect, validate and split only.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    prefect: Annotated[bool, typer.Option("--prefect", help="Run as the fine-tune flow (default when "
                                                            "PREFECT_API_URL is set)")] = False,
) -> None:
    """Fine-tune NAME; exit 0 registered and in A/B, 1 refused or rejected, 2 bad input, 3 inconclusive,
    5 a provider or store unreachable."""
    from pydantic import ValidationError

    from registry.errors import InvalidInput
    from tasks.training.pipeline import FineTuneParams, run_pipeline

    if STATE.registry_uri and not os.environ.get("MODELCTL_ARTIFACTS"):
        # the local provider resolves artifacts:// against MODELCTL_ARTIFACTS (default: beside the registry)
        os.environ["MODELCTL_ARTIFACTS"] = STATE.registry_uri.rstrip("/") + "-artifacts"
    try:
        params = FineTuneParams(model=name, trainer=trainer, base_model=base_model, data=data, suite=suite,  # type: ignore[arg-type]
                                min_samples=min_samples, epochs=epochs,
                                learning_rate_multiplier=learning_rate_multiplier, split=split, seed=seed,
                                ab_split=ab_split, ab_days=ab_days, dry_run=dry_run, registry=STATE.registry_uri)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InvalidInput(err["msg"], field="--" + str(err["loc"][0]).replace("_", "-")) from exc
    from modelctl.context import use_prefect

    if use_prefect(prefect):
        from flows.fine_tune import fine_tune
        from tasks.training.pipeline import FineTuneResult

        result = FineTuneResult.model_validate(fine_tune(params))
    else:
        result = run_pipeline(params, on_event=None if json_out else _progress)
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        _print(result)
    raise typer.Exit(result.exit_code())


def _print(result: object) -> None:
    from tasks.training.pipeline import FineTuneResult

    assert isinstance(result, FineTuneResult)
    ds = result.dataset
    dropped = ", ".join(f"{k} {v}" for k, v in ds["dropped"].items() if k != "redacted")
    print(f"collect:  {ds['read']} read from {ds['source']}; {ds['rows']} kept (dropped: {dropped}; "
          f"redacted {ds['dropped'].get('redacted', 0)})")
    print(f"validate: {ds['rows']} examples, max {ds['tokens']['max_tokens']} tokens per example")
    print(f"split:    train {result.split['train']}, validation {result.split['validation']}, "
          f"test {result.split['test']}  sha256 {ds['sha256'][:16]}")
    if result.dry_run:
        for reason in result.reasons:
            print(f"  - {reason}")
        return
    if result.job:
        print(f"train:    {result.job['trainer']} job {result.job['id']} {result.job['status']}"
              f"{' (attached to an existing job)' if result.job.get('attached') else ''}")
    if result.evaluation:
        ev = result.evaluation
        scores = ", ".join(f"{k} {v:.4g}" for k, v in ev.scores.items() if k in ev.gates)
        print(f"evaluate: {ev.decision} on {ev.suite} vs {ev.baseline or 'no baseline'} ({scores})")
    print(f"register: {result.model}@{result.version}{'' if result.created else ' (already registered)'}")
    print(f"deploy:   {'experiment ' + result.experiment_id if result.experiment_id else 'nothing deployed'}")
    for reason in result.reasons:
        print(f"  - {reason}")
