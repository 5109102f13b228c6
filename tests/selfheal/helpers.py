"""Shared helpers of the self-healing tests."""

from __future__ import annotations

import functools
from pathlib import Path

from apps.k8s.scenario import Scenario, load_catalog
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal.loop import Healer, HealerFaults
from apps.selfheal.records import Trajectory
from apps.selfheal.settings import SelfHealSettings

HORIZON_AFTER_FAULT_S = 900.0


@functools.cache
def catalog() -> dict[str, Scenario]:
    """The scenario catalog (loaded once)."""
    return load_catalog()


def heal(
    sc: Scenario,
    memory: Path,
    seed: int = 0,
    settings: SelfHealSettings | None = None,
    faults: HealerFaults | None = None,
    max_incidents: int = 1,
) -> tuple[SimCluster, Healer, list[Trajectory]]:
    """Run the loop on a scenario's simulated cluster until ``max_incidents`` or the horizon."""
    sim = SimCluster.from_scenario(sc, seed)
    healer = Healer(
        sim, settings or SelfHealSettings(), memory_dir=memory, seed=seed, faults=faults
    )
    last = max((f.at_s for f in sc.faults), default=0.0)
    try:
        trajs = healer.run(
            healer.now_s() + last + HORIZON_AFTER_FAULT_S, max_incidents=max_incidents
        )
    finally:
        healer.close()
    return sim, healer, trajs


def applied(trajs: list[Trajectory]) -> list[str]:
    """What the loop really changed, in order."""
    return [e.action.describe() for t in trajs for e in t.executions if e.applied]
