"""A client node accepts a result only on f+1 authentic, matching replies."""

from __future__ import annotations

import pytest

from patterns.byzantine.auth import MacKeyring, generate_cluster
from patterns.byzantine.client import Client
from patterns.byzantine.messages import (
    Reply,
    ReplyBatch,
    ReplyEntry,
    Request,
    reply_batch_payload,
    reply_payload,
)
from patterns.core.ids import NodeId

HOST, OTHER = NodeId(4), NodeId(5)  # client 5 is hosted by client node 4


def _setup() -> tuple[Client, dict[int, MacKeyring], Request]:
    config, keys = generate_cluster(1, clients=[HOST, OTHER], seed=7, hosts={OTHER: HOST})
    client = Client(HOST, config, {HOST: keys[HOST], OTHER: keys[OTHER]})
    rings = {r: MacKeyring(keys[r], config) for r in config.replicas}
    client.submit(b"op", 1.0)
    ((_, req),) = client.drain_outbox()
    assert isinstance(req, Request)
    return client, rings, req


def _batch(ring: MacKeyring, req: Request, result: bytes, mac_for: int = HOST) -> ReplyBatch:
    entries = (ReplyEntry(req.client, req.timestamp, 1, result),)
    mac = ring.mac(mac_for, reply_batch_payload(0, ring.node_id, entries))
    return ReplyBatch(0, ring.node_id, None, entries, mac)


def test_f_plus_one_authentic_matching_batches_complete_the_request() -> None:
    client, rings, req = _setup()
    client.receive(0, _batch(rings[0], req, b"r"), 2.0)
    assert not client.completed  # one reply is not f+1
    client.receive(1, _batch(rings[1], req, b"r"), 2.0)
    (done,) = client.completed.values()
    assert done.result == b"r" and done.seq == 1 and client.rejected == 0


def test_a_forged_or_tampered_batch_counts_for_nothing() -> None:
    client, rings, req = _setup()
    good = _batch(rings[0], req, b"r")
    forged = ReplyBatch(0, 1, None, good.entries, b"\x00" * 16)
    tampered = ReplyBatch(
        0, 1, None, (ReplyEntry(req.client, req.timestamp, 1, b"evil"),), good.mac
    )
    replayed = ReplyBatch(0, 1, None, good.entries, good.mac)  # replica 0's MAC, sent as 1's
    client.receive(0, good, 2.0)
    for msg in (forged, tampered, replayed):
        client.receive(1, msg, 2.0)
    assert not client.completed
    assert client.rejected == 3


def test_a_batch_macd_for_another_client_of_the_same_node_proves_the_same() -> None:
    # the node holds both clients' keys: a MAC under either comes from the replica alone
    client, rings, req = _setup()
    client.receive(0, _batch(rings[0], req, b"r", mac_for=OTHER), 2.0)
    assert client.rejected == 1  # the first entry's client decides the key: not OTHER
    entries = (ReplyEntry(OTHER, 1, 1, b"x"), ReplyEntry(req.client, req.timestamp, 1, b"r"))
    for r in (0, 1):
        mac = rings[r].mac(OTHER, reply_batch_payload(0, r, entries))
        client.receive(r, ReplyBatch(0, r, None, entries, mac), 2.0)
    (done,) = client.completed.values()
    assert done.result == b"r"


def test_a_single_reply_is_checked_on_its_own_mac() -> None:
    client, rings, req = _setup()

    def reply(r: int, result: bytes, mac_result: bytes) -> Reply:
        payload = reply_payload(0, req.timestamp, req.client, r, 1, mac_result)
        return Reply(0, req.timestamp, req.client, r, 1, result, None, rings[r].mac(HOST, payload))

    client.receive(0, reply(0, b"r", b"r"), 2.0)
    client.receive(1, reply(1, b"r", b"other"), 2.0)  # its MAC is of another result
    assert not client.completed and client.rejected == 1
    client.receive(2, reply(2, b"r", b"r"), 2.0)
    assert client.completed


def test_replies_from_a_node_that_is_not_a_replica_are_refused() -> None:
    client, rings, req = _setup()
    batch = _batch(rings[0], req, b"r")
    client.receive(9, ReplyBatch(0, 9, None, batch.entries, batch.mac), 2.0)
    assert client.rejected == 1 and not client.completed


def test_taken_results_leave_the_client() -> None:
    client, rings, req = _setup()
    with pytest.raises(KeyError, match="no result yet"):
        client.take([0])
    for r in (0, 1):
        client.receive(r, _batch(rings[r], req, b"r"), 2.0)
    (done,) = client.take([0])
    assert done.result == b"r" and not client.completed
