"""The kernel demo flow, run for real under the Prefect test harness."""

from __future__ import annotations

import asyncio

import pytest
from prefect.client.orchestration import get_client

from flows.demo_kernel import kernel_demo
from patterns.core.exceptions import ConfigError
from tasks.kernel import broadcast_in_simulator


def test_simulator_task_body_reports_complete_delivery() -> None:
    report = broadcast_in_simulator.fn(4, 2, seed=3, loss=0.3)
    assert report.complete
    assert report.delivered_per_node == {n: 8 for n in range(4)}
    assert report.details["lost"] > 0  # the loss actually happened


def test_task_refuses_bad_sizes() -> None:
    with pytest.raises(ConfigError, match="nodes must be in"):
        broadcast_in_simulator.fn(0, 2)


def test_demo_flow_runs_and_publishes_artifacts() -> None:
    reports = kernel_demo(nodes=4, values=2, seed=1, loss=0.2)
    assert [r.runtime for r in reports] == ["simulator", "quic"]
    assert all(r.complete for r in reports)
    assert reports[1].delivered_per_node == {n: 8 for n in range(4)}

    async def artifact_keys() -> set[str]:
        async with get_client() as client:
            arts = await client.read_artifacts()
        return {a.key for a in arts if a.key}

    keys = asyncio.run(artifact_keys())
    assert {"kernel-demo-summary", "kernel-demo-simulator", "kernel-demo-quic"} <= keys
