"""The Prefect layer: the task body through ``.fn`` and the demo flow run for real."""

from __future__ import annotations

import json

from prefect.client.orchestration import get_client

from flows.demo_ephemeral import ephemeral_demo
from tasks.ephemeral import run_ephemeral


async def test_run_ephemeral_task_body() -> None:
    figures = await run_ephemeral.fn(seed=3, bursts=4, max_idle_s=2.0)
    assert figures["items"] == figures["items_ok"] == figures["completed"] > 0
    assert figures["saving_pct"] >= 90.0
    again = await run_ephemeral.fn(seed=3, bursts=4, max_idle_s=2.0)
    assert again == figures  # seeded and virtual-time: reproducible


async def test_demo_flow_publishes_the_accounting() -> None:
    figures = await ephemeral_demo(seed=1, bursts=3)
    assert figures["saving_pct"] >= 90.0 and figures["live_agents"] == 0
    async with get_client() as client:
        artifacts = await client.read_artifacts()
    found = [a for a in artifacts if a.key == "ephemeral-demo-accounting"]
    assert found, "no ephemeral-demo-accounting artifact"
    data = found[-1].data
    rows = json.loads(data) if isinstance(data, str) else data
    table = {row["figure"]: row["value"] for row in rows}
    assert table["spawns"] == figures["spawns"]
    assert table["saving_pct"] == round(figures["saving_pct"], 3)
