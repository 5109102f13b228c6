"""The receiver against what an outside tester found: each test failed before its fix.

1. any failure to start a run releases the alerts' claim (a missing deployment: 503 naming it);
2. long annotations and large groups are accepted (cut and counted), a long label is named;
3. a partial resolve is a duplicate, a new firing alert in the group is new work;
4. bodies that are valid JSON but not objects get 422, too deep nesting 400, all counted;
5. a generic alert recurs: by its startsAt, else after a short window;
6. unauthenticated requests never count against MAX_IN_FLIGHT;
7. ``--help``, a missing or ``/api``-less PREFECT_API_URL, settings errors naming the variable.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from apps.selfheal.alerts import ANNOTATION_MAX_CHARS, AlertHint, parse_alert
from apps.selfheal.exceptions import InvalidAlertError
from deployments.webhook.app import create_app
from deployments.webhook.guards import SIGNATURE_HEADER, sign
from deployments.webhook.settings import TriggerMode, WebhookSettings
from deployments.webhook.trigger import (
    DeploymentNotFoundError,
    EventTrigger,
    RunDeploymentTrigger,
)

EXAMPLE = json.loads(
    (
        Path(__file__).resolve().parents[3]
        / "shared"
        / "data"
        / "alertmanager_webhook_example.json"
    ).read_bytes()
)
SECRET, TOKEN = "hmac-secret", "bearer-token"
BEARER = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}


class Trigger:
    """Records what it starts; ``errors`` are raised first, one per call."""

    kind = "event_id"

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.fired: list[tuple[AlertHint, dict[str, Any]]] = []

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.fired.append((hint, dict(payload)))
        return f"event-{len(self.fired)}"


def make(trigger: Any = None, **overrides: Any) -> tuple[TestClient, Any]:
    trig = trigger or Trigger()
    app = create_app(WebhookSettings(token=TOKEN, hmac_secret=SECRET, **overrides), trig)
    return TestClient(app), trig


def post(c: TestClient, body: object, route: str = "alertmanager") -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return c.post(f"/hooks/{route}", content=content, headers=BEARER)


def alert(
    name: str, status: str = "firing", starts: str = "2026-12-05T06:00:00Z"
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "PodDown", "namespace": "shop", "pod": name},
        "annotations": {"summary": f"{name} is down"},
        "startsAt": starts,
        "fingerprint": f"fp-{name}",
    }


def group(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "status": "firing" if firing else "resolved",
        "receiver": "self-healing",
        "groupKey": '{}:{alertname="PodDown"}',
        "commonLabels": {"alertname": "PodDown", "namespace": "shop"},
        "alerts": list(alerts),
    }


def metric(c: TestClient, outcome: str) -> int:
    prefix = f'swarmkit_webhook_requests_total{{outcome="{outcome}"}} '
    lines = [x for x in c.get("/metrics").text.splitlines() if x.startswith(prefix)]
    return int(lines[0].removeprefix(prefix)) if lines else 0


# ------------------------------------------------------------------- 1. trigger failures
class ObjectNotFoundLike(Exception):
    """What Prefect raises for a missing deployment (not a TriggerUnavailableError)."""


@pytest.mark.parametrize(
    "error",
    [ObjectNotFoundLike("404 Deployment not found"), RuntimeError("boom"), KeyError("id")],
    ids=["prefect-error", "runtime-error", "key-error"],
)
def test_any_failure_to_start_the_run_releases_the_claim_and_the_retry_acts(
    error: Exception,
) -> None:
    c, trig = make(Trigger(error))
    failed = post(c, EXAMPLE)
    assert failed.status_code == 500, failed.text
    assert "could not be started" in failed.json()["error"]
    assert "Traceback" not in failed.text and len(failed.text) < 200
    retry = post(c, EXAMPLE)
    assert retry.status_code == 202 and retry.json()["event_id"] == "event-1", retry.text
    assert post(c, EXAMPLE).json()["status"] == "duplicate" and len(trig.fired) == 1
    assert metric(c, "trigger_error") == 1 and metric(c, "accepted") == 1


def test_a_cancelled_trigger_releases_the_claim() -> None:
    c, trig = make(Trigger(asyncio.CancelledError()))
    with pytest.raises(BaseException):  # noqa: B017 - the request dies with its task
        post(c, EXAMPLE)
    assert not c.app.state.receiver.deduper.seen  # type: ignore[attr-defined]
    assert post(c, EXAMPLE).status_code == 202 and len(trig.fired) == 1


def test_a_missing_deployment_answers_503_naming_it_and_keeps_no_claim() -> None:
    """A real ``run_deployment`` against the test Prefect server, deployment absent."""
    missing = "self-healing/not-deployed-yet"
    trig = RunDeploymentTrigger(missing, attempts=1, backoff_s=0.0)
    c, _ = make(trig, mode=TriggerMode.RUN_DEPLOYMENT, deployment=missing)
    for _ in range(2):  # the retry is not a "duplicate": the claim was released
        r = post(c, EXAMPLE)
        assert r.status_code == 503, r.text
        assert missing in r.json()["error"] and r.headers["retry-after"] == "30"
    assert metric(c, "misconfigured") == 2 and metric(c, "duplicate") == 0


async def test_run_deployment_names_the_missing_deployment() -> None:
    trig = RunDeploymentTrigger("self-healing/absent", attempts=3, backoff_s=0.0)
    with pytest.raises(DeploymentNotFoundError, match="'self-healing/absent' not found"):
        await trig.fire(parse_alert(EXAMPLE), EXAMPLE)


async def test_an_unexpected_error_sending_events_reaches_the_caller_and_the_sender_goes_on() -> (
    None
):
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("not a transport error")
        return httpx.Response(204)

    trig = EventTrigger("http://prefect/api", transport=httpx.MockTransport(handler))
    hint = parse_alert(EXAMPLE)
    with pytest.raises(ValueError, match="not a transport error"):
        await asyncio.wait_for(trig.fire(hint, EXAMPLE), 10)  # it used to wait forever
    assert await asyncio.wait_for(trig.fire(hint, EXAMPLE), 10) and calls["n"] == 2


# ------------------------------------------------------------------- 2. real notifications
def test_long_annotations_are_accepted_and_very_long_ones_cut() -> None:
    c, trig = make()
    body = group(alert("a"))
    body["alerts"][0]["annotations"]["description"] = "d" * 1152  # the tester's notification
    assert post(c, body).status_code == 202
    assert trig.fired[0][1]["alerts"][0]["annotations"]["description"] == "d" * 1152
    huge = group(alert("b"))
    huge["alerts"][0]["annotations"]["runbook"] = "r" * 40_000
    huge["commonAnnotations"] = {"summary": "s" * 20_000}
    r = post(c, huge)
    assert r.status_code == 202, r.text
    hint, sent = trig.fired[1]
    runbook = sent["alerts"][0]["annotations"]["runbook"]
    assert runbook.startswith("r" * ANNOTATION_MAX_CHARS) and "23616 characters cut" in runbook
    assert len(sent["commonAnnotations"]["summary"]) < ANNOTATION_MAX_CHARS + 40
    assert hint.truncated == 2 and len(hint.summary) < ANNOTATION_MAX_CHARS + 40
    assert "swarmkit_webhook_annotations_truncated_total 2" in c.get("/metrics").text


def test_a_group_past_the_cap_is_accepted_with_the_rest_dropped_and_counted() -> None:
    c, trig = make()
    alerts = [alert(f"p{i}") for i in range(1001)]
    alerts[-1]["labels"]["namespace"] = "billing"  # the only alert of its namespace: kept
    body = group(*alerts)
    r = post(c, body)
    assert r.status_code == 202 and r.json()["dropped"] == 1, r.text
    assert r.json()["namespaces"] == ["billing", "shop"]
    hint, sent = trig.fired[0]
    assert hint.dropped == 1 and hint.firing == 1000
    assert len(sent["alerts"]) == 1000 and sent["truncatedAlerts"] == 1
    assert sent["alerts"][-1]["labels"]["namespace"] == "billing"
    assert "p999" not in {a["labels"]["pod"] for a in sent["alerts"]}  # the last of shop's
    assert "swarmkit_webhook_alerts_dropped_total 1" in c.get("/metrics").text
    assert post(c, body).json()["status"] == "duplicate"  # the same alerts kept each time


def test_a_too_long_label_is_refused_naming_the_alert_and_the_label() -> None:
    c, trig = make()
    body = group(alert("a"), alert("b"))
    body["alerts"][1]["labels"]["image"] = "x" * 5000
    r = post(c, body)
    assert r.status_code == 422 and "alerts[1].labels.image" in r.json()["error"], r.text
    body = group(alert("a"), alert("b"))
    body["alerts"][1]["annotations"]["replicas"] = 3
    r = post(c, body)
    assert r.status_code == 422, r.text
    assert "alerts[1].annotations.replicas must be a string, got a number" in r.json()["error"]
    generic = {"alertname": "E", "namespace": "shop", "labels": {"pod": "y" * 5000}}
    r = post(c, generic, "generic")
    assert r.status_code == 422 and "labels.pod" in r.json()["error"]
    assert trig.fired == []


# ------------------------------------------------------------------- 3. dedupe identity
def test_a_partial_resolve_is_a_duplicate_and_a_new_firing_alert_is_new_work() -> None:
    c, trig = make()
    assert post(c, group(alert("a"), alert("b"))).status_code == 202
    partial = post(c, group(alert("a"), alert("b", "resolved")))
    assert partial.status_code == 200 and partial.json() == {
        "status": "duplicate",
        "event_id": "event-1",
    }
    grown = post(c, group(alert("a"), alert("b", "resolved"), alert("c")))
    assert grown.status_code == 202 and grown.json()["event_id"] == "event-2"
    assert post(c, group(alert("a", "resolved"), alert("c"))).status_code == 200
    again = post(c, group(alert("a", starts="2026-12-05T09:00:00Z")))  # fired anew later
    assert again.status_code == 202
    assert [h.firing for h, _ in trig.fired] == [2, 2, 1]


# ------------------------------------------------------------------- 4. JSON that is no object
@pytest.mark.parametrize(
    ("body", "got"),
    [
        (b"[1]", "an array"),
        (b"null", "null"),
        (b"3", "a number"),
        (b'"ab"', "a string"),
        (b'[["alertname","X"],["namespace","shop"]]', "an array"),
        (b"true", "a boolean"),
    ],
)
@pytest.mark.parametrize("route", ["alertmanager", "generic"])
def test_valid_json_that_is_not_an_object_gets_422_and_is_counted(
    body: bytes, got: str, route: str
) -> None:
    c, trig = make()
    r = post(c, body, route)
    assert r.status_code == 422, r.text
    assert "must be a JSON object" in r.json()["error"] and got in r.json()["error"]
    assert trig.fired == [] and metric(c, "rejected_schema") == 1


def test_too_deep_nesting_gets_400_and_is_counted() -> None:
    c, trig = make()
    r = post(c, b"[" * 100_000 + b"]" * 100_000)
    assert r.status_code == 400 and "nests too deeply" in r.json()["error"], r.text
    assert trig.fired == [] and metric(c, "rejected_malformed") == 1


def test_parse_alert_says_a_json_string_must_be_an_object() -> None:
    with pytest.raises(InvalidAlertError, match="must be a JSON object, got a string"):
        parse_alert('"ab"')
    with pytest.raises(InvalidAlertError, match="must be a JSON object, got an array"):
        parse_alert([["alertname", "X"], ["namespace", "shop"]])  # type: ignore[arg-type]
    with pytest.raises(InvalidAlertError, match="nests too deeply"):
        parse_alert("[" * 100_000)


# ------------------------------------------------------------------- 5. generic recurrence
def test_a_generic_alert_with_startsat_recurs_when_its_start_changes() -> None:
    c, trig = make()
    first = {"alertname": "Errors", "namespace": "shop", "startsAt": "2026-12-05T06:00:00Z"}
    assert post(c, first, "generic").status_code == 202
    assert post(c, first, "generic").status_code == 200
    later = first | {"startsAt": "2026-12-05T06:20:00Z"}
    assert post(c, later, "generic").status_code == 202 and len(trig.fired) == 2


def test_a_generic_alert_without_startsat_is_a_duplicate_only_within_the_window() -> None:
    c, trig = make(generic_window_s=300.0)
    now = [1000.0]
    c.app.state.receiver.deduper.clock = lambda: now[0]  # type: ignore[attr-defined]
    body = {"alertname": "Errors", "namespace": "shop", "summary": "5% errors"}
    assert post(c, body, "generic").status_code == 202
    now[0] += 299.0
    assert post(c, body, "generic").status_code == 200
    now[0] += 2.0  # 301 s after the first: a new occurrence
    assert post(c, body, "generic").status_code == 202 and len(trig.fired) == 2
    now[0] += 60.0  # the summary is not identity (like annotations): still the same occurrence
    assert post(c, body | {"summary": "6% errors"}, "generic").status_code == 200
    # an Alertmanager alert keeps DEDUP_TTL_S (a day), not the generic window
    assert post(c, EXAMPLE).status_code == 202
    now[0] += 3600.0
    assert post(c, EXAMPLE).status_code == 200


# ------------------------------------------------------------------- 6. auth before in-flight
class Gate:
    """A request body that stops after its first chunk until opened."""

    def __init__(self, body: bytes) -> None:
        self.body, self.reading, self.opened = body, asyncio.Event(), asyncio.Event()

    async def stream(self) -> AsyncIterator[bytes]:
        yield self.body[:10]
        self.reading.set()
        await self.opened.wait()
        yield self.body[10:]


async def test_unauthenticated_requests_do_not_count_against_max_in_flight() -> None:
    trig = Trigger()
    app = create_app(WebhookSettings(token=TOKEN, hmac_secret=SECRET, max_in_flight=1), trig)
    body = json.dumps(EXAMPLE).encode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hook") as client:
        url = "/hooks/alertmanager"
        # no credentials: refused before its body is read (the body never comes)
        never = Gate(body)
        r = await asyncio.wait_for(
            client.post(url, content=never.stream(), headers={"content-type": "application/json"}),
            10,
        )
        assert r.status_code == 401 and not never.reading.is_set()
        # a fresh signature with a wrong MAC: its body is read, but it is not yet in flight
        forged = [Gate(body) for _ in range(3)]
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign("x", body, int(time.time())),
        }
        pending = [
            asyncio.create_task(client.post(url, content=g.stream(), headers=headers))
            for g in forged
        ]
        await asyncio.wait_for(asyncio.gather(*(g.reading.wait() for g in forged)), 10)
        ok = await asyncio.wait_for(client.post(url, content=body, headers=BEARER), 10)
        assert ok.status_code == 202, ok.text
        for g in forged:
            g.opened.set()
        assert [r.status_code for r in await asyncio.gather(*pending)] == [401, 401, 401]
    assert len(trig.fired) == 1 and app.state.receiver.in_flight == 0


def test_two_replicas_send_one_alert_firing_under_one_event_id() -> None:
    # Prefect's event bus drops an id it saw recently: the bus below does what it does
    accepted: dict[str, dict[str, Any]] = {}

    def bus(request: httpx.Request) -> httpx.Response:
        for event in json.loads(request.content):
            accepted.setdefault(str(event["id"]), event)
        return httpx.Response(204)

    replicas = [
        make(EventTrigger("http://prefect/api", transport=httpx.MockTransport(bus)))[0]
        for _ in range(2)
    ]
    body = group(alert("web-1"), alert("web-2"))
    ids = {post(c, body).json()["event_id"] for c in replicas}  # a re-send reaching the other one
    assert len(ids) == 1 and len(accepted) == 1
    restarted = group(alert("web-1", starts="2026-12-05T07:00:00Z"), alert("web-2"))
    assert post(replicas[1], restarted).json()["event_id"] not in ids  # fired anew: a new run
    assert len(accepted) == 2
    generic = {"alertname": "Errors", "namespace": "shop"}  # no startsAt: always a fresh id
    first = post(replicas[0], generic, "generic").json()["event_id"]
    assert post(replicas[1], generic, "generic").json()["event_id"] != first
