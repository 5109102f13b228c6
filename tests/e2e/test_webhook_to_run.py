"""Webhook → Prefect event → the self-healing deployment's trigger → a completed healing run.

Real parts only: a ``prefect server start`` process, ``deployments.serve`` serving the
self-healing deployment from ``prefect.yaml`` in its own process, the webhook receiver
in its own process, and real HTTP between them.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter

from deployments.webhook.guards import SIGNATURE_HEADER, sign
from tests.e2e.conftest import PrefectServer
from tests.e2e.procs import PY, Proc, base_env, final_run, free_port, poll_until, running

EXAMPLE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "alertmanager_webhook_example.json"
).read_bytes()
SECRET = "e2e-hmac-secret"
SERVE = textwrap.dedent(
    """
    import json, sys
    from prefect import serve
    from deployments.serve import build_deployments
    overrides = json.loads(sys.argv[1])
    print("serving", list(overrides), flush=True)
    serve(*build_deployments(list(overrides), overrides))
    """
)


def serve_proc(server: PrefectServer, tmp: Path, overrides: dict[str, dict[str, Any]]) -> Proc:
    env = base_env(server.home, server.url) | {
        "SWARMKIT_SELFHEAL__MEMORY_DIR": str(tmp / "memory"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    return Proc("serve", [PY, "-c", SERVE, json.dumps(overrides)], env)


def healing_runs(client: SyncPrefectClient) -> list[Any]:
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["self-healing"]))
    )


def webhook_proc(prefect_server: PrefectServer, **extra: str) -> tuple[Proc, str]:
    port = free_port()
    env = base_env(prefect_server.home, prefect_server.url) | {
        "SWARMKIT_WEBHOOK__PORT": str(port),
        "SWARMKIT_WEBHOOK__HMAC_SECRET": SECRET,
        "SWARMKIT_WEBHOOK__TOKEN": "e2e-token",
        "SWARMKIT_WEBHOOK__RATE_PER_S": "2",
        "SWARMKIT_WEBHOOK__BURST": "20",
        "SWARMKIT_WEBHOOK__MAX_BODY_BYTES": "65536",
        **extra,
    }
    return Proc("webhook", [PY, "-m", "deployments.webhook"], env), f"http://127.0.0.1:{port}"


@pytest.fixture
def webhook(prefect_server: PrefectServer) -> Iterator[str]:
    proc, url = webhook_proc(prefect_server)
    with running(proc):
        proc.wait_for("Uvicorn running on", timeout_s=60)
        yield url


def test_a_signed_alert_over_http_starts_one_healing_run_that_completes(
    prefect_server: PrefectServer, webhook: str, tmp_path: Path
) -> None:
    overrides = {"self-healing": {"schedules": [], "parameters": {"scenario": "missing-env-var"}}}
    with (
        running(serve_proc(prefect_server, tmp_path, overrides)) as serve,
        SyncPrefectClient(prefect_server.url) as client,
    ):
        serve.wait_for("being served", timeout_s=90)
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(SECRET, EXAMPLE, int(time.time())),
        }
        r = httpx.post(
            f"{webhook}/hooks/alertmanager", content=EXAMPLE, headers=headers, timeout=30
        )
        assert r.status_code == 202, r.text
        assert r.json()["event_id"]
        run = poll_until(
            lambda: next(iter(healing_runs(client)), None), 60, what="a self-healing flow run"
        )

        done = poll_until(lambda: final_run(client, run.id), 120, what="the run to finish")
        assert done.state is not None and done.state.is_completed(), serve.tail()
        assert done.parameters["alert"]["alerts"][0]["labels"]["alertname"] == "KubePodCrashLooping"
        result = done.state.result(raise_on_failure=False)
        (incident,) = result["incidents"]
        assert incident["outcome"] == "healed" and incident["root_cause"].endswith(
            "Deployment shop/payments"
        )
        # Alertmanager re-sends the same group: nothing new starts
        again = httpx.post(
            f"{webhook}/hooks/alertmanager", content=EXAMPLE, headers=headers, timeout=30
        )
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert len(healing_runs(client)) == 1


def test_hostile_requests_over_http_each_get_their_status_and_start_nothing(
    prefect_server: PrefectServer, webhook: str
) -> None:
    url = f"{webhook}/hooks/alertmanager"
    now = int(time.time())
    ok = {"content-type": "application/json"}
    cases = {
        "no auth": (ok, EXAMPLE, 401),
        "wrong signature": (ok | {SIGNATURE_HEADER: sign("wrong", EXAMPLE, now)}, EXAMPLE, 401),
        "stale timestamp": (
            ok | {SIGNATURE_HEADER: sign(SECRET, EXAMPLE, now - 3600)},
            EXAMPLE,
            401,
        ),
        "oversized body": (ok | {"authorization": "Bearer e2e-token"}, b" " * 70000, 413),
        "wrong content type": (
            {"content-type": "text/plain", "authorization": "Bearer e2e-token"},
            EXAMPLE,
            415,
        ),
        "malformed JSON": (ok | {"authorization": "Bearer e2e-token"}, b"{", 400),
        "missing fields": (ok | {"authorization": "Bearer e2e-token"}, b'{"version": "4"}', 422),
    }
    with SyncPrefectClient(prefect_server.url) as client:
        before = len(client.read_flow_runs(flow_run_filter=FlowRunFilter()))
        for name, (headers, body, status) in cases.items():
            r = httpx.post(url, content=body, headers=headers, timeout=30)
            assert r.status_code == status, (name, r.status_code, r.text)
        burst = [
            httpx.post(
                url, content=b"{", headers=ok | {"authorization": "Bearer e2e-token"}, timeout=30
            ).status_code
            for _ in range(25)
        ]
        assert 429 in burst, burst
        metrics = httpx.get(f"{webhook}/metrics", timeout=10).text
        assert (
            'outcome="rejected_rate_limit"' in metrics and 'outcome="rejected_auth"} 3' in metrics
        )
        assert len(client.read_flow_runs(flow_run_filter=FlowRunFilter())) == before


def test_a_scheduled_deployment_fires_on_its_own_under_serve(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    overrides = {
        "self-healing": {
            "schedules": [{"interval": 5, "active": True}],
            "triggers": [],
            "parameters": {"scenario": "bad-image-tag"},
        }
    }
    with (
        running(serve_proc(prefect_server, tmp_path, overrides)) as serve,
        SyncPrefectClient(prefect_server.url) as client,
    ):
        serve.wait_for("being served", timeout_s=90)

        def completed_scheduled() -> Any:
            runs = [fr for fr in healing_runs(client) if fr.parameters.get("alert") is None]
            return next((fr for fr in runs if fr.state and fr.state.is_completed()), None)

        run = poll_until(
            completed_scheduled, 120, interval_s=0.5, what="a scheduled run to complete"
        )
        assert run.auto_scheduled


def test_the_run_deployment_fallback_answers_with_the_flow_run_id(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    overrides = {
        "self-healing": {
            "schedules": [],
            "triggers": [],
            "parameters": {"scenario": "bad-image-tag"},
        }
    }
    proc, url = webhook_proc(prefect_server, SWARMKIT_WEBHOOK__MODE="run-deployment")
    with (
        running(serve_proc(prefect_server, tmp_path, overrides)) as serve,
        running(proc),
        SyncPrefectClient(prefect_server.url) as client,
    ):
        serve.wait_for("being served", timeout_s=90)
        proc.wait_for("Uvicorn running on", timeout_s=60)
        body = json.dumps(
            {"alertname": "CheckoutDown", "namespace": "shop", "fingerprint": "fallback-1"}
        ).encode()
        r = httpx.post(
            f"{url}/hooks/generic",
            content=body,
            headers={"content-type": "application/json", "authorization": "Bearer e2e-token"},
            timeout=60,
        )
        assert r.status_code == 202, r.text
        done = poll_until(
            lambda: final_run(client, r.json()["flow_run_id"]), 180, what="the fallback run"
        )
        assert done.state is not None and done.state.is_completed(), serve.tail()
        assert done.parameters["alert"]["alertname"] == "CheckoutDown"
