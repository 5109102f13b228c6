"""Settings of the webhook receiver: the ``webhook`` group (``SWARMKIT_WEBHOOK__*``)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TriggerMode(StrEnum):
    """How an accepted alert starts the self-healing flow."""

    EVENT = "event"  # a Prefect event that the deployment's event trigger matches
    RUN_DEPLOYMENT = "run-deployment"  # run_deployment directly (servers without triggers)


class WebhookSettings(BaseModel):
    """The HTTP receiver that turns alerts into healing runs."""

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        max_length=253,
        description="Interface to listen on: 127.0.0.1 takes local callers only; 0.0.0.0 (or the "
        "host's address) lets an Alertmanager on another host reach it.",
    )
    port: int = Field(8088, ge=1, le=65535, description="TCP port to listen on.")
    token: SecretStr | None = Field(
        None, description="Bearer token callers send (Authorization: Bearer ...); never logged."
    )
    hmac_secret: SecretStr | None = Field(
        None,
        description="Shared secret of the X-Swarmkit-Signature HMAC-SHA256 header; never logged.",
    )
    secret_block: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Prefect Secret block holding the token (used when `token` is not set).",
    )
    max_skew_s: float = Field(
        300.0, gt=0, le=86400, description="Signed requests older (or newer) than this are refused."
    )
    max_body_bytes: int = Field(
        262144, ge=1024, le=16 * 2**20, description="Largest request body accepted (413 above)."
    )
    rate_per_s: float = Field(
        50.0, gt=0, le=100000, description="Sustained requests per second allowed per source."
    )
    burst: int = Field(100, ge=1, le=100000, description="Requests a source may send at once.")
    max_in_flight: int = Field(
        64,
        ge=1,
        le=10000,
        description="Authenticated requests handled at once; more get 503 (no queue).",
    )
    dedup_ttl_s: float = Field(
        86400.0,
        gt=0,
        le=30 * 86400,
        description="How long an alert (labels or fingerprint + startsAt) is remembered: a re-send "
        "of only remembered firing alerts starts nothing.",
    )
    generic_window_s: float = Field(
        300.0,
        gt=0,
        le=30 * 86400,
        description="A generic alert without startsAt repeated within this window is a duplicate; "
        "after it, a new occurrence.",
    )
    max_alerts: int = Field(
        1000,
        ge=1,
        le=10000,
        description="Alerts of one notification acted on; the rest are dropped, counted in "
        "truncatedAlerts and /metrics (every (namespace, alertname) keeps one).",
    )
    mode: TriggerMode = Field(TriggerMode.EVENT, description="'event' or 'run-deployment'.")
    deployment: str = Field(
        "self-healing/self-healing",
        min_length=3,
        max_length=512,
        pattern=r"^[^/\s]+/[^/\s]+$|^[0-9a-fA-F-]{36}$",
        description="Deployment run in 'run-deployment' mode (flow-name/deployment-name, or its id).",
    )
    prefect_attempts: int = Field(
        4, ge=1, le=20, description="Tries to reach the Prefect server before answering 503."
    )
    prefect_backoff_s: float = Field(
        0.2, ge=0, le=60, description="First back-off between those tries (doubles)."
    )


class _WebhookEnv(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SWARMKIT_", env_nested_delimiter="__", extra="ignore"
    )

    webhook: WebhookSettings = Field(
        default_factory=WebhookSettings, description="Webhook receiver."
    )


def get_webhook_settings() -> WebhookSettings:
    """Read the ``webhook`` group from the environment."""
    return _WebhookEnv().webhook
