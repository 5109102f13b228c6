"""The webhook receiver's checks, one by one (in-process HTTP; the e2e suite uses real sockets)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from apps.selfheal.alerts import AlertHint
from deployments.webhook.app import create_app
from deployments.webhook.guards import SIGNATURE_HEADER, RateLimiter, sign
from deployments.webhook.settings import WebhookSettings
from deployments.webhook.trigger import TriggerUnavailableError

EXAMPLE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "alertmanager_webhook_example.json"
).read_bytes()
SECRET, TOKEN = "hmac-secret", "bearer-token"


class RecordingTrigger:
    """Records what it was asked to start (a stand-in for the Prefect layer)."""

    kind = "event_id"

    def __init__(self, fail: int = 0) -> None:
        self.fired: list[AlertHint] = []
        self.fail = fail

    async def fire(self, hint: AlertHint, payload: Mapping[str, Any]) -> str:
        if self.fail:
            self.fail -= 1
            raise TriggerUnavailableError("prefect is down")
        self.fired.append(hint)
        return f"event-{len(self.fired)}"


def client(
    trigger: RecordingTrigger | None = None, **overrides: Any
) -> tuple[TestClient, RecordingTrigger]:
    trig = trigger or RecordingTrigger()
    settings = WebhookSettings(token=TOKEN, hmac_secret=SECRET, **overrides)
    return TestClient(create_app(settings, trig)), trig


def signed(body: bytes, at: float | None = None) -> dict[str, str]:
    return {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign(SECRET, body, int(time.time() if at is None else at)),
    }


BEARER = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}


def test_a_signed_alert_is_accepted_once_and_resends_start_nothing() -> None:
    c, trig = client()
    first = c.post("/hooks/alertmanager", content=EXAMPLE, headers=signed(EXAMPLE))
    assert first.status_code == 202 and first.json()["event_id"] == "event-1"
    assert first.json()["namespaces"] == ["shop"]
    again = c.post("/hooks/alertmanager", content=EXAMPLE, headers=BEARER)
    assert again.status_code == 200 and again.json() == {
        "status": "duplicate",
        "event_id": "event-1",
    }
    assert len(trig.fired) == 1 and trig.fired[0].alertnames == ["KubePodCrashLooping"]


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "application/json"}, EXAMPLE, 401),
        ({"content-type": "application/json", "authorization": "Bearer nope"}, EXAMPLE, 401),
        ({"content-type": "application/json", SIGNATURE_HEADER: "t=1,v1=00"}, EXAMPLE, 401),
        ({**signed(EXAMPLE, at=time.time() - 3600)}, EXAMPLE, 401),
        ({**signed(b"other body")}, EXAMPLE, 401),
        ({**BEARER, "content-type": "text/plain"}, EXAMPLE, 415),
        (BEARER, b"{not json", 400),
        (BEARER, json.dumps({"version": "4", "status": "firing"}).encode(), 422),
        (BEARER, b"x" * 300_000, 413),
    ],
    ids=[
        "no-auth",
        "wrong-token",
        "bad-signature",
        "stale-signature",
        "signature-of-other-body",
        "content-type",
        "malformed",
        "missing-field",
        "too-large",
    ],
)
def test_bad_requests_get_their_status_and_start_nothing(
    headers: dict[str, str], body: bytes, status: int
) -> None:
    c, trig = client()
    r = c.post("/hooks/alertmanager", content=body, headers=headers)
    assert r.status_code == status, r.text
    assert trig.fired == []
    if status == 401:
        assert r.json() == {"error": "unauthorized"}  # nothing about why
    if status == 422:
        assert "alerts" in r.json()["error"]


def test_a_generic_alert_names_its_missing_field() -> None:
    c, _ = client()
    r = c.post("/hooks/generic", content=json.dumps({"namespace": "shop"}), headers=BEARER)
    assert r.status_code == 422 and "alertname" in r.json()["error"]
    ok = c.post(
        "/hooks/generic",
        content=json.dumps({"alertname": "Errors", "namespace": "shop"}),
        headers=BEARER,
    )
    assert ok.status_code == 202
    wrong_route = c.post(
        "/hooks/alertmanager",
        content=json.dumps({"alertname": "E", "namespace": "s"}),
        headers=BEARER,
    )
    assert wrong_route.status_code == 422


def test_a_burst_above_the_rate_limit_gets_429_with_retry_after() -> None:
    c, trig = client(rate_per_s=1.0, burst=3)
    codes = []
    for i in range(5):
        body = json.dumps({"alertname": f"A{i}", "namespace": "shop"}).encode()
        codes.append(c.post("/hooks/generic", content=body, headers=BEARER))
    assert [r.status_code for r in codes] == [202, 202, 202, 429, 429]
    assert int(codes[3].headers["retry-after"]) >= 1 and len(trig.fired) == 3


def test_the_bucket_refills_with_time() -> None:
    lim = RateLimiter(rate=2.0, burst=1)
    assert lim.acquire("a", now=0.0) == 0.0
    assert lim.acquire("a", now=0.1) == pytest.approx(0.4)
    assert lim.acquire("a", now=0.6) == 0.0
    assert lim.acquire("b", now=0.6) == 0.0  # per source


def test_saturation_answers_503_instead_of_queueing() -> None:
    c, trig = client(max_in_flight=1)
    c.app.state.receiver.in_flight = 1  # one request is being handled
    r = c.post("/hooks/alertmanager", content=EXAMPLE, headers=BEARER)
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and trig.fired == []


def test_an_unreachable_orchestrator_gives_503_and_the_retry_acts() -> None:
    c, trig = client(RecordingTrigger(fail=1))
    down = c.post("/hooks/alertmanager", content=EXAMPLE, headers=BEARER)
    assert down.status_code == 503 and "retry" in down.json()["error"]
    up = c.post("/hooks/alertmanager", content=EXAMPLE, headers=BEARER)
    assert up.status_code == 202 and len(trig.fired) == 1


def test_a_resolved_alert_is_recorded_and_starts_nothing() -> None:
    data = json.loads(EXAMPLE)
    data["status"] = "resolved"
    data["alerts"] = [a | {"status": "resolved"} for a in data["alerts"]]
    c, trig = client()
    r = c.post("/hooks/alertmanager", content=json.dumps(data), headers=BEARER)
    assert r.status_code == 202 and r.json() == {
        "status": "recorded",
        "triggered": False,
        "resolved": 2,
    }
    assert trig.fired == []


def test_health_and_metrics() -> None:
    c, _ = client()
    c.post("/hooks/alertmanager", content=EXAMPLE, headers=BEARER)
    c.post("/hooks/alertmanager", content=EXAMPLE, headers={"content-type": "application/json"})
    assert c.get("/healthz").json()["status"] == "ok"
    text = c.get("/metrics").text
    assert 'swarmkit_webhook_requests_total{outcome="accepted"} 1' in text
    assert 'swarmkit_webhook_requests_total{outcome="rejected_auth"} 1' in text
    assert "swarmkit_webhook_latency_seconds_count 2" in text


def test_the_receiver_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(ValueError, match="bearer token or an HMAC secret"):
        create_app(WebhookSettings(), RecordingTrigger())


def test_the_token_can_come_from_a_prefect_secret_block() -> None:
    from prefect.blocks.system import Secret

    from deployments.webhook.__main__ import load_token

    Secret(value="from-a-block").save("swarmkit-webhook-token-test", overwrite=True)
    assert load_token(WebhookSettings(secret_block="swarmkit-webhook-token-test")) == "from-a-block"
    assert load_token(WebhookSettings(token="direct", secret_block="ignored")) == "direct"
    assert load_token(WebhookSettings()) is None
