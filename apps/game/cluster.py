"""Python peers of the world under the deterministic simulator: pattern-3 gossip, partitions, healing.

Each peer holds a replica of the world document (a :class:`~patterns.gossip.GossipNode`
with the world's roots). The partition scenario splits the peers into two halves;
while cut off, every peer keeps generating levels (its own generator family), gating
them with its own solver run, publishing them, and rating levels it can see. After
the heal, the run continues until every replica holds the same document; the time
from heal to convergence is the measurement.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.game.generators import generate
from apps.game.level import GeneratorKind, GenParams
from apps.game.records import Proposal, Verdict
from apps.game.solver import solve
from apps.game.world import ROOTS, WorldView, put_level, put_rating, read_world
from patterns.gossip import SimulatedCluster
from patterns.net.sim import Simulator

KINDS = tuple(GeneratorKind)


def peer_kind(peer: int) -> GeneratorKind:
    """The generator family peer ``peer`` runs (peers differ)."""
    return KINDS[peer % len(KINDS)]


class WorldCluster(SimulatedCluster):
    """``peers`` world replicas gossiping on the simulator (a :class:`SimulatedCluster` of the
    world document's roots)."""

    ROOTS = ROOTS

    def publish(self, peer: int, record: dict[str, Any], vote: dict[str, Any]) -> None:
        """Write an accepted level at ``peer``."""
        self.edit(peer, lambda doc, now: put_level(doc, record, vote))

    def rate(self, peer: int, level: str, player: str, stars: int) -> None:
        """Write a rating at ``peer``."""
        self.edit(peer, lambda doc, now: put_rating(doc, level, player, stars, now))

    def view(self, peer: int) -> WorldView:
        """The world as ``peer`` sees it."""
        return read_world(self.node(peer).snapshot())


@dataclass
class PartitionReport:
    """Outcome of one partition-and-heal run.

    Attributes:
        peers: cluster size.
        seed: the seed.
        levels: levels published (on both sides of the partition).
        ratings: ratings made.
        convergence_ms: virtual milliseconds from the heal to equal replicas.
        converged: all replicas equal at the end.
        nothing_lost: every published level and rating is on every replica.
        diverged_during_partition: the two sides differed before the heal.
        rejected: proposals the quality vote refused (with ``judges``).
    """

    peers: int
    seed: int
    levels: int
    ratings: int
    convergence_ms: float
    converged: bool
    nothing_lost: bool
    diverged_during_partition: bool
    rejected: int = 0
    published: list[str] = field(default_factory=list)


def partition_scenario(
    peers: int = 20,
    seed: int = 0,
    *,
    levels_per_peer: int = 1,
    ratings_per_peer: int = 2,
    partition_s: float = 6.0,
    size: tuple[int, int] = (16, 12),
    max_converge_s: float = 120.0,
    judges: Sequence[Callable[[Proposal], Verdict]] | None = None,
) -> PartitionReport:
    """Split ``peers`` in two halves, keep working on both sides, heal, measure convergence.

    Args:
        judges: one quality vote per side of the partition (each side votes with its own
            memory, as cut-off peers must); None: each peer gates its levels with its own
            solver run only (fast, for large sweeps).
    """
    rng = random.Random(seed)
    cluster = WorldCluster(peers, seed=seed)
    sim = cluster.sim
    ids = list(range(cluster.peers))
    rng.shuffle(ids)
    half = len(ids) // 2
    sides = [sorted(ids[:half]), sorted(ids[half:])]
    sim.run(max_time=1.0)  # membership settles
    part = sim.partition(sides, label="halves")
    t_part = sim.now
    published: list[str] = []
    rejected = [0]
    made: list[tuple[str, str]] = []
    actions: list[tuple[float, int, str]] = []
    for p in range(cluster.peers):
        for _ in range(levels_per_peer):
            actions.append((t_part + rng.uniform(0.1, partition_s * 0.5), p, "level"))
        for _ in range(ratings_per_peer):
            actions.append((t_part + rng.uniform(partition_s * 0.5, partition_s - 0.1), p, "rate"))
    actions.sort()

    def act(s: Simulator, p: int, what: str) -> None:
        if what == "level":
            params = GenParams(
                kind=peer_kind(p),
                width=size[0],
                height=size[1],
                difficulty=rng.random(),
                style=rng.random(),
            )
            level = generate(params, rng.getrandbits(32), author=f"peer-{p}")
            if judges is not None:
                side = 0 if p in sides[0] else 1
                verdict = judges[side](Proposal(level.to_dict(), params.difficulty, level.author))
                rejected[0] += not verdict.accepted
                if not verdict.accepted:
                    return
                record = {**level.to_dict(), "metrics": verdict.metrics}
                vote = verdict.to_dict()
            else:
                sol = solve(level.grid)
                if not sol.solvable:  # the peer's own gate
                    return
                record = {**level.to_dict(), "metrics": sol.metrics()}
                vote = {"accepted": True, "level": level.level_id, "gate": "solver", "approvals": 1}
            cluster.publish(p, record, vote)
            published.append(level.level_id)
        else:
            seen = list(cluster.view(p).levels)
            if seen:
                level_id = rng.choice(seen)
                player = f"player-{p}"
                cluster.rate(p, level_id, player, rng.randint(1, 5))
                made.append((level_id, player))

    for t, p, what in actions:
        sim.at(t, functools.partial(act, p=p, what=what))
    sim.run(max_time=t_part + partition_s)
    a, b = cluster.view(sides[0][0]), cluster.view(sides[1][0])
    diverged = set(a.levels) != set(b.levels) or set(a.ratings) != set(b.ratings)
    sim.heal(part)
    taken = cluster.gossip_until_converged(max_converge_s)
    views = [cluster.view(p) for p in range(cluster.peers)]
    lost = any(
        not set(published) <= set(v.levels)
        or not {f"{lv}|{pl}" for lv, pl in made} <= set(v.ratings)
        for v in views
    )
    return PartitionReport(
        peers=cluster.peers,
        seed=seed,
        levels=len(published),
        ratings=len(made),
        convergence_ms=taken * 1000.0,
        converged=cluster.converged(),
        nothing_lost=not lost,
        diverged_during_partition=diverged,
        rejected=rejected[0],
        published=published,
    )


def world_json(view: WorldView) -> str:
    """A stable JSON dump of a world view (for comparing replicas in tests)."""
    return json.dumps(
        {
            "levels": view.levels,
            "votes": view.votes,
            "ratings": view.ratings,
            "progress": view.progress,
        },
        sort_keys=True,
    )
