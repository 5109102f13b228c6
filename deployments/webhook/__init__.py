"""The webhook receiver that turns Alertmanager (or generic) alerts into self-healing runs."""

from __future__ import annotations

from deployments.webhook.app import create_app
from deployments.webhook.settings import TriggerMode, WebhookSettings, get_webhook_settings

__all__ = ["TriggerMode", "WebhookSettings", "create_app", "get_webhook_settings"]
