"""The gossip node driven by hand (sans-IO): what each message carries, and bad input."""

from __future__ import annotations

import logging
import random

import pytest

from patterns.core.codec import Message
from patterns.gossip.events import ClientIdRotated, DocChanged, LocalEdit, UpdateRejected
from patterns.gossip.messages import (
    Rumor,
    SyncReply,
    SyncRequest,
    SyncUpdate,
    UpdatePart,
    gossip_codec,
)
from patterns.gossip.naive import FullState, NaiveFullStateNode
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.gossip.statevec import checksum

CODEC = gossip_codec()
QUIET = GossipSettings(rumor_hops=0)  # anti-entropy only


def make(ids: list[int], settings: GossipSettings = QUIET) -> dict[int, GossipNode]:
    nodes = {i: GossipNode(i, ids, random.Random(100 + i), settings=settings) for i in ids}
    for n in nodes.values():
        n.start(0.0)
        n.drain_events()
    return nodes


def replication(node: GossipNode) -> list[tuple[int, Message]]:
    """Drain the outbox; keep only replication messages (drop SWIM traffic)."""
    return [
        (dst, msg)
        for dst, msg in node.drain_outbox()
        if isinstance(msg, Rumor | SyncRequest | SyncReply | SyncUpdate | UpdatePart | FullState)
    ]


def pump(nodes: dict[int, GossipNode], first: int) -> list[tuple[int, int, Message]]:
    """Deliver replication messages (through the codec) until none are left; return them."""
    log: list[tuple[int, int, Message]] = []
    queue = [(first, dst, msg) for dst, msg in replication(nodes[first])]
    while queue:
        src, dst, msg = queue.pop(0)
        msg = CODEC.decode(CODEC.encode(msg))
        log.append((src, dst, msg))
        nodes[dst].receive(src, msg, 1.0)
        queue += [(dst, d, m) for d, m in replication(nodes[dst])]
    return log


def shared_base(nodes: dict[int, GossipNode], keys: int) -> None:
    writer = nodes[min(nodes)]
    for k in range(keys):
        writer.set_key(f"base{k}", "x" * 20, 0.0)
    full = writer.replica.full_update()
    for n in nodes.values():
        if n is not writer:
            n.replica.apply_remote(full)
        n.drain_outbox()


def test_anti_entropy_ships_only_the_missing_delta() -> None:
    nodes = make([0, 1])
    shared_base(nodes, 200)
    delta = nodes[0].set_key("fresh", 42, 0.0)
    assert delta is not None
    nodes[1].sync_now(1.0)
    log = pump(nodes, 1)
    kinds = [type(m).__name__ for _, _, m in log]
    assert kinds == ["SyncRequest", "SyncReply"]  # node 1 had nothing node 0 lacked
    reply = log[1][2]
    assert isinstance(reply, SyncReply) and reply.state == b""
    full = len(nodes[0].replica.full_update())
    assert len(reply.update) < len(delta) + 40 < full / 20
    assert nodes[1].snapshot() == nodes[0].snapshot()
    assert nodes[1].snapshot()["map"]["fresh"] == 42.0


def test_peers_in_step_exchange_a_single_small_message() -> None:
    nodes = make([0, 1])
    shared_base(nodes, 50)
    nodes[0].sync_now(1.0)
    log = pump(nodes, 0)
    assert [type(m).__name__ for _, _, m in log] == ["SyncRequest"]
    assert nodes[1].stats.syncs_in_step == 1
    assert len(CODEC.encode(log[0][2])) < 40


def test_push_pull_repairs_both_sides_in_three_messages() -> None:
    nodes = make([0, 1])
    shared_base(nodes, 10)
    nodes[0].append("from-0", 0.0)
    nodes[1].insert_text(0, "from-1", 0.0)
    nodes[0].sync_now(1.0)
    log = pump(nodes, 0)
    assert [type(m).__name__ for _, _, m in log] == ["SyncRequest", "SyncReply", "SyncUpdate"]
    assert nodes[0].fingerprint == nodes[1].fingerprint
    assert nodes[1].snapshot()["array"] == ["from-0"]
    assert nodes[0].snapshot()["text"] == "from-1"


def test_a_deletion_alone_is_repaired_although_state_vectors_are_equal() -> None:
    nodes = make([0, 1])
    shared_base(nodes, 5)
    sv = dict(nodes[1].replica.state_vector)
    nodes[0].delete_key("base3", 0.0)
    assert nodes[0].replica.state_vector == sv  # deletions do not move the state vector
    nodes[0].sync_now(1.0)
    pump(nodes, 0)
    assert "base3" not in nodes[1].snapshot()["map"]
    assert nodes[0].fingerprint == nodes[1].fingerprint


