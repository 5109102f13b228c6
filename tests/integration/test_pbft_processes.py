"""PBFT replicas as separate OS processes over QUIC, killed with SIGKILL (issue 24, point 2).

A process killed with ``kill -9`` says goodbye to nobody: its peers' connections look open
until QUIC's idle timeout. They must notice within ``liveness_timeout_s`` (keep-alive pings
go unanswered) or at the restarted process's first hello (a new incarnation), re-dial, and
carry on. The sequence:

1. four replicas, one process each, commit;
2. replica 3 is SIGKILLed: the other three commit;
3. replica 3 is restarted on its port and replica 1 is SIGKILLed: the commit needs replica 3
   (2f+1 = 3 of the remaining 0, 2, 3), so it proves 3 rejoined;
4. replica 1 is restarted, then the primary (0) is SIGKILLed: a view change must install a
   new primary and commit again.

Each commit has a generous deadline (a liveness bound, not a speed target: the times are
measured by ``make bench NAME=pbft`` as ``restart_rejoin_s`` and ``primary_kill_recovery_s``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from patterns.byzantine.clusterfile import init_cluster
from patterns.net.ports import free_udp_ports
from tests.integration.pbft_procs import Replicas, put

pytestmark = pytest.mark.quic


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[Replicas]:
    ports = free_udp_ports(5)
    cf = init_cluster(tmp_path / "pbft", 1, 1, ports=ports)
    procs = Replicas(cf.path.parent, [0, 1, 2, 3])
    try:
        yield procs
    finally:
        procs.stop()


def test_sigkilled_replicas_rejoin_and_a_killed_primary_is_replaced(replicas: Replicas) -> None:
    put(replicas, "a", "1")
    replicas.kill(3)
    put(replicas, "b", "2")
    replicas.start(3)
    replicas.kill(1)  # from now on no commit without replica 3
    put(replicas, "c", "3")
    replicas.start(1)
    put(replicas, "d", "4")
    replicas.kill(0)  # the primary of view 0
    put(replicas, "e", "5")
    put(replicas, "f", "6")
