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


class TriggerError(Exception):
    """The healing run could not be started (the receiver releases the alert's claim)."""


class TriggerUnavailableError(TriggerError):
    """The Prefect server could not be reached after the configured tries, or refused the request."""


class DeploymentNotFoundError(TriggerError):
    """The deployment to run does not exist on the Prefect server (a configuration error)."""

    def __init__(self, deployment: str, api_url: str | None = None) -> None:
        where = f" at {api_url}" if api_url else ""
        super().__init__(f"deployment {deployment!r} not found on the Prefect server{where}")
        self.deployment = deployment


class Trigger(Protocol):
    """Starts a healing run for one accepted alert group; returns what the caller can follow."""

    kind: str

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str: ...


_EVENT_IDS = uuid.UUID("5f3b2c1e-8d0a-4f6e-9b7c-2a4d6e8f0a1c")  # namespace of alert event ids


def alert_event_id(hint: AlertHint) -> str:
    """The event id of an alert group: derived from its alerts' identities when they carry a
    start time, so every webhook replica sends one alert firing under one id.

    Prefect's event bus drops an event whose id it saw in the last minutes, so an alert that
    Alertmanager re-sends to another replica (a retry, an HA pair) starts one run, not two.
    A generic alert without ``startsAt`` gets a fresh id: its identity has no start, and a
    repeat after ``generic_window_s`` is a new occurrence that must not be dropped.
    """
    if hint.keyed_by_start and hint.alert_keys:
        return str(uuid.uuid5(_EVENT_IDS, "\n".join(sorted(hint.alert_keys))))
    return str(uuid.uuid4())


def alert_event(hint: AlertHint, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Prefect event of an alert group (resource id per group, the payload as the flow's ``alert``)."""
    return {
        "id": alert_event_id(hint),
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
    """POSTs alert events to the Prefect server's events API, confirmed before the caller answers.

    Concurrent requests share one POST (group commit): a sender takes every event
    queued while the previous batch was in flight, sends them as one list, and
    resolves each request when the server confirmed it (or failed after retries).
    """

    kind = "event_id"
    MAX_BATCH = 256

    def __init__(
        self,
        api_url: str,
        api_key: str | None = None,
        attempts: int = 4,
        backoff_s: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=api_url.rstrip("/"), headers=headers, timeout=10.0, transport=transport
        )
        self.attempts, self.backoff_s = attempts, backoff_s
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[None]]] | None = None
        self._sender: asyncio.Task[None] | None = None
        self.batches = 0

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str:
        event = alert_event(hint, payload)
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_loop())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, done))
        await done
        return str(event["id"])

    async def _send_loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < self.MAX_BATCH:
                batch.append(self._queue.get_nowait())
            events = [e for e, _ in batch]

            async def post(events: list[dict[str, Any]] = events) -> None:
                r = await self.client.post("/events", json=events)
                r.raise_for_status()

            try:
                await with_retries(self.attempts, self.backoff_s, post)
                self.batches += 1
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
            except Exception as err:  # every waiting caller gets the failure; the loop goes on
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)


class RunDeploymentTrigger:
    """Calls ``run_deployment`` (for servers without event triggers); returns the flow-run id."""

    kind = "flow_run_id"

    def __init__(self, deployment: str, attempts: int = 4, backoff_s: float = 0.2) -> None:
        self.deployment = deployment
        self.attempts, self.backoff_s = attempts, backoff_s

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str:
        from prefect.deployments import run_deployment
        from prefect.exceptions import ObjectNotFound
        from prefect.settings import PREFECT_API_URL

        async def run() -> Any:
            return await run_deployment(  # type: ignore[misc]
                self.deployment,
                parameters={"alert": dict(payload)},
                timeout=0,
                tags=["webhook", *hint.alertnames[:3]],
            )

        try:
            flow_run = await with_retries(self.attempts, self.backoff_s, run)
        except ObjectNotFound as err:  # read_deployment_by_name: 404
            raise DeploymentNotFoundError(self.deployment, PREFECT_API_URL.value()) from err
        return str(flow_run.id)
