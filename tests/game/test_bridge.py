"""Browser-side (websocket room) and gossip-side edits converge through the bridge, partitions included."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc

from apps.game.bridge import RoomBridge, doc_fingerprint
from apps.game.cluster import WorldCluster
from apps.game.generators import generate
from apps.game.level import GenParams
from apps.game.world import doc_snapshot, ensure_roots, put_rating, read_world


@pytest.mark.seeds(3)
def test_room_and_gossip_peers_converge_across_a_partition(sim_seed: int) -> None:
    c = WorldCluster(6, seed=sim_seed)
    room: Doc[Any] = Doc()
    ensure_roots(room)
    bridge = RoomBridge(room, lambda fn: c.sim.call(0, fn))
    lv = generate(GenParams(), sim_seed, author="peer-3")
    c.publish(3, lv.to_dict(), {"accepted": True})
    c.gossip_until_converged()
    bridge.sync()
    assert lv.level_id in read_world(doc_snapshot(room)).levels  # gossip -> room
    part = c.sim.partition([[0, 1, 2], [3, 4, 5]])
    with room.transaction():  # a browser rates while its host is cut off from peers 3..5
        put_rating(room, lv.level_id, "browser", 4, 1.0)
    bridge.sync()
    c.rate(4, lv.level_id, "gossip-peer", 2)  # a Python peer on the other side rates too
    c.sim.run(max_time=c.sim.now + 3.0)
    assert "browser" not in str(c.view(4).ratings)
    c.sim.heal(part)
    assert c.gossip_until_converged() < float("inf")
    bridge.sync()
    ratings = read_world(doc_snapshot(room)).ratings
    assert {r["player"] for r in ratings.values()} == {"browser", "gossip-peer"}
    assert c.view(5).ratings == ratings
    assert doc_fingerprint(room) == c.node(0).fingerprint
    assert bridge.sync() is False  # in step: nothing to do
    assert bridge.stats.to_gossip >= 1 and bridge.stats.to_room >= 1
