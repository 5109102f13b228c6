"""Per-link MAC keys agreed over the mutually authenticated QUIC connection.

A node's protocol (PBFT) authenticates messages with MACs. Over QUIC the keys are not
the static ones of the cluster file: every outbound connection carries, in the
:class:`~patterns.net.quic.Hello` that opens its stream, a fresh random 32-byte key
chosen by the dialer. The Hello travels inside TLS 1.3, after both certificates were
verified (mutual TLS), so only the two ends of the connection know the key and the
receiver knows which node chose it (the certificate names it). This is key transport
over the authenticated channel, the "authenticated handshake at connect": a key per
link and direction, never written to disk, replaced on every reconnect.

* ``send_key(peer)``: the key this node MACs with for ``peer`` (made on first use, so a
  message built before the first dial can already be authenticated; the dial then
  carries that key).
* ``rotate(peer)``: a new send key; the runtime calls it on each reconnect.
* ``accept(peer, key)``: the key ``peer`` sent in its Hello; the two before it stay
  valid alongside it (frames MACed before a reconnect wait in the send queue and go
  out on the new connection; under load a link may reconnect more than once before
  its queue drains), older ones are forgotten.

A node that restarts starts with no keys: what its peers MACed for its previous
incarnation cannot be checked by the new one, which is the point of rotating.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from functools import lru_cache

from patterns.core.ids import NodeId

LINK_KEY_BYTES = 32
RECEIVE_KEYS_KEPT = 3  # the current key and the two before it (reconnects under load)
_DERIVE_CACHE_ENTRIES = 8192


class LinkKeys:
    """The link keys of one node, by peer node.

    Args:
        random_bytes: the key source (the OS's CSPRNG; tests may pass a seeded one).
    """

    def __init__(self, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._random = random_bytes
        self._send: dict[NodeId, bytes] = {}
        self._recv: dict[NodeId, tuple[bytes, ...]] = {}
        self.rotations = 0
        self.accepted = 0
        self.version = 0  # bumped whenever a key is made, replaced or forgotten

    def send_key(self, peer: NodeId) -> bytes:
        """The key this node MACs with for ``peer`` (made on first use)."""
        key = self._send.get(peer)
        if key is None:
            key = self._send[peer] = self._random(LINK_KEY_BYTES)
            self.version += 1
        return key

    def rotate(self, peer: NodeId) -> bytes:
        """Replace the send key for ``peer`` (on a reconnect) and return the new one."""
        key = self._send[peer] = self._random(LINK_KEY_BYTES)
        self.rotations += 1
        self.version += 1
        return key

    def accept(self, peer: NodeId, key: bytes) -> None:
        """Install the key ``peer`` chose for its link to this node.

        Raises:
            ValueError: the key is not :data:`LINK_KEY_BYTES` long.
        """
        if len(key) != LINK_KEY_BYTES:
            raise ValueError(f"link key of node {peer} is {len(key)} bytes, expected 32")
        known = self._recv.get(peer, ())
        if known and known[0] == key:
            return
        self._recv[peer] = (key, *known)[:RECEIVE_KEYS_KEPT]
        self.accepted += 1
        self.version += 1

    def forget(self, peer: NodeId) -> None:
        """Drop every key ``peer`` sent (it restarted: its old keys belong to a dead process)."""
        if self._recv.pop(peer, None) is not None:
            self.version += 1

    def receive_keys(self, peer: NodeId) -> tuple[bytes, ...]:
        """Keys that MACs from ``peer`` may be made with, newest first (empty: none yet)."""
        return self._recv.get(peer, ())

    def __len__(self) -> int:
        """How many peers this node has a send key for."""
        return len(self._send)

    def peers(self) -> list[NodeId]:
        """Peers this node has a send key for (it means to talk to them)."""
        return list(self._send)


@lru_cache(maxsize=_DERIVE_CACHE_ENTRIES)
def pair_key(link_key: bytes, sender: NodeId, receiver: NodeId) -> bytes:
    """The MAC key of logical ``sender`` for logical ``receiver`` over one link.

    Several logical clients may share a host's link; each gets its own key.
    """
    return hmac.digest(link_key, b"swarmkit/link-mac/v1:%d>%d" % (sender, receiver), hashlib.sha256)