def test_rumors_travel_a_bounded_number_of_hops_and_stop_at_duplicates() -> None:
    ids = list(range(6))
    nodes = make(ids, GossipSettings(rumor_hops=2, fanout=1))
    nodes[0].set_key("hot", 1, 0.0)
    (first_dst, first), *rest = replication(nodes[0])
    assert not rest and isinstance(first, Rumor) and first.hops == 1
    nodes[first_dst].receive(0, first, 0.1)
    (second_dst, second), *rest = replication(nodes[first_dst])
    assert not rest and isinstance(second, Rumor) and second.hops == 0
    assert second_dst != 0
    nodes[second_dst].receive(first_dst, second, 0.2)
    assert replication(nodes[second_dst]) == []  # out of hops
    nodes[first_dst].receive(0, first, 0.3)
    assert replication(nodes[first_dst]) == []  # already known: the rumor dies
    holders = [i for i in ids if "hot" in nodes[i].snapshot()["map"]]
    assert holders == sorted({0, first_dst, second_dst})


def test_local_edits_emit_their_update_and_state() -> None:
    nodes = make([0, 1])
    update = nodes[0].set_key("k", [1, 2], 0.0)
    events = nodes[0].drain_events()
    assert [type(e) for e in events] == [LocalEdit, DocChanged]
    edit = events[0]
    assert isinstance(edit, LocalEdit) and edit.update == update
    assert edit.client_id == nodes[0].replica.client_id
    assert nodes[0].delete_key("absent", 0.0) is None  # nothing changed, nothing to ship


@pytest.mark.parametrize("corruption", ["bitflip", "truncated", "garbage-with-valid-crc"])
def test_bad_rumor_is_rejected_counted_logged_and_not_forwarded(
    corruption: str, caplog: pytest.LogCaptureFixture
) -> None:
    nodes = make([0, 1, 2], GossipSettings(rumor_hops=3))
    good = nodes[0].set_key("k", "v" * 30, 0.0)
    assert good is not None
    if corruption == "bitflip":
        bad = Rumor(good[:10] + bytes([good[10] ^ 4]) + good[11:], checksum(good), 2)
    elif corruption == "truncated":
        bad = Rumor(good[:-3], checksum(good), 2)
    else:
        junk = b"\x03\xff\xff\xff\x7f\x00\x01"
        bad = Rumor(junk, checksum(junk), 2)
    victim = nodes[1]
    before = (victim.replica.state, victim.snapshot())
    with caplog.at_level(logging.WARNING, logger="patterns.gossip.node"):
        victim.receive(0, CODEC.decode(CODEC.encode(bad)), 0.5)
    assert (victim.replica.state, victim.snapshot()) == before
    assert victim.stats.rejected_updates == 1
    assert replication(victim) == []
    events = victim.drain_events()
    assert len(events) == 1 and isinstance(events[0], UpdateRejected)
    assert events[0].src == 0 and events[0].kind == "rumor"
    assert any("rejected rumor" in r.getMessage() for r in caplog.records)
    # the genuine update still applies afterwards
    victim.receive(0, Rumor(good, checksum(good), 0), 0.6)
    assert victim.snapshot()["map"] == {"k": "v" * 30}


def test_malformed_state_vectors_are_rejected() -> None:
    nodes = make([0, 1])
    nodes[0].set_key("k", 1, 0.0)
    nodes[0].drain_outbox()
    nodes[0].receive(1, SyncRequest(b"\x05\x01", 0), 1.0)
    nodes[0].receive(1, SyncReply(b"", 0, b"\x02\x80", 0), 1.0)
    assert nodes[0].stats.rejected_updates == 2
    assert replication(nodes[0]) == []


def test_updates_over_the_size_limit_are_neither_sent_nor_accepted() -> None:
    small = GossipSettings(max_update_bytes=1024, rumor_hops=4)
    nodes = make([0, 1], small)
    big = nodes[0].set_key("big", "x" * 2000, 0.0)
    assert big is not None and len(big) > 1024
    assert replication(nodes[0]) == []
    assert nodes[0].stats.oversized_updates == 1
    nodes[1].receive(0, Rumor(big, checksum(big), 0), 0.1)
    assert nodes[1].stats.rejected_updates == 1 and nodes[1].snapshot()["map"] == {}


def test_a_reused_client_id_is_rotated_before_it_can_collide() -> None:
    a = GossipNode(0, [0, 1], random.Random(1), settings=QUIET, client_id=777)
    b = GossipNode(1, [0, 1], random.Random(2), settings=QUIET, client_id=777)
    for n in (a, b):
        n.start(0.0)
        n.drain_events()
    update = a.set_key("from-a", 1, 0.0)
    assert update is not None
    b.receive(0, Rumor(update, checksum(update), 0), 0.1)
    rotated = [e for e in b.drain_events() if isinstance(e, ClientIdRotated)]
    assert len(rotated) == 1 and rotated[0].old == 777 and b.replica.client_id != 777
    b_update = b.set_key("from-b", 2, 0.2)
    assert b_update is not None
    a.receive(1, Rumor(b_update, checksum(b_update), 0), 0.3)
    assert (
        a.snapshot()
        == b.snapshot()
        == {
            "map": {"from-a": 1.0, "from-b": 2.0},
            "array": [],
            "text": "",
        }
    )


