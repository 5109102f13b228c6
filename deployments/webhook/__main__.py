"""``python -m deployments.webhook`` (``make webhook``): serve the receiver with uvicorn.

Configured by environment variables only (``--help`` lists them with their defaults).
Exit status 2 on a configuration error, with the variable named.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
import textwrap
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx
import uvicorn

from deployments.webhook.app import create_app
from deployments.webhook.settings import TriggerMode, WebhookSettings, get_webhook_settings
from deployments.webhook.trigger import EventTrigger, RunDeploymentTrigger, Trigger
from patterns.core.cli import SETTINGS_ERRORS, report_settings_error

ENV_PREFIX = "SWARMKIT_WEBHOOK__"
PREFECT_EVENT_MAX_BYTES = 1_400_000  # under the server's default event size limit, with room
log = logging.getLogger("swarmkit.webhook")


class ConfigurationError(Exception):
    """A setting prevents the receiver from working; the message names the variable."""


def settings_help() -> str:
    """Every setting: its environment variable, default and description."""
    lines = ["settings (environment variables):"]
    for name, field in WebhookSettings.model_fields.items():
        default = field.default
        shown = "unset" if default is None else str(getattr(default, "value", default))
        lines.append(f"  {ENV_PREFIX}{name.upper()}  (default: {shown})")
        lines.append(
            textwrap.fill(
                field.description or "", 92, initial_indent=" " * 6, subsequent_indent=" " * 6
            )
        )
    lines += [
        "  PREFECT_API_URL  (required)",
        "      The Prefect server's API, ending in /api, e.g. http://127.0.0.1:4200/api.",
        "  PREFECT_API_KEY  (default: unset)",
        "      Prefect Cloud API key, if the server needs one.",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="python -m deployments.webhook",
        description="Serve the alert webhook receiver: POST /hooks/alertmanager, "
        "POST /hooks/generic, GET /healthz, GET /metrics. It needs a bearer token or an "
        "HMAC secret, and PREFECT_API_URL.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def check_api_url(url: str | None, transport: httpx.BaseTransport | None = None) -> str:
    """The Prefect API URL, or a :class:`ConfigurationError` naming what is wrong with it.

    Prefect's client uses ``PREFECT_API_URL`` as given: without the ``/api`` path every call
    reaches the UI and gets a 404 (so every alert would get 503). A URL without an ``/api``
    segment is accepted only when its ``/health`` answers as a Prefect API does (a proxy
    that rewrites the path).
    """
    if not url:
        raise ConfigurationError(
            "PREFECT_API_URL is not set; point it at the Prefect server's API, "
            "e.g. http://127.0.0.1:4200/api (make server)"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"PREFECT_API_URL={url!r} is not an http(s) URL")
    if "api" in parts.path.strip("/").split("/"):
        return url
    try:
        with httpx.Client(timeout=3.0, transport=transport) as client:
            r = client.get(url.rstrip("/") + "/health")
            if r.status_code == 200 and r.json() is True:
                return url
    except (httpx.HTTPError, ValueError):
        pass
    raise ConfigurationError(
        f"PREFECT_API_URL={url!r} has no /api path: the Prefect server's API is at "
        f"{url.rstrip('/')}/api (Prefect's client does not add it; every alert would fail)"
    )


def build_trigger(settings: WebhookSettings, api_url: str | None = None) -> Trigger:
    """The trigger the settings select, pointed at the configured Prefect server."""
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL

    url = check_api_url(api_url or PREFECT_API_URL.value())
    if settings.mode is TriggerMode.RUN_DEPLOYMENT:
        return RunDeploymentTrigger(
            settings.deployment, settings.prefect_attempts, settings.prefect_backoff_s
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


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted."""
    build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = get_webhook_settings()
    except SETTINGS_ERRORS as err:  # one line per bad SWARMKIT_WEBHOOK__ variable
        return report_settings_error(err)
    try:
        app = create_app(settings, build_trigger(settings), load_token(settings))
    except (ValueError, ConfigurationError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if settings.mode is TriggerMode.EVENT and settings.max_body_bytes > PREFECT_EVENT_MAX_BYTES:
        log.warning(
            "%sMAX_BODY_BYTES=%d: a Prefect server drops events larger than its "
            "PREFECT_SERVER_EVENTS_MAXIMUM_SIZE_BYTES (1.5 MB by default) without an error; "
            "raise that too, or use MODE=run-deployment",
            ENV_PREFIX,
            settings.max_body_bytes,
        )
    if _loopback(settings.host):
        log.info(
            "listening on %s only: callers on other hosts (Alertmanager) cannot reach it; "
            "set %sHOST=0.0.0.0 for that",
            settings.host,
            ENV_PREFIX,
        )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
