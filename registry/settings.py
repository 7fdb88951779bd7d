"""Configuration is read here and nowhere else (environment variables with the MODELCTL_ prefix)."""

from __future__ import annotations

import getpass
import os
import warnings
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry.envsettings import (
    DEFAULT_CACHE,
    DEFAULT_LOCK_TIMEOUT_SECONDS,
    DEFAULT_LOG,
    DEFAULT_REGISTRY,
    DEFAULT_SNAPSHOT_REFRESH_SECONDS,
    ENV_PREFIX,
)
from registry.errors import InvalidInput

DEV_USER_HASH_KEY = "modelctl-development-key-do-not-use-in-production"


class RateLimit(BaseModel):
    """Client-side limits for one provider."""

    model_config = ConfigDict(extra="forbid")
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


def _check_target(target: str) -> str:
    module, sep, attr = target.partition(":")
    if not sep or not attr.isidentifier() or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"{target!r} is not module.path:function")
    return target


ScorerTarget = Annotated[str, AfterValidator(_check_target)]


class ComplianceThresholds(BaseModel):
    """The thresholds of ``modelctl compliance`` (``compliance:`` in the MODELCTL_CONFIG file)."""

    model_config = ConfigDict(extra="forbid")
    scan_max_age_days: int = Field(default=2, ge=1, description="the last successful deprecation scan covering "
                                                                "a provider is at most this old")
    monitor_max_age_hours: int = Field(default=24, ge=1, description="the newest monitor result of the serving "
                                                                     "version is at most this old")
    evaluation_max_age_days: int | None = Field(default=None, ge=1, description="the serving digest's evaluation "
                                                                                "is at most this old (unset: any)")
    require_flow_evaluation: bool = Field(default=False, description="only a flow-produced evaluation passes")


class FileConfig(BaseModel):
    """The optional YAML file named by MODELCTL_CONFIG."""

    model_config = ConfigDict(extra="forbid")
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    deprecation_sources: list[str] = Field(default_factory=list)
    bedrock_regions: list[str] = Field(default_factory=list)
    strict_model_ids: list[str] = Field(default_factory=list)
    soft_deadline_lead_days: int = 30
    plan_review_days: int = Field(default=90, ge=1)  # a none-announced plan is reviewed this often
    compliance: ComplianceThresholds = Field(default_factory=ComplianceThresholds)
    capture_redact_patterns: list[str] = Field(default_factory=list)
    capture_redact_defaults: bool = True
    require_flow_evaluation: bool = False
    provider_timeout_seconds: float = 60.0
    provider_max_attempts: int = 5
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 30.0
    tools_file: str | None = None  # tool name -> JSON schema, for versions that register tools by name
    custom_scorers: dict[str, ScorerTarget] = Field(default_factory=dict)
    monitor_thresholds: dict[str, dict[str, float]] = Field(default_factory=dict)  # {model: {metric: threshold}}


class Settings(BaseSettings):
    """Every MODELCTL_* setting."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # defaults shared with registry.envsettings (the serving path's reader without pydantic-settings)
    registry: str = DEFAULT_REGISTRY
    log: str = DEFAULT_LOG
    actor: str | None = None
    user_hash_key: str | None = None
    cache: str = DEFAULT_CACHE
    config: str | None = None
    snapshot_refresh_seconds: float = DEFAULT_SNAPSHOT_REFRESH_SECONDS
    lock_timeout_seconds: float = Field(default=DEFAULT_LOCK_TIMEOUT_SECONDS, gt=0, allow_inf_nan=False)
    artifacts: str | None = None
    bedrock_role_arn: str | None = None
    now: datetime | None = None  # a fixed clock (ISO-8601) for reproducible demos and golden reports

    def artifacts_uri(self) -> str:
        """MODELCTL_ARTIFACTS, else a folder (or S3 prefix) beside the registry."""
        if self.artifacts:
            return self.artifacts
        return self.registry.rstrip("/") + "-artifacts"
    project_dir: str | None = None  # the project checkout workers run flows from (filled in by `modelctl serve`)
    alert_webhook: str | None = None  # URL the Prefect automations notify (critical deprecations, failures)

    def resolved_actor(self) -> str:
        """The actor recorded in history: MODELCTL_ACTOR, else the OS user."""
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except Exception:  # no passwd entry in some containers
            return os.environ.get("USER", "unknown")

    def hash_key(self) -> bytes:
        """Key for user-id hashing; a fixed development default (with a warning) when unset."""
        if not self.user_hash_key:
            warnings.warn("MODELCTL_USER_HASH_KEY is not set: using the development default key",
                          stacklevel=2)
            return DEV_USER_HASH_KEY.encode()
        return self.user_hash_key.encode()

    def file_config(self) -> FileConfig:
        """The parsed MODELCTL_CONFIG file (empty defaults when unset)."""
        return load_file_config(self.config)


@lru_cache(maxsize=8)
def load_file_config(path: str | None) -> FileConfig:
    """Parse the MODELCTL_CONFIG YAML, naming the file and field on error."""
    if not path:
        return FileConfig()
    from registry.yamlio import load_located

    if not Path(path).exists():
        raise InvalidInput("config file not found", file=path)
    located = load_located(path)
    raw: Any = located.data or {}
    try:
        return FileConfig.model_validate(raw)
    except ValidationError as exc:
        raise located.error(exc) from exc


def get_settings() -> Settings:
    """Fresh settings from the current environment."""
    return Settings()
