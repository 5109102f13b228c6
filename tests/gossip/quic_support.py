"""Support for gossip over QUIC in tests and benchmarks."""

from __future__ import annotations

from typing import Any

from patterns.net.quic import QuicCluster


def dispose_pathless_connections(cluster: QuicCluster[Any]) -> None:
    """Dispose of inbound connections that never got a network path, before shutdown.

    aioquic can create an inbound connection for a packet it then rejects ("Packet
    contains no CRYPTO frame"). The runtime's ``_Connection.transmit`` now skips such
    connections; this belt-and-braces cleanup stays until a test pins that fix.
    """
    for rt in cluster.runtimes.values():
        for conn in list(rt._conns):
            if not conn._quic._network_paths:
                conn.dispose()
