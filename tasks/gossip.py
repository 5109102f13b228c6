"""Prefect task over pattern 3: replicate edits by CRDT gossip under the simulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from patterns.gossip import Edit, GossipReport, GossipSettings, replicate
from patterns.settings import get_settings


def _settings(settings: GossipSettings | None) -> GossipSettings:
    if settings is not None:
        return settings
    group = getattr(get_settings(), "gossip", None)  # the project's settings group, if hooked in
    return group if isinstance(group, GossipSettings) else GossipSettings()


@task(
    name="gossip-sync",
    retries=0,  # the simulation is deterministic: a run that did not converge never will
    timeout_seconds=600,
    cache_policy=NO_CACHE,
    task_run_name="gossip-sync-n{nodes}-seed{seed}",
)
def gossip_sync(
    nodes: int,
    edits: Sequence[Edit | Mapping[str, Any]],
    seed: int = 0,
    loss: float = 0.0,
    duplicate: float = 0.0,
    reorder: float = 0.0,
    settings: GossipSettings | None = None,
) -> GossipReport:
    """Replicate ``edits`` across ``nodes`` gossip nodes and return the converged document.

    Runs on the deterministic simulator with random message faults until one
    second after the last edit; the report carries the document, round counts,
    messages and bytes. Retries only on retryable errors (a convergence timeout).
    """
    return replicate(
        nodes,
        edits,
        seed=seed,
        loss=loss,
        duplicate=duplicate,
        reorder=reorder,
        settings=_settings(settings),
    )
