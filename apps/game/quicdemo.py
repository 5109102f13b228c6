"""The world replicated over real QUIC (pattern 3 on :class:`~patterns.net.quic.QuicCluster`), loopback."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apps.game.world import ROOTS, put_level, read_world
from patterns.byzantine.local import stop_runtime
from patterns.gossip import GossipNode, GossipSettings, gossip_codec
from patterns.net.quic import QuicCluster


async def replicate_over_quic(
    records: Sequence[dict[str, Any]], peers: int, certs_dir: str | Path, timeout_s: float = 30.0
) -> dict[str, float]:
    """Publish ``records`` at peer 0 of ``peers`` QUIC gossip nodes; seconds until all hold them."""
    cfg = GossipSettings()
    nodes = [GossipNode(i, range(peers), settings=cfg, roots=ROOTS) for i in range(peers)]
    cluster = QuicCluster(nodes, gossip_codec(), certs_dir)
    await cluster.start()
    try:
        t0 = time.perf_counter()

        def write(node: GossipNode, now: float) -> None:
            def fn(doc: Any) -> None:
                for r in records:
                    put_level(doc, r, {"accepted": True, "level": r["id"]})

            node.edit(fn, now)

        cluster.call(0, write)
        want = {r["id"] for r in records}

        def everywhere() -> bool:
            return all(want <= set(read_world(n.snapshot()).levels) for n in cluster.nodes.values())

        await cluster.run_until(everywhere, timeout_s)
        return {
            "peers": float(peers),
            "levels": float(len(want)),
            "seconds": time.perf_counter() - t0,
        }
    finally:
        for rt in cluster.runtimes.values():
            await stop_runtime(rt)  # works around two QuicNodeRuntime.stop bugs (see there)
