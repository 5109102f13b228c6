"""Replication messages are authenticated per link, and updates are checked against the
document's schema before they touch it (issue 24, point 7)."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from patterns.gossip.document import ReplicatedDoc
from patterns.gossip.exceptions import MalformedUpdateError
from patterns.gossip.messages import MemberUpdate, Ping, Rumor, Status, SyncReply, gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.gossip.statevec import checksum
from patterns.net.linkkeys import LinkKeys

CODEC = gossip_codec()
PUSH = GossipSettings(rumor_hops=2, fanout=2)


def keyed(ids: list[int], seed: int = 5) -> dict[int, GossipNode]:
    """Nodes with link keys, every pair handshaken (what connecting over QUIC does)."""
    nodes = {i: GossipNode(i, ids, random.Random(seed + i), settings=PUSH) for i in ids}
    links = {i: LinkKeys(random.Random(seed * 100 + i).randbytes) for i in ids}
    for i, node in nodes.items():
        assert node.use_link_keys(links[i])
        node.start(0.0)
        node.drain_events()
    for a in ids:
        for b in ids:
            if a != b:
                links[b].accept(a, links[a].send_key(b))
    return nodes


def rumor_for(node: GossipNode, dst: int) -> Rumor:
    for d, msg in node.drain_outbox():
        if d == dst and isinstance(msg, Rumor):
            return msg
    raise AssertionError(f"no rumor for {dst}")


def test_mutated_updates_with_a_recomputed_crc_are_all_rejected() -> None:
    nodes = keyed([0, 1, 2])
    nodes[0].set_key("k", "value " * 10, 0.0)
    good = rumor_for(nodes[0], 1)
    victim = nodes[1]
    rng = random.Random(7)
    trials = 600
    for _ in range(trials):
        data = bytearray(good.update)
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if bytes(data) == good.update:
            data[0] ^= 1
        bad = Rumor(bytes(data), checksum(bytes(data)), good.hops, good.mac)
        victim.receive(0, CODEC.decode(CODEC.encode(bad)), 0.5)
    assert victim.snapshot()["map"] == {}
    assert victim.stats.rejected_updates == trials
    victim.receive(0, good, 0.6)
    assert victim.snapshot()["map"] == {"k": "value " * 10}


def test_a_node_cannot_pass_its_message_off_as_another_s() -> None:
    nodes = keyed([0, 1, 2])
    nodes[2].set_key("k", "from 2", 0.0)
    msg = rumor_for(nodes[2], 1)
    nodes[1].receive(0, msg, 0.5)  # MACed on the link 2 -> 1, delivered as if from 0
    assert nodes[1].snapshot()["map"] == {} and nodes[1].stats.rejected_updates == 1
    nodes[1].receive(2, msg, 0.5)
    assert nodes[1].snapshot()["map"] == {"k": "from 2"}


def test_every_replication_message_is_checked() -> None:
    nodes = keyed([0, 1])
    nodes[1].receive(0, SyncReply(b"", 0, b"\x00", 0, b"x" * 16), 0.5)  # forged state vector
    assert nodes[1].stats.rejected_updates == 1
    assert not [m for _, m in nodes[1].drain_outbox() if not hasattr(m, "gossip")]


def _foreign(root: str, kind: type) -> bytes:
    doc: Doc[Any] = Doc()
    doc[root] = kind()
    if kind is Text:
        doc[root] += "injected"
    else:
        doc[root]["x"] = 1
    return doc.get_update()


def test_an_update_that_adds_a_root_is_refused_with_the_document_unchanged() -> None:
    replica = ReplicatedDoc(1)
    replica.transact(lambda d: d["map"].__setitem__("a", 1))
    before = replica.fingerprint
    with pytest.raises(MalformedUpdateError, match=r"creates root\(s\) \['evil'\]"):
        replica.apply_remote(_foreign("evil", Text))
    assert replica.fingerprint == before and "evil" not in list(replica.doc.keys())
    assert replica.apply_remote(_foreign("map", Map))  # inside the schema: applies
    assert replica.snapshot()["map"] == {"a": 1.0, "x": 1.0}


def _put(doc: Doc[Any], key: str, value: int) -> None:
    doc["map"][key] = value


def test_the_shadow_follows_every_kind_of_local_change() -> None:
    """Local edits, direct edits of the pycrdt doc and remote updates interleaved: every
    genuine update still applies, and the replica equals a plain document fed the same."""
    rng = random.Random(11)
    mine, peer = ReplicatedDoc(1), ReplicatedDoc(2)
    plain: Doc[Any] = Doc()
    plain["map"] = Map()
    for step in range(300):
        roll = rng.random()
        if roll < 0.3:
            _, update = mine.transact(partial(_put, key=f"m{step}", value=step))
            assert update is not None
            plain.apply_update(update)
        elif roll < 0.4:
            mine.doc["map"][f"direct{step}"] = step  # straight on the pycrdt document
            plain.apply_update(mine.doc.get_update(plain.get_state()))
        else:
            _, update = peer.transact(partial(_put, key=f"p{step % 40}", value=step))
            assert update is not None
            mine.apply_remote(update)
            plain.apply_update(update)
    assert mine.snapshot()["map"] == plain["map"].to_py()


def test_swim_probes_are_authenticated_too() -> None:
    nodes = keyed([0, 1, 2])
    forged = Ping(seq=1, incarnation=0, gossip=[MemberUpdate(2, Status.DEAD, 5)])
    nodes[1].receive(0, forged, 0.5)  # no MAC: a forged "node 2 is dead"
    assert nodes[1].membership.status_of(2) is Status.ALIVE
    assert nodes[1].stats.rejected_updates == 1
