"""Reliable broadcast under many seeded fault schedules (the kernel's end-to-end check)."""

from __future__ import annotations

import pytest

from patterns.net.faults import (
    ByzantineBehavior,
    ByzantineKind,
    ByzantineNode,
    ClockSkew,
    FaultPlan,
    PartitionMode,
    RandomPartitions,
    ScheduledCrash,
)
from tests.sim.test_simulator import broadcast_run


def plan_for(seed: int) -> FaultPlan:
    mode = list(PartitionMode)[seed % 3]
    return FaultPlan(
        seed=seed,
        loss=(seed % 5) / 10,
        duplicate=0.1,
        reorder=0.2,
        partitions=[RandomPartitions(mode, 0.2, 0.1, 1.0)],
        clock_skew=ClockSkew(max_offset_s=float(seed % 7), max_drift_ppm=200),
        faults_until_s=4.0,
    )


@pytest.mark.seeds(60)
def test_broadcast_delivers_everything_once_in_order(sim_seed: int) -> None:
    sim = broadcast_run(plan_for(sim_seed), n=4 + sim_seed % 4, values=3)
    assert sim.stats.delivered > 0


@pytest.mark.seeds(20)
def test_byzantine_delay_and_duplicates_do_not_break_fifo(sim_seed: int) -> None:
    plan = plan_for(sim_seed)
    plan = FaultPlan.from_dict(
        {
            **plan.to_dict(),
            "byzantine": [
                {
                    "node": 1,
                    "behaviors": [{"kind": "delay", "probability": 0.5, "max_delay_s": 0.5}],
                }
            ],
        }
    )
    assert plan.byzantine == [ByzantineNode(1, [ByzantineBehavior(ByzantineKind.DELAY, 0.5, 0.5)])]
    broadcast_run(plan, n=5)


def test_crashed_receiver_catches_up_after_restart() -> None:
    # Node 2 is down before any value reaches it; retransmissions fill it in after restart.
    plan = FaultPlan(seed=3, scheduled_crashes=[ScheduledCrash(2, at_s=0.0005, restart_at_s=0.5)])
    sim = broadcast_run(plan, n=4, origins=[0, 1, 3])
    assert sim.stats.crashes == 1 and sim.stats.restarts == 1
    assert sim.stats.to_crashed > 0
    assert len(sim.nodes[2].delivered) == 9  # type: ignore[attr-defined]
