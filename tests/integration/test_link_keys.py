"""PBFT over QUIC authenticates with per-link session keys, not the cluster file's static keys.

Each dialer picks a fresh key for its link and sends it in the Hello inside mutual TLS
(`patterns.net.linkkeys`); a reconnect or a restart replaces it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patterns.byzantine import LocalCluster, Put, encode_op
from patterns.byzantine.auth import MacKeyring
from patterns.byzantine.client import Client
from patterns.byzantine.replica import Replica
from patterns.core.exceptions import ProtocolError
from patterns.core.settings import QuicSettings
from tests.integration.test_byzantine_quic import FAST

pytestmark = pytest.mark.quic


def _scramble_static_keys(c: LocalCluster) -> None:
    """Give every node a private X25519 key that matches no published public key."""
    rings: list[MacKeyring] = []
    for node in c.quic._initial:
        if isinstance(node, Replica):
            rings.append(node.ring)
        else:
            assert isinstance(node, Client)
            rings += [s.ring for s in node.sessions.values()]
    for ring in rings:
        ring._private = os.urandom(32)
        ring._keys.clear()


async def test_commits_use_link_keys_agreed_over_tls(
    tmp_path: Path, quic_settings: QuicSettings
) -> None:
    c = LocalCluster(tmp_path / "certs", f=1, settings=FAST, quic_settings=quic_settings)
    _scramble_static_keys(c)  # with static keys every MAC would now fail
    async with c:
        results = await c.submit([encode_op(Put("k", f"v{i}")) for i in range(5)], timeout_s=20.0)
        assert len(results) == 5
        await c.quic.run_until(lambda: all(c.replica(r).last_executed >= 5 for r in range(4)), 10)
        assert all(c.replica(r).rejected["bad_mac"] == 0 for r in range(4))
        rts = c.quic.runtimes
        sent = set()
        for a in range(4):
            for b in range(4):
                if a != b:
                    key = rts[a].link_keys.send_key(b)
                    assert rts[b].link_keys.receive_keys(a)[0] == key
                    sent.add(key)
        assert len(sent) == 12  # one key per link and direction
        client = c.client_ids[0]
        for r in range(4):  # the client reached every replica, the backups included
            assert rts[r].link_keys.receive_keys(client)
        with pytest.raises(ProtocolError, match="node 1"):  # a hello without a key is refused
            rts[0]._peer_hello(1, rts[1].incarnation, 0, b"")


async def test_a_restart_replaces_the_link_keys(
    tmp_path: Path, quic_settings: QuicSettings
) -> None:
    async with LocalCluster(
        tmp_path / "certs", f=1, settings=FAST, quic_settings=quic_settings
    ) as c:
        await c.submit([encode_op(Put("k", "before"))], timeout_s=20.0)
        rts = c.quic.runtimes
        old_to_3 = {a: rts[a].link_keys.send_key(3) for a in (0, 1, 2)}
        old_from_3 = {b: rts[3].link_keys.send_key(b) for b in (0, 1, 2)}
        await c.stop_replica(3)
        await c.restart_replica(3)
        await c.submit([encode_op(Put(f"x{i}", "y")) for i in range(6)], timeout_s=30.0)
        rts = c.quic.runtimes
        # caught up, and every survivor's hello on its new link to 3 arrived (a survivor
        # rotates its send key when it dials; the hello carrying it may still be in flight)
        await c.quic.run_until(
            lambda: (
                c.replica(3).last_executed == c.replica(0).last_executed
                and all(rts[3].link_keys.receive_keys(a) for a in (0, 1, 2))
            ),
            20.0,
        )
        for a in (0, 1, 2):
            new = rts[a].link_keys.send_key(3)
            assert new != old_to_3[a]  # rotated when the link to the new process was made
            assert rts[3].link_keys.receive_keys(a) == (new,)  # the new process knows only it
            assert old_from_3[a] not in rts[a].link_keys.receive_keys(3)
