"""The retrain schedules the ``fine-tune`` deployment runs (prefect.yaml: quarterly-retrain, monthly-retrain)."""

from __future__ import annotations

from typing import Literal, get_args

RetrainSchedule = Literal["quarterly", "monthly"]
RETRAIN_SCHEDULES: tuple[str, ...] = get_args(RetrainSchedule)
