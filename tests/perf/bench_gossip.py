"""Gossip replication benchmark: rounds, messages and bytes to spread one update; QUIC on loopback."""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from patterns.core.codec import Codec, Message
from patterns.core.settings import QuicSettings
from patterns.gossip.checkers import ConvergenceWatch, TrafficMeter
from patterns.gossip.document import ReplicatedDoc
from patterns.gossip.messages import REPLICATION_MESSAGES, gossip_codec
from patterns.gossip.naive import NaiveFullStateNode, naive_codec
from patterns.gossip.node import GossipNode, ReplicaNode
from patterns.gossip.settings import GossipSettings
from patterns.net.faults import FaultPlan, Latency, LatencyDistribution
from patterns.net.quic import QuicCluster
from patterns.net.sim import Simulator
from tests.gossip.quic_support import dispose_pathless_connections

BASE_KEYS = 200
VALUE = "v" * 100  # the benchmark edit: one map entry with a 100-character value
SETTINGS = GossipSettings()
REPLICATION = {t.__name__ for t in REPLICATION_MESSAGES} | {"FullState"}


def _base_document() -> bytes:
    doc = ReplicatedDoc(client_id=1)
    doc.transact(lambda _d: doc.map().update({f"base{k}": f"value-{k}" for k in range(BASE_KEYS)}))
    return doc.full_update()


BASE = _base_document()


def _factory(n: int, naive: bool, settings: GossipSettings) -> Any:
    def make(nid: int, rng: random.Random) -> ReplicaNode:
        cls = NaiveFullStateNode if naive else GossipNode
        node = cls(nid, range(n), rng, settings=settings)
        node.replica.apply_remote(BASE)
        return node

    return make


def spread_one_update(
    n: int,
    loss: float = 0.0,
    *,
    naive: bool = False,
    settings: GossipSettings = SETTINGS,
    latency_ms: float = 1.0,
    seed: int = 1,
) -> dict[str, float]:
    """Spread one edit over ``n`` nodes; figures from the edit until convergence."""
    t_wall = time.perf_counter()
    start = 2 * settings.period_s
    codec: Codec[Message] = naive_codec() if naive else gossip_codec()
    watch = ConvergenceWatch()
    meter = TrafficMeter(codec)
    lat = latency_ms / 1000
    plan = FaultPlan(
        seed=seed,
        latency=Latency(lat, lat, LatencyDistribution.FIXED),
        loss=loss,
        faults_from_s=start,
    )
    sim = Simulator(
        _factory(n, naive, settings),
        range(n),
        plan,
        codec=codec,
        checkers=[watch, meter],
        record=False,
    )
    sim.run(max_time=start)
    meter.reset()
    update = sim.call(0, lambda node, now: node.set_key("fresh", VALUE, now))
    assert update is not None
    result = sim.run(until=lambda s: watch.converged(s), max_time=start + 120.0)
    if not result.reached:
        raise RuntimeError(f"no convergence: {result.describe()}")
    wall = time.perf_counter() - t_wall
    elapsed = result.time - start
    repl_bytes = sum(b for k, b in meter.bytes_by_type.items() if k in REPLICATION)
    repl_msgs = sum(c for k, c in meter.by_type.items() if k in REPLICATION)
    return {
        "rounds": elapsed / settings.period_s,
        "sim_ms": elapsed * 1000,
        "wall_s": wall,
        "messages_per_node": meter.messages / n,
        "bytes_per_node": meter.bytes / n,
        "replication_messages_per_node": repl_msgs / n,
        "replication_bytes_per_node": repl_bytes / n,
        "update_bytes": float(len(update)),
        "document_bytes": float(len(BASE)),
    }


def _set(node: GossipNode, now: float, key: str) -> bytes | None:
    return node.set_key(key, VALUE, now)


