"""Prefect surface benchmark (`make bench NAME=surface`): the webhook over real HTTP, alert to run, UI.

A real ``prefect server start`` process and the webhook receiver as its own process
(event mode, every check on: HMAC signature, size, content type, schema, rate limit,
in-flight bound, de-duplication, confirmed event POST). Throughput runs before any
deployment listens, so no flow runs are started by it; then the self-healing deployment
is served with its event trigger to time alert → flow-run Running, to count runs per
re-sent alert group, and to open the UI in Chromium (screenshots under
``bench-results/screenshots/``).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

from deployments.webhook.guards import SIGNATURE_HEADER, sign
from tests.e2e.procs import (
    PY,
    Proc,
    base_env,
    final_run,
    free_port,
    poll_until,
    running,
    start_prefect_server,
)
from tests.perf.run import OUT_DIR

SECRET = "bench-secret"
LATENCY_N = 300
LOAD_N = 3000
LOAD_CONCURRENCY = 32
RUN_START_N = 5


def _alert(i: int, tag: str) -> bytes:
    return json.dumps(
        {"alertname": f"Bench{tag}{i}", "namespace": "shop", "fingerprint": f"{tag}-{i}"}
    ).encode()


def _headers(body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign(SECRET, body, int(time.time())),
    }


async def _load(port: int, path: str) -> float:
    """Accepted alerts per second from LOAD_CONCURRENCY keep-alive connections.

    A small raw HTTP/1.1 client (prebuilt signed requests, status line and body read
    back) so that the load generator, not the receiver, is not what is measured.
    """

    def request(i: int) -> bytes:
        body = _alert(i, "load")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"{SIGNATURE_HEADER}: {sign(SECRET, body, int(time.time()))}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    accepted = 0

    async def worker(ids: range) -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in ids:
            writer.write(request(i))
            await writer.drain()
            status = (await reader.readline()).split()[1]
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            accepted += status == b"202"
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(
        *(worker(range(k, LOAD_N, LOAD_CONCURRENCY)) for k in range(LOAD_CONCURRENCY))
    )
    return accepted / (time.perf_counter() - t0)


def _hostile(url: str) -> int:
    now = int(time.time())
    good = _alert(0, "hostile")
    ok = {"content-type": "application/json"}
    cases = [
        (ok, good, 401),
        (ok | {SIGNATURE_HEADER: sign("wrong", good, now)}, good, 401),
        (ok | {SIGNATURE_HEADER: sign(SECRET, good, now - 3600)}, good, 401),
        (_headers(b" " * 300_000), b" " * 300_000, 413),
        ({**_headers(good), "content-type": "text/plain"}, good, 415),
        (_headers(b"{"), b"{", 400),
        (_headers(b'{"namespace": "x"}'), b'{"namespace": "x"}', 422),
    ]
    rejected = sum(
        httpx.post(url, content=b, headers=h, timeout=30).status_code == s for h, b, s in cases
    )
    return rejected


def run_surface_bench() -> dict[str, float]:
    from tests.e2e.test_ui import CHROMIUM

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        home = tmp / "home"
        server, api, ui = start_prefect_server(home)
        with running(server):
            hook_port = free_port()
            env = base_env(home, api) | {
                "SWARMKIT_WEBHOOK__PORT": str(hook_port),
                "SWARMKIT_WEBHOOK__HMAC_SECRET": SECRET,
                "SWARMKIT_WEBHOOK__RATE_PER_S": "100000",
                "SWARMKIT_WEBHOOK__BURST": "100000",
                "SWARMKIT_WEBHOOK__MAX_IN_FLIGHT": "256",
            }
            with running(Proc("webhook", [PY, "-m", "deployments.webhook"], env)) as hook:
                hook.wait_for("Uvicorn running on", 60)
                url = f"http://127.0.0.1:{hook_port}/hooks/generic"
                lat = []
                with httpx.Client(timeout=30) as client:
                    for i in range(LATENCY_N):
                        body = _alert(i, "lat")
                        t0 = time.perf_counter()
                        r = client.post(url, content=body, headers=_headers(body))
                        lat.append((time.perf_counter() - t0) * 1000)
                        assert r.status_code == 202, r.text
                rps = asyncio.run(_load(hook_port, "/hooks/generic"))
                rejected = _hostile(url)
                figures = _with_deployment(tmp, home, api, ui, url, CHROMIUM)
        lat.sort()
        return {
            "webhook_p50_ms": round(statistics.median(lat), 3),
            "webhook_p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 3),
            "webhook_rps": round(rps, 1),
            "bad_requests_rejected": float(rejected),
            "bad_request_cases": 7.0,
            **figures,
        }


def _with_deployment(
    tmp: Path, home: Path, api: str, ui: str, url: str, chromium: str | None
) -> dict[str, float]:
    from tests.e2e.test_ui import check_artifacts_in_browser

    serve_code = (
        "import json, sys\nfrom prefect import serve\nfrom deployments.serve import build_deployments\n"
        "o = json.loads(sys.argv[1])\nprint('serving', flush=True)\nserve(*build_deployments(list(o), o))\n"
    )
    overrides = {"self-healing": {"schedules": [], "parameters": {"scenario": "bad-image-tag"}}}
    env = base_env(home, api) | {
        "SWARMKIT_SELFHEAL__MEMORY_DIR": str(tmp / "memory"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    with (
        running(Proc("serve", [PY, "-c", serve_code, json.dumps(overrides)], env)) as serve,
        SyncPrefectClient(api) as client,
    ):
        serve.wait_for("being served", 90)

        def runs() -> list[Any]:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["self-healing"]))
            )

        starts = []
        for i in range(RUN_START_N):
            body = _alert(i, "run")
            t0 = time.perf_counter()
            r = httpx.post(url, content=body, headers=_headers(body), timeout=30)
            assert r.status_code == 202, r.text

            def running_run(i: int = i) -> Any:
                for fr in runs():
                    alert = (fr.parameters or {}).get("alert") or {}
                    if (
                        alert.get("alertname") == f"Benchrun{i}"
                        and fr.state
                        and (fr.state.is_running() or fr.state.is_final())
                    ):
                        return fr
                return None

            run = poll_until(running_run, 120, interval_s=0.05, what=f"run {i} to start")
            starts.append(time.perf_counter() - t0)
            poll_until(lambda run=run: final_run(client, run.id), 180, what=f"run {i} to finish")
        for _ in range(5):  # Alertmanager re-sends the same group
            body = _alert(0, "run")
            httpx.post(url, content=body, headers=_headers(body), timeout=30)
        same = [
            fr
            for fr in runs()
            if ((fr.parameters or {}).get("alert") or {}).get("alertname") == "Benchrun0"
        ]
        last = client.read_flow_run(same[0].id)
        seen = 0.0
        if chromium:
            seen = check_artifacts_in_browser(ui, str(last.id), OUT_DIR / "screenshots")[
                "ui_artifacts_seen"
            ]
    return {
        "alert_to_run_start_p50_s": round(statistics.median(starts), 3),
        "alert_to_run_start_max_s": round(max(starts), 3),
        "duplicate_runs": float(len(same) - 1),
        "ui_artifacts_seen": seen,
    }
