"""The event trigger: concurrent alerts share POSTs, each is confirmed, failures reach every caller."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from apps.selfheal.alerts import parse_alert
from deployments.webhook.trigger import EVENT_NAME, EventTrigger, TriggerUnavailableError


def _hint(i: int) -> tuple[object, dict[str, str]]:
    payload = {"alertname": f"A{i}", "namespace": "shop"}
    return parse_alert(payload), payload


async def test_concurrent_alerts_are_sent_in_fewer_posts_and_all_confirmed() -> None:
    posts: list[list[dict[str, object]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posts.append(json.loads(request.content))
        return httpx.Response(204)

    trig = EventTrigger("http://prefect/api", transport=httpx.MockTransport(handler))
    ids = await asyncio.gather(*(trig.fire(*_hint(i)) for i in range(50)))  # type: ignore[arg-type]
    sent = [e for batch in posts for e in batch]
    assert sorted(str(e["id"]) for e in sent) == sorted(ids) and len(set(ids)) == 50
    assert len(posts) < 50 and all(e["event"] == EVENT_NAME for e in sent)
    assert {e["payload"]["alert"]["alertname"] for e in sent} == {f"A{i}" for i in range(50)}  # type: ignore[index]


async def test_a_down_server_is_retried_then_reported_to_every_waiting_caller() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ConnectError("connection refused")

    trig = EventTrigger(
        "http://prefect/api", attempts=3, backoff_s=0.0, transport=httpx.MockTransport(handler)
    )
    results = await asyncio.gather(
        *(trig.fire(*_hint(i)) for i in range(3)), return_exceptions=True
    )  # type: ignore[arg-type]
    assert all(isinstance(r, TriggerUnavailableError) for r in results)
    assert calls["n"] % 3 == 0 and calls["n"] >= 3


async def test_a_refusal_is_not_retried() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(422, json={"detail": "bad event"})

    trig = EventTrigger(
        "http://prefect/api", attempts=5, backoff_s=0.0, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(TriggerUnavailableError, match="refused"):
        await trig.fire(*_hint(0))  # type: ignore[arg-type]
    assert calls["n"] == 1
