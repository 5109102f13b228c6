"""Thin Prefect tasks of the game app: generate, vote, replicate, personalize (logic in apps.game)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from apps.game.byzantine import bad_proposals
from apps.game.cluster import partition_scenario, peer_kind
from apps.game.exceptions import GameBackendError
from apps.game.generators import generate
from apps.game.level import GenParams
from apps.game.memory import GameMemory
from apps.game.personalize import Policy, run_personalization
from apps.game.quicdemo import replicate_over_quic
from apps.game.settings import GameSettings
from apps.game.vote import Dishonesty, Proposal, QualityVote


@task(name="game-generate", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def generate_levels(
    peers: int, per_peer: int, seed: int, settings: GameSettings
) -> tuple[list[Proposal], float]:
    """Each authoring peer generates ``per_peer`` levels with its own family; proposals and levels/s."""
    t0 = time.perf_counter()
    out = []
    for p in range(peers):
        for i in range(per_peer):
            d = ((p * per_peer + i) * 0.37 + seed * 0.11) % 1.0
            params = GenParams(peer_kind(p), settings.width, settings.height, d, (i % 4) / 3)
            lv = generate(params, seed * 100_003 + p * 1_000 + i, author=f"peer-{p}")
            out.append(Proposal(lv.to_dict(), d, lv.author))
    return out, len(out) / max(1e-9, time.perf_counter() - t0)


@task(name="game-bad-proposals", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def byzantine_proposals(
    n: int, seed: int, settings: GameSettings, known: list[dict[str, Any]]
) -> list[Proposal]:
    """``n`` bad proposals from Byzantine peers (unsolvable, oversized, malformed, duplicates)."""
    return bad_proposals(n, seed, max_side=settings.max_side, memory_levels=known)


@task(
    name="game-quality-vote",
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=lambda t, r, s: isinstance(
        s.result(raise_on_failure=False), GameBackendError
    ),
    timeout_seconds=1800,
    cache_policy=NO_CACHE,
)
def quality_vote(
    proposals: list[Proposal],
    settings: GameSettings,
    memory_dir: str,
    dishonest: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Put each proposal to the five voters; accepted levels go to memory. One row per proposal."""
    memory = GameMemory(memory_dir)
    vote = QualityVote(
        settings, memory, dishonest={k: Dishonesty(v) for k, v in (dishonest or {}).items()}
    )
    rows = []
    try:
        for p in proposals:
            v = vote.admit(p)  # an accepted level is remembered: later copies are refused
            rows.append(
                {
                    "proposer": p.proposer,
                    "verdict": v.to_dict(),
                    "metrics": v.metrics,
                    "level": p.level,
                }
            )
    finally:
        vote.close()
        memory.close()
    return rows


@task(name="game-partition", retries=0, timeout_seconds=600, cache_policy=NO_CACHE)
def partition_convergence(
    peers: int, seed: int, settings: GameSettings, memory_dir: str | None = None
) -> dict[str, Any]:
    """Partition the simulated peers, keep working, heal; convergence time and checks.

    With ``memory_dir`` each side of the partition runs the full quality vote with its
    own memory; without, peers gate their levels with their own solver run.
    """
    votes: list[QualityVote] = []
    memories: list[GameMemory] = []
    if memory_dir is not None:
        memories = [GameMemory(Path(memory_dir) / f"side-{i}") for i in range(2)]
        votes = [QualityVote(settings, m) for m in memories]
    try:
        r = partition_scenario(peers, seed, judges=[v.admit for v in votes] if votes else None)
    finally:
        for v in votes:
            v.close()
        for m in memories:
            m.close()
    return {
        "peers": r.peers,
        "seed": r.seed,
        "levels": r.levels,
        "rejected": r.rejected,
        "ratings": r.ratings,
        "convergence_ms": round(r.convergence_ms, 2),
        "converged": r.converged,
        "nothing_lost": r.nothing_lost,
    }


@task(
    name="game-quic-replicate",
    retries=1,
    retry_delay_seconds=2,
    timeout_seconds=120,
    cache_policy=NO_CACHE,
)
def quic_replicate(records: list[dict[str, Any]], peers: int, certs_dir: str) -> dict[str, float]:
    """Replicate accepted levels among ``peers`` gossip nodes over real QUIC on loopback."""
    return asyncio.run(replicate_over_quic(records, peers, Path(certs_dir)))


@task(name="game-personalize", retries=0, timeout_seconds=1800, cache_policy=NO_CACHE)
def personalization(
    policy: Policy, players: int, sessions: int, seed: int, memory_dir: str | None
) -> dict[str, Any]:
    """Run simulated players against the bandit (or random offers); mean stars per session."""
    memory = GameMemory(memory_dir) if memory_dir else None
    try:
        r = run_personalization(
            policy, players=players, sessions=sessions, seed=seed, memory=memory
        )
    finally:
        if memory is not None:
            memory.close()
    return {"policy": r.policy, "session_means": r.session_means, "gain": r.gain}