def test_naive_full_state_push_sends_the_whole_document_every_round() -> None:
    ids = [0, 1, 2]
    nodes = {i: NaiveFullStateNode(i, ids, random.Random(i), settings=QUIET) for i in ids}
    for n in nodes.values():
        n.start(0.0)
    for k in range(30):
        nodes[0].set_key(f"k{k}", k, 0.0)
    full = nodes[0].replica.full_update()
    nodes[0].handle_timer(1.0)
    out = nodes[0].drain_outbox()
    assert len(out) == 2 and all(isinstance(m, FullState) and m.update == full for _, m in out)
    for dst, msg in out:
        nodes[dst].receive(0, msg, 1.0)
    assert nodes[1].snapshot() == nodes[2].snapshot() == nodes[0].snapshot()


def test_a_sync_larger_than_one_message_travels_in_parts() -> None:
    small = GossipSettings(max_update_bytes=1024, rumor_hops=0)
    nodes = make([0, 1], small)
    for k in range(20):
        nodes[0].set_key(f"k{k}", "x" * 200, 0.0)
    nodes[0].drain_outbox()
    nodes[1].sync_now(1.0)
    log = pump(nodes, 1)
    parts = [m for _, _, m in log if isinstance(m, UpdatePart)]
    assert len(parts) >= 4 and all(len(p.data) <= 1024 for p in parts)
    assert nodes[1].snapshot() == nodes[0].snapshot()
    assert nodes[1].stats.transfers_joined == 1 and nodes[0].stats.oversized_updates == 0


def test_parts_outside_the_limits_are_rejected_and_end_their_transfer() -> None:
    small = GossipSettings(max_update_bytes=1024, max_transfer_bytes=4096, rumor_hops=0)
    nodes = make([0, 1], small)
    update = nodes[0].set_key("k", "v" * 1500, 0.0)
    assert update is not None and 1024 < len(update) <= 2048
    crc, size = checksum(update), len(update)
    good = [UpdatePart(7, i, 2, size, crc, update[i * 1024 : (i + 1) * 1024]) for i in (0, 1)]
    victim = nodes[1]
    bad = [
        UpdatePart(1, 2, 2, size, crc, b"x"),  # index past the end
        UpdatePart(1, 0, 2, 5000, crc, b"x"),  # over max_transfer_bytes
        UpdatePart(1, 0, 2, size, crc, b"x" * 1025),  # a part over max_update_bytes
        UpdatePart(1, 0, 3, 2, crc, b"x"),  # more parts than bytes
        UpdatePart(1, 0, 2, size, crc, b""),  # an empty part
    ]
    for msg in bad:
        victim.receive(0, msg, 1.0)
    assert victim.stats.rejected_updates == len(bad) and victim.snapshot()["map"] == {}
    victim.receive(0, good[0], 1.0)
    victim.receive(0, UpdatePart(7, 1, 2, size, crc ^ 1, good[1].data), 1.0)  # disagrees
    assert victim.stats.rejected_updates == len(bad) + 1
    for _ in range(2):  # its transfer ended: this starts a new one; the duplicate is ignored
        victim.receive(0, good[1], 1.0)
    assert victim.snapshot()["map"] == {} and victim.stats.transfers_joined == 0
    victim.receive(0, good[0], 1.0)
    assert victim.snapshot()["map"] == {"k": "v" * 1500}
    assert victim.stats.transfers_joined == 1


def test_a_corrupted_part_fails_the_whole_update_s_checksum() -> None:
    small = GossipSettings(max_update_bytes=1024, rumor_hops=0)
    nodes = make([0, 1], small)
    update = nodes[0].set_key("k", "v" * 1500, 0.0)
    assert update is not None
    crc, size = checksum(update), len(update)
    flipped = bytes([update[1100] ^ 0xFF])
    corrupted = update[:1100] + flipped + update[1101:]
    for i in (0, 1):
        nodes[1].receive(
            0, UpdatePart(3, i, 2, size, crc, corrupted[i * 1024 : (i + 1) * 1024]), 1.0
        )
    assert nodes[1].stats.rejected_updates == 1 and nodes[1].snapshot()["map"] == {}


def test_transfer_limits_are_checked_against_the_message_limit() -> None:
    with pytest.raises(ValueError, match="max_transfer_bytes"):
        GossipSettings(max_update_bytes=4096, max_transfer_bytes=2048)
