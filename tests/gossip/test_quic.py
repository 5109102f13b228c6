"""Gossip over real QUIC: 32 nodes on loopback converge after concurrent edits (time, bytes)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patterns.core.settings import QuicSettings
from patterns.gossip.messages import gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.net.quic import QuicCluster
from tests.gossip.quic_support import dispose_pathless_connections

pytestmark = pytest.mark.quic

NODES = 32
WRITERS = 16
TIMEOUT_S = 90.0
# Each QUIC connection costs a TLS handshake (~10-30 ms of CPU on this 2-core machine),
# so nodes keep a small partial view: it bounds the connections to about NODES * view * 2.
# Probing is slow and suspicion patient, so a busy machine does not raise false alarms.
SETTINGS = GossipSettings(
    fanout=2,
    view_size=2,
    view_shuffle_s=60.0,
    period_s=0.2,
    probe_interval_s=3.0,
    probe_timeout_s=1.0,
    suspicion_timeout_s=30.0,
)


@pytest.fixture(scope="module", autouse=True)
def prefect_harness() -> Iterator[None]:
    """These tests never touch Prefect: skip the suite-wide Prefect test server."""
    yield


def _edit(writer: int) -> Callable[[GossipNode, float], bytes | None]:
    def command(node: GossipNode, now: float) -> bytes | None:
        node.set_key(f"w{writer}", writer, now)
        return node.insert_text(0, f"<{writer}>", now)

    return command


def _converged(cluster: QuicCluster[GossipNode]) -> Callable[[], bool]:
    def converged() -> bool:
        docs = list(cluster.nodes.values())
        return all(n.fingerprint == docs[0].fingerprint for n in docs)

    return converged


async def test_32_nodes_converge_over_quic_after_concurrent_edits(
    tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    ids = list(range(NODES))
    nodes = [GossipNode(i, ids, random.Random(1000 + i), settings=SETTINGS) for i in ids]
    # A long reconnect backoff: while the runtimes stop one by one, the others do not
    # re-dial the stopped ones (dials in flight at shutdown only add to the teardown).
    quic = QuicSettings.model_validate(
        {"connect_timeout_s": 10.0, "reconnect_initial_s": 5.0, "reconnect_max_s": 10.0}
    )
    async with QuicCluster(nodes, gossip_codec(), tmp_path / "certs", quic) as cluster:
        try:
            cold_s, warm_s, sent = await converge_twice(cluster)
        finally:
            dispose_pathless_connections(cluster)
    expected = {f"w{w}": float(w) for w in range(WRITERS)} | {"hello": "world"}
    for node in cluster.nodes.values():
        doc = node.snapshot()
        assert doc["map"] == expected
        tokens = doc["text"].strip("<>").split("><")
        assert sorted(tokens, key=int) == [str(w) for w in range(WRITERS)]
    stats = cluster.stats()
    assert all(s.malformed_frames == 0 and s.node_errors == 0 for s in stats.values())
    record_property("quic32_cold_converge_ms", round(cold_s * 1000, 1))
    record_property("quic32_converge_ms", round(warm_s * 1000, 1))
    record_property("quic32_bytes_sent", sent)
    print(
        f"\n32 nodes over QUIC: cold {cold_s * 1000:.0f} ms (incl. handshakes), "
        f"concurrent edits converged in {warm_s * 1000:.0f} ms, {sent} bytes "
        f"({sent // NODES} per node), {sum(s.connects for s in stats.values())} connections"
    )


async def converge_twice(cluster: QuicCluster[GossipNode]) -> tuple[float, float, int]:
    """One edit (cold: it also opens each view's connections), then 16 concurrent ones.

    Returns the cold and warm convergence times (s) and the bytes sent while warm.
    """
    t0 = time.perf_counter()
    cluster.call(0, lambda n, now: n.set_key("hello", "world", now))
    await cluster.run_until(_converged(cluster), TIMEOUT_S)
    cold_s = time.perf_counter() - t0
    before = sum(s.bytes_sent for s in cluster.stats().values())
    t1 = time.perf_counter()
    for w in range(WRITERS):
        cluster.call(w * (NODES // WRITERS), _edit(w))
    await cluster.run_until(_converged(cluster), TIMEOUT_S)
    warm_s = time.perf_counter() - t1
    return cold_s, warm_s, sum(s.bytes_sent for s in cluster.stats().values()) - before


async def test_a_document_over_the_message_limit_reaches_a_fresh_node_over_quic(
    tmp_path: Path,
) -> None:
    small = SETTINGS.model_copy(update={"max_update_bytes": 16 << 10, "rumor_hops": 0})
    ids = [0, 1, 2]
    nodes = [GossipNode(i, ids, random.Random(50 + i), settings=small) for i in ids]
    codec = gossip_codec(max_frame_bytes=small.max_update_bytes + 4096)  # as gossip's run.py
    quic = QuicSettings.model_validate({"connect_timeout_s": 10.0})

    def write(node: GossipNode, now: float) -> None:
        node.edit(
            lambda _doc: node.replica.map().update({f"k{k}": f"{k}" * 400 for k in range(500)}), now
        )

    async with QuicCluster(nodes[:2], codec, tmp_path / "certs", quic) as cluster:
        try:
            cluster.call(0, write)
            assert len(cluster.node(0).replica.full_update()) > 8 * small.max_update_bytes
            await cluster.run_until(_converged(cluster), TIMEOUT_S)
            await cluster.start_node(nodes[2])  # a node that joins with nothing
            await cluster.run_until(_converged(cluster), TIMEOUT_S)
        finally:
            dispose_pathless_connections(cluster)
    assert nodes[2].snapshot() == nodes[0].snapshot()
    assert nodes[2].stats.transfers_joined >= 1
    assert all(s.oversized_frames == 0 for s in cluster.stats().values())
