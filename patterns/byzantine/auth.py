"""Cluster membership and keys: Ed25519 signing keys, per-pair MAC keys, authenticators.

MAC keys (the choice the paper leaves open: TOCS 2002, MAC authenticators) come from
one of two places:

* Over QUIC (:class:`~patterns.net.quic.QuicNodeRuntime`), session keys: each link's
  key is chosen at connect time by the dialer and sent inside the mutually
  authenticated TLS connection (:mod:`patterns.net.linkkeys`), and replaced on every
  reconnect. The static keys below are then never used.
* Without a transport that agrees keys (the deterministic simulator, in-process
  clusters), static keys: every node holds an X25519 key pair; the MAC key of nodes
  ``i`` and ``j`` is HKDF-SHA256 of their X25519 shared secret, bound to both ids.

Either way only ``i`` and ``j`` can compute their key, so a faulty replica cannot forge
MACs between two other nodes (which a key derived from one cluster-wide secret would
allow). MACs are HMAC-SHA256 truncated to :data:`MAC_BYTES`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId
from patterns.core.keys import SigningKey, VerifyKey
from patterns.net.linkkeys import LinkKeys, pair_key

MAC_BYTES = 16  # HMAC-SHA256 truncated to 128 bits
MAC_KEY_BYTES = 32
X25519_PUBLIC_KEY_BYTES = 32
_HKDF_SALT = b"swarmkit/pbft/mac/v1"
_PAIR_KEY_CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class ClusterConfig:
    """Public description of a PBFT cluster: who the replicas and clients are, their keys.

    Replicas have ids ``0..n-1`` (``n = 3f+1``); the primary of view ``v`` is
    replica ``v mod n`` (OSDI section 4). Clients have ids ``>= n``. A client
    is hosted by a node (itself by default): one client node may host many
    logical clients, each with its own id, keys and request stream, so one
    process can run a closed loop of many clients over one connection per replica.

    Attributes:
        f: faults tolerated.
        verify_keys: Ed25519 public key of each replica, by replica id.
        mac_keys: X25519 public key of every replica and client, by node id.
        client_hosts: the node hosting each client that is not its own node.
    """

    f: int
    verify_keys: tuple[VerifyKey, ...]
    mac_keys: Mapping[NodeId, bytes] = field(default_factory=dict)
    client_hosts: Mapping[NodeId, NodeId] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.f < 0:
            raise ConfigError(f"f must be >= 0, got {self.f}")
        if len(self.verify_keys) != self.n:
            raise ConfigError(
                f"f={self.f} needs n={self.n} replica keys, got {len(self.verify_keys)}"
            )
        for nid, raw in self.mac_keys.items():
            if len(raw) != X25519_PUBLIC_KEY_BYTES:
                raise ConfigError(f"X25519 public key of node {nid} is not 32 bytes")
        missing = [r for r in range(self.n) if r not in self.mac_keys]
        if missing:
            raise ConfigError(f"replicas {missing} have no MAC (X25519) public key")
        for client, host in self.client_hosts.items():
            if client < self.n or host < self.n or client not in self.mac_keys:
                raise ConfigError(f"client {client} hosted by {host}: not a client and client node")

    @property
    def n(self) -> int:
        """Number of replicas, 3f+1."""
        return 3 * self.f + 1

    @property
    def quorum(self) -> int:
        """2f+1: a quorum certificate's size."""
        return 2 * self.f + 1

    @property
    def weak(self) -> int:
        """f+1: enough to contain one correct replica."""
        return self.f + 1

    @property
    def replicas(self) -> range:
        """Replica ids."""
        return range(self.n)

    @cached_property
    def clients(self) -> frozenset[NodeId]:
        """Client ids (every keyed node that is not a replica)."""
        return frozenset(nid for nid in self.mac_keys if nid >= self.n)

    @cached_property
    def client_nodes(self) -> frozenset[NodeId]:
        """Nodes that host clients."""
        return frozenset(self.host_of(c) for c in self.clients)

    def host_of(self, client: NodeId) -> NodeId:
        """The node that hosts ``client`` (replies go there)."""
        return self.client_hosts.get(client, client)

    def primary(self, view: int) -> int:
        """The primary of ``view``."""
        return view % self.n

    def is_replica(self, node_id: NodeId) -> bool:
        """True if ``node_id`` is a replica of this cluster."""
        return 0 <= node_id < self.n

    def to_dict(self) -> dict[str, Any]:
        """Plain data (hex keys) for a JSON cluster file."""
        return {
            "f": self.f,
            "verify_keys": [k.raw.hex() for k in self.verify_keys],
            "mac_keys": {str(nid): raw.hex() for nid, raw in sorted(self.mac_keys.items())},
            "client_hosts": {str(c): h for c, h in sorted(self.client_hosts.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterConfig:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: missing or malformed fields.
        """
        try:
            return cls(
                f=int(data["f"]),
                verify_keys=tuple(VerifyKey(bytes.fromhex(h)) for h in data["verify_keys"]),
                mac_keys={int(k): bytes.fromhex(v) for k, v in data["mac_keys"].items()},
                client_hosts={int(k): int(v) for k, v in data.get("client_hosts", {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"invalid cluster config: {err!r}") from err


@dataclass(frozen=True)
class NodeKeys:
    """The private keys of one node: a signing key (replicas only) and an X25519 key."""

    node_id: NodeId
    mac_private: bytes
    signing_seed: bytes | None = None

    @property
    def signing_key(self) -> SigningKey | None:
        """The Ed25519 signing key (None for clients)."""
        if self.signing_seed is None:
            return None
        return _signing_key(self.signing_seed)

    @property
    def mac_public(self) -> bytes:
        """This node's X25519 public key."""
        return _x25519_public(self.mac_private)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (hex) for a key file; keep it secret."""
        return {
            "node_id": self.node_id,
            "mac_private": self.mac_private.hex(),
            "signing_seed": None if self.signing_seed is None else self.signing_seed.hex(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeKeys:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: missing or malformed fields.
        """
        try:
            seed = data.get("signing_seed")
            return cls(
                node_id=int(data["node_id"]),
                mac_private=bytes.fromhex(data["mac_private"]),
                signing_seed=None if seed is None else bytes.fromhex(seed),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ConfigError(f"invalid node key file: {err!r}") from err


@lru_cache(maxsize=_PAIR_KEY_CACHE_ENTRIES)
def _signing_key(seed: bytes) -> SigningKey:
    return SigningKey(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


@lru_cache(maxsize=_PAIR_KEY_CACHE_ENTRIES)
def _x25519_public(private: bytes) -> bytes:
    return (
        x25519.X25519PrivateKey.from_private_bytes(private)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


@lru_cache(maxsize=_PAIR_KEY_CACHE_ENTRIES)
def _pair_key(private: bytes, peer_public: bytes, low: NodeId, high: NodeId) -> bytes:
    shared = x25519.X25519PrivateKey.from_private_bytes(private).exchange(
        x25519.X25519PublicKey.from_public_bytes(peer_public)
    )
    return HKDF(
        algorithm=hashes.SHA256(),
        length=MAC_KEY_BYTES,
        salt=_HKDF_SALT,
        info=b"pair:%d:%d" % (low, high),
    ).derive(shared)


def generate_cluster(
    f: int,
    clients: Iterable[NodeId] = (),
    seed: int | None = None,
    hosts: Mapping[NodeId, NodeId] | None = None,
) -> tuple[ClusterConfig, dict[NodeId, NodeKeys]]:
    """Keys for ``3f+1`` replicas and the given clients.

    With ``seed`` the keys are derived from it (simulations and tests only);
    without, they come from the OS's CSPRNG. ``hosts`` maps clients hosted by
    another client node to that node.

    Returns:
        The public cluster config and every node's private keys.

    Raises:
        ConfigError: a client id collides with a replica id.
    """
    n = 3 * f + 1
    client_ids = sorted(set(clients))
    bad = [c for c in client_ids if c < n]
    if bad:
        raise ConfigError(f"client ids {bad} collide with replica ids 0..{n - 1}")

    def material(label: str) -> bytes:
        if seed is None:
            return x25519.X25519PrivateKey.generate().private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
        return hashlib.sha256(f"swarmkit-pbft:{seed}:{label}".encode()).digest()

    keys: dict[NodeId, NodeKeys] = {}
    for nid in range(n):
        keys[nid] = NodeKeys(nid, material(f"mac-{nid}"), material(f"sign-{nid}"))
    for cid in client_ids:
        keys[cid] = NodeKeys(cid, material(f"mac-{cid}"))
    verify = []
    for r in range(n):
        sk = keys[r].signing_key
        assert sk is not None
        verify.append(sk.verify_key)
    config = ClusterConfig(
        f, tuple(verify), {nid: k.mac_public for nid, k in keys.items()}, dict(hosts or {})
    )
    return config, keys


_IPAD = bytes(x ^ 0x36 for x in range(256))  # RFC 2104's pads, as bytes.translate tables
_OPAD = bytes(x ^ 0x5C for x in range(256))
_SHA256_BLOCK = 64


class _Hmac:
    """HMAC-SHA256 under one key, with the key's inner and outer pads hashed once.

    RFC 2104: ``H(K ^ opad || H(K ^ ipad || m))``. The two padded key blocks are the
    same for every message, so their SHA-256 states are computed here and copied per
    MAC: the tags are :func:`hmac.digest`'s, for under half its CPU.
    """

    __slots__ = ("inner", "outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        block = key.ljust(_SHA256_BLOCK, b"\0")
        self.inner = hashlib.sha256(block.translate(_IPAD))
        self.outer = hashlib.sha256(block.translate(_OPAD))

    def tag(self, data: bytes) -> bytes:
        """The MAC of ``data``, truncated to :data:`MAC_BYTES`."""
        inner = self.inner.copy()
        inner.update(data)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:MAC_BYTES]


class MacKeyring:
    """The MAC keys one node shares with every other node of a cluster.

    Static keys (from the cluster config) until :meth:`use_links` switches it to the
    session keys of the links a transport agreed (then static keys are never used).
    Each key's HMAC state is made once and kept while the keys are unchanged: any key
    the links make, rotate, accept or forget (:attr:`LinkKeys.version`) drops them all.

    Args:
        keys: this node's private keys.
        config: the cluster (for the peers' public keys).
    """

    def __init__(self, keys: NodeKeys, config: ClusterConfig) -> None:
        self.node_id = keys.node_id
        self._private = keys.mac_private
        self._config = config
        self._keys: dict[NodeId, bytes] = {}
        self._senders: dict[NodeId, _Hmac | None] = {}  # None: not in the cluster
        self._checkers: dict[NodeId, tuple[_Hmac, ...]] = {}
        self._replica_senders: tuple[_Hmac | None, ...] | None = None  # None for this node
        self._version = -1  # of the links the states above were made under
        self.links: LinkKeys | None = None

    def use_links(self, links: LinkKeys) -> None:
        """MAC with the per-link session keys in ``links`` from now on."""
        self.links = links
        self._forget_states()

    def _forget_states(self) -> None:
        self._senders = {}
        self._checkers = {}
        self._replica_senders = None
        self._version = -1 if self.links is None else self.links.version

    def _keep_states_current(self) -> None:
        """Drop the HMAC states if any link key changed since they were made."""
        links = self.links
        if links is not None and links.version != self._version:
            self._forget_states()

    def key(self, peer: NodeId) -> bytes | None:
        """The key this node MACs with for ``peer`` (None if ``peer`` is not in the cluster)."""
        links = self.links
        if links is not None:
            if peer not in self._config.mac_keys:
                return None
            return pair_key(links.send_key(self._config.host_of(peer)), self.node_id, peer)
        k = self._keys.get(peer)
        if k is None:
            public = self._config.mac_keys.get(peer)
            if public is None:
                return None
            low, high = min(peer, self.node_id), max(peer, self.node_id)
            k = self._keys[peer] = _pair_key(self._private, public, low, high)
        return k

    def _sender(self, peer: NodeId) -> _Hmac | None:
        """The HMAC state this node MACs with for ``peer`` (None: not in the cluster)."""
        self._keep_states_current()
        try:
            return self._senders[peer]
        except KeyError:
            pass
        k = self.key(peer)  # may make a send key: the links' version moves on
        self._keep_states_current()
        state = self._senders[peer] = None if k is None else _Hmac(k)
        return state

    def _checkers_of(self, peer: NodeId) -> tuple[_Hmac, ...]:
        """The HMAC states ``peer``'s MACs for this node may be made with (newest first)."""
        self._keep_states_current()
        try:
            return self._checkers[peer]
        except KeyError:
            pass
        states: tuple[_Hmac, ...]
        links = self.links
        if links is None:
            k = self.key(peer)
            states = () if k is None else (_Hmac(k),)
        elif peer not in self._config.mac_keys:
            states = ()
        else:
            keys = links.receive_keys(self._config.host_of(peer))
            states = tuple(_Hmac(pair_key(lk, peer, self.node_id)) for lk in keys)
        self._checkers[peer] = states
        return states

    def mac(self, peer: NodeId, data: bytes) -> bytes:
        """MAC of ``data`` for ``peer``.

        Raises:
            ConfigError: ``peer`` is not in the cluster.
        """
        state = self._sender(peer)
        if state is None:
            raise ConfigError(f"node {peer} is not in the cluster")
        return state.tag(data)

    def authenticator(self, data: bytes) -> tuple[bytes, ...]:
        """One MAC of ``data`` per replica, indexed by replica id (own entry empty)."""
        self._keep_states_current()
        states = self._replica_senders
        if states is None:
            me = self.node_id
            senders = [None if r == me else self._sender(r) for r in self._config.replicas]
            states = self._replica_senders = tuple(senders)
        return tuple([b"" if s is None else s.tag(data) for s in states])

    def check(self, peer: NodeId, data: bytes, mac: bytes) -> bool:
        """True if ``mac`` is ``peer``'s MAC of ``data`` for this node."""
        if len(mac) != MAC_BYTES:
            return False
        for state in self._checkers_of(peer):  # noqa: SIM110 - hot path: no generator
            if hmac.compare_digest(state.tag(data), mac):
                return True
        return False

    def check_authenticator(self, peer: NodeId, data: bytes, auth: tuple[bytes, ...]) -> bool:
        """True if this node's entry of authenticator ``auth`` is ``peer``'s MAC of ``data``."""
        me = self.node_id
        if not 0 <= me < len(auth):
            return False
        return self.check(peer, data, auth[me])


class SignatureCache:
    """Ed25519 verification with a bounded memory of signatures already verified.

    Duplicated, retransmitted and forwarded messages (and certificates made of
    commits already seen) are verified once. Only successes are remembered.

    Args:
        verify_keys: the replicas' public keys, by replica id.
        entries: how many verified signatures to remember (0 disables the cache).
    """

    def __init__(self, verify_keys: tuple[VerifyKey, ...], entries: int) -> None:
        self._keys = verify_keys
        self._entries = entries
        self._seen: dict[bytes, None] = {}
        self.verified = 0
        self.hits = 0

    def verify(self, replica: int, payload: bytes, signature: bytes) -> bool:
        """True if ``signature`` is replica ``replica``'s signature of ``payload``."""
        if not 0 <= replica < len(self._keys):
            return False
        token = hashlib.sha256(b"%d:" % replica + signature + payload).digest()
        if token in self._seen:
            self.hits += 1
            return True
        self.verified += 1
        if not self._keys[replica].verify(payload, signature):
            return False
        if self._entries:
            if len(self._seen) >= self._entries:
                del self._seen[next(iter(self._seen))]
            self._seen[token] = None
        return True
