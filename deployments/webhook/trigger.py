"""How an accepted alert starts healing: a Prefect event (matched by the deployment's trigger) or run_deployment."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from apps.selfheal.alerts import AlertHint

EVENT_NAME = "swarmkit.alert.firing"
RESOURCE_PREFIX = "swarmkit.alert."


class TriggerUnavailableError(Exception):
    """The Prefect server could not be reached after the configured tries."""


class Trigger(Protocol):
    """Starts a healing run for one accepted alert group; returns what the caller can follow."""

    kind: str

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str: ...


def alert_event(hint: AlertHint, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Prefect event of an alert group (resource id per group, the payload as the flow's ``alert``)."""
    return {
        "id": str(uuid.uuid4()),
        "occurred": dt.datetime.now(dt.UTC).isoformat(),
        "event": EVENT_NAME,
        "resource": {
            "prefect.resource.id": f"{RESOURCE_PREFIX}{hint.group_key[:24]}",
            "prefect.resource.name": ",".join(hint.alertnames) or "alert",
            "swarmkit.namespaces": ",".join(hint.namespaces),
        },
        "payload": {"alert": dict(payload), "source": hint.source, "firing": hint.firing},
    }


async def with_retries(attempts: int, backoff_s: float, call: Any) -> Any:
    """Await ``call()`` up to ``attempts`` times with exponential back-off on connection errors."""
    delay = backoff_s
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return await call()
        except (httpx.TransportError, httpx.HTTPStatusError, OSError) as err:
            if isinstance(err, httpx.HTTPStatusError) and err.response.status_code < 500:
                raise TriggerUnavailableError(
                    f"the Prefect server refused the request: {err}"
                ) from err
            last = err
            if attempt < attempts - 1:
                await asyncio.sleep(delay)
                delay *= 2
    raise TriggerUnavailableError(f"the Prefect server is unavailable: {last}") from last


class EventTrigger:
    """POSTs the alert event to the Prefect server's events API (confirmed, unlike fire-and-forget)."""

    kind = "event_id"

    def __init__(
        self, api_url: str, api_key: str | None = None, attempts: int = 4, backoff_s: float = 0.2
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(base_url=api_url.rstrip("/"), headers=headers, timeout=10.0)
        self.attempts, self.backoff_s = attempts, backoff_s

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str:
        event = alert_event(hint, payload)

        async def post() -> None:
            r = await self.client.post("/events", json=[event])
            r.raise_for_status()

        await with_retries(self.attempts, self.backoff_s, post)
        return str(event["id"])


class RunDeploymentTrigger:
    """Calls ``run_deployment`` (for servers without event triggers); returns the flow-run id."""

    kind = "flow_run_id"

    def __init__(self, deployment: str, attempts: int = 4, backoff_s: float = 0.2) -> None:
        self.deployment = deployment
        self.attempts, self.backoff_s = attempts, backoff_s

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str:
        from prefect.deployments import run_deployment

        async def run() -> Any:
            return await run_deployment(  # type: ignore[misc]
                self.deployment,
                parameters={"alert": dict(payload)},
                timeout=0,
                tags=["webhook", *hint.alertnames[:3]],
            )

        flow_run = await with_retries(self.attempts, self.backoff_s, run)
        return str(flow_run.id)
