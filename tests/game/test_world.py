"""The world under gossip: partitions while peers keep working, then heal and converge; bad entries."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from apps.game.cluster import WorldCluster, partition_scenario, world_json
from apps.game.exceptions import RatingError
from apps.game.generators import generate
from apps.game.level import GenParams
from apps.game.memory import GameMemory
from apps.game.quicdemo import replicate_over_quic
from apps.game.settings import GameSettings
from apps.game.vote import QualityVote
from apps.game.world import read_world


@pytest.mark.seeds(3)
def test_partition_then_heal_converges(sim_seed: int) -> None:
    r = partition_scenario(peers=10, seed=sim_seed, partition_s=4.0)
    assert r.diverged_during_partition  # both sides kept working apart
    assert r.levels >= 8 and r.ratings > 0
    assert r.converged and r.nothing_lost, f"seed={sim_seed}"
    assert r.convergence_ms < 60_000


def test_partition_with_a_quality_vote_on_each_side(tmp_path: Path) -> None:
    memories = [GameMemory(tmp_path / f"side-{i}") for i in range(2)]
    votes = [QualityVote(GameSettings(), m) for m in memories]
    try:
        r = partition_scenario(peers=6, seed=4, partition_s=3.0, judges=[v.admit for v in votes])
    finally:
        for v in votes:
            v.close()
    assert r.levels + r.rejected == 6 and r.levels >= 4
    assert sum(len(v.admitted) for v in votes) == r.levels  # each side remembered its own
    assert r.converged and r.nothing_lost


def test_concurrent_ratings_of_one_level_all_survive() -> None:
    c = WorldCluster(4, seed=3)
    lv = generate(GenParams(), 1, author="peer-0")
    c.publish(0, lv.to_dict(), {"accepted": True})
    c.gossip_until_converged()
    for p in range(4):
        c.rate(p, lv.level_id, f"player-{p}", 1 + p)
    assert c.gossip_until_converged() < float("inf")
    views = [c.view(p) for p in range(4)]
    assert len({world_json(v) for v in views}) == 1
    assert views[0].mean_rating(lv.level_id) == pytest.approx(2.5)


def test_bad_ratings_and_entries_are_refused_or_skipped() -> None:
    c = WorldCluster(2, seed=0)
    lv = generate(GenParams(), 2)
    c.publish(0, lv.to_dict(), {"accepted": True})
    with pytest.raises(Exception, match=r"stars must be an integer 1\.\.5"):
        c.rate(0, lv.level_id, "p1", 9)
    with pytest.raises(Exception, match="not in the world"):
        c.rate(0, "nope", "p1", 3)
    view = read_world({"levels": {"x": "{not json", lv.level_id: json.dumps(lv.to_dict())}})
    assert list(view.levels) == [lv.level_id] and "levels['x']" in view.unreadable[0]
    assert issubclass(RatingError, Exception)


@pytest.mark.quic
def test_levels_replicate_over_quic(tmp_path: Path) -> None:
    records = [generate(GenParams(), s, author="peer-0").to_dict() for s in range(3)]
    out = asyncio.run(replicate_over_quic(records, 3, tmp_path / "certs"))
    assert out["levels"] == 3 and out["peers"] == 3 and out["seconds"] < 30