async def _quic_cluster(nodes: int = 32, writers: int = 16) -> dict[str, float]:
    settings = GossipSettings(
        fanout=2,
        view_size=2,
        view_shuffle_s=60.0,
        period_s=0.2,
        probe_interval_s=3.0,
        probe_timeout_s=1.0,
        suspicion_timeout_s=30.0,
    )
    ids = list(range(nodes))
    members = [GossipNode(i, ids, random.Random(1000 + i), settings=settings) for i in ids]
    # A long reconnect backoff: while the runtimes stop one by one, the others do not
    # re-dial the stopped ones.
    quic = QuicSettings.model_validate(
        {"connect_timeout_s": 10.0, "reconnect_initial_s": 5.0, "reconnect_max_s": 10.0}
    )

    def converged() -> bool:
        docs = list(cluster.nodes.values())
        return all(d.fingerprint == docs[0].fingerprint for d in docs)

    with tempfile.TemporaryDirectory() as tmp:
        async with QuicCluster(members, gossip_codec(), Path(tmp) / "certs", quic) as cluster:
            t0 = time.perf_counter()
            cluster.call(0, lambda n, now: n.set_key("hello", "world", now))
            await cluster.run_until(converged, 120.0)
            cold = time.perf_counter() - t0
            before = sum(s.bytes_sent for s in cluster.stats().values())
            t1 = time.perf_counter()
            for w in range(writers):
                cluster.call(w * (nodes // writers), partial(_set, key=f"w{w}"))
            await cluster.run_until(converged, 120.0)
            warm = time.perf_counter() - t1
            sent = sum(s.bytes_sent for s in cluster.stats().values()) - before
            connects = sum(s.connects for s in cluster.stats().values())
            dispose_pathless_connections(cluster)
    return {
        "quic32_converge_ms": warm * 1000,
        "quic32_cold_converge_ms": cold * 1000,
        "quic32_bytes_per_node": sent / nodes,
        "quic32_connections": float(connects),
    }


def run_gossip_bench() -> dict[str, float]:
    """All gossip figures, flat.

    Every simulated run starts from a shared 200-key document already on every
    node (so a full-state push is realistically heavy), runs for two
    anti-entropy periods, then makes one edit on node 0 and runs until every
    node holds the same document. Links have a fixed 1 ms one-way latency; loss,
    when set, starts with the edit and never stops. Rounds are virtual time from
    the edit to convergence divided by the anti-entropy period. The naive
    baseline pushes the whole document to ``fanout`` random peers every period.
    """
    out: dict[str, float] = {
        "fanout": float(SETTINGS.fanout),
        "period_ms": SETTINGS.period_s * 1000,
    }
    for n in (10, 100, 1000):
        r = spread_one_update(n)
        ae = spread_one_update(n, settings=GossipSettings(rumor_hops=0))
        out[f"log2_n{n}"] = math.log2(n)
        out[f"rounds_n{n}"] = r["rounds"]
        out[f"rounds_anti_entropy_only_n{n}"] = ae["rounds"]
        out[f"sim_ms_n{n}"] = r["sim_ms"]
        out[f"messages_per_node_n{n}"] = r["messages_per_node"]
        out[f"bytes_per_node_n{n}"] = r["bytes_per_node"]
        if n == 1000:
            out["wall_s_n1000"] = r["wall_s"]
            out["sim_ms_n1000_1ms_links"] = r["sim_ms"]
            out["update_bytes"] = r["update_bytes"]
            out["replication_bytes_per_node_n1000"] = r["replication_bytes_per_node"]
            # bytes each node sent for the update, over (update size x fanout): target <= 2
            out["bytes_per_node_update_ratio"] = r["replication_bytes_per_node"] / (
                r["update_bytes"] * SETTINGS.fanout
            )
    for n in (10, 100, 1000):
        lossy = spread_one_update(n, loss=0.5)
        out[f"rounds_n{n}_loss50"] = lossy["rounds"]
        out[f"sim_ms_n{n}_loss50"] = lossy["sim_ms"]
        if n == 1000:
            out["wall_s_n1000_loss50"] = lossy["wall_s"]
    for n in (100, 1000):
        delta = spread_one_update(n)
        naive = spread_one_update(n, naive=True)
        out[f"naive_rounds_n{n}"] = naive["rounds"]
        out[f"naive_bytes_per_node_n{n}"] = naive["replication_bytes_per_node"]
        out[f"delta_bytes_per_node_n{n}"] = delta["replication_bytes_per_node"]
        if n == 1000:
            out["document_bytes"] = naive["document_bytes"]
            out["naive_bytes_ratio"] = (
                naive["replication_bytes_per_node"] / delta["replication_bytes_per_node"]
            )
            out["naive_wall_s_n1000"] = naive["wall_s"]
    out.update(asyncio.run(_quic_cluster()))
    return {k: round(v, 4) for k, v in out.items()}


if __name__ == "__main__":
    import json

    print(json.dumps(run_gossip_bench(), indent=2, sort_keys=True))
