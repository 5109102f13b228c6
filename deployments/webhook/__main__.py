"""``python -m deployments.webhook`` (``make webhook``): serve the receiver with uvicorn."""

from __future__ import annotations

import logging
import sys

import uvicorn

from deployments.webhook.app import create_app
from deployments.webhook.settings import TriggerMode, WebhookSettings, get_webhook_settings
from deployments.webhook.trigger import EventTrigger, RunDeploymentTrigger, Trigger


def build_trigger(settings: WebhookSettings) -> Trigger:
    """The trigger the settings select, pointed at the configured Prefect server."""
    if settings.mode is TriggerMode.RUN_DEPLOYMENT:
        return RunDeploymentTrigger(
            settings.deployment, settings.prefect_attempts, settings.prefect_backoff_s
        )
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise SystemExit(
            "error: PREFECT_API_URL is not set; point it at the Prefect server (make server)"
        )
    return EventTrigger(
        url, PREFECT_API_KEY.value(), settings.prefect_attempts, settings.prefect_backoff_s
    )


def load_token(settings: WebhookSettings) -> str | None:
    """The bearer token: from settings, else from the Prefect Secret block named in them."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    if settings.secret_block:
        from prefect.blocks.system import Secret

        value = Secret.load(settings.secret_block).get()  # type: ignore[union-attr]
        return str(value)
    return None


def main() -> int:
    """Serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = get_webhook_settings()
    try:
        app = create_app(settings, build_trigger(settings), load_token(settings))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
