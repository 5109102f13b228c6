"""Cluster files: where the replicas of a PBFT cluster listen, and their public keys.

A cluster directory holds::

    cluster.json          public: f, keys (ClusterConfig), addresses, settings
    keys/node-<id>.json   private: one node's keys (mode 0600)
    certs/                the cluster CA and node TLS certificates (ClusterCA)

``python -m patterns.byzantine init`` writes one; ``serve`` runs replicas from
it; ``submit`` runs a client against it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patterns.byzantine.auth import ClusterConfig, NodeKeys, generate_cluster
from patterns.byzantine.settings import ByzantineSettings, checked
from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId, node_name
from patterns.core.keys import ClusterCA

CLUSTER_FILE = "cluster.json"
KEYS_DIR = "keys"
CERTS_DIR = "certs"
MAX_PORT = 65_535


def _check_port(port: int, what: str) -> None:
    """Refuse a UDP port a node cannot listen on.

    Raises:
        ConfigError: ``port`` is outside 1..65535.
    """
    if not 1 <= port <= MAX_PORT:
        raise ConfigError(f"{what}={port} is outside 1..{MAX_PORT}")


@dataclass(frozen=True)
class ClusterFile:
    """A loaded cluster file.

    Attributes:
        path: the ``cluster.json`` it was read from.
        config: the public cluster configuration.
        addresses: every node's ``(host, port)`` (replicas and clients: replies are sent
            over connections the replica dials, so a client must be reachable).
        settings: protocol settings shared by the cluster.
    """

    path: Path
    config: ClusterConfig
    addresses: dict[NodeId, tuple[str, int]]
    settings: ByzantineSettings

    @property
    def directory(self) -> Path:
        """The cluster directory."""
        return self.path.parent

    @property
    def certs_dir(self) -> Path:
        """Directory of the cluster CA and node certificates."""
        return self.directory / CERTS_DIR

    def node_keys(self, node_id: NodeId) -> NodeKeys:
        """The private keys of ``node_id``.

        Raises:
            ConfigError: the key file is missing or malformed.
        """
        path = self.directory / KEYS_DIR / f"{node_name(node_id)}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"cannot read the keys of node {node_id} from {path}: {err}") from err
        keys = NodeKeys.from_dict(data)
        if keys.node_id != node_id:
            raise ConfigError(f"{path} holds the keys of node {keys.node_id}")
        return keys

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClusterFile:
        """Read ``cluster.json`` (or the directory holding it).

        Raises:
            ConfigError: missing or invalid.
        """
        p = Path(path)
        if p.is_dir():
            p = p / CLUSTER_FILE
        try:
            data: dict[str, Any] = json.loads(p.read_text())
            addresses = {int(k): (str(v[0]), int(v[1])) for k, v in data["addresses"].items()}
            settings = checked(ByzantineSettings.model_validate(data.get("settings", {})))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
            raise ConfigError(f"invalid cluster file {p}: {err!r}") from err
        for nid, (_, port) in sorted(addresses.items()):
            _check_port(port, f"cluster file {p}: node {nid}'s port")
        config = ClusterConfig.from_dict(data["cluster"])
        missing = [r for r in config.replicas if r not in addresses]
        if missing or settings.f != config.f:
            raise ConfigError(f"cluster file {p}: no address for replicas {missing} or f mismatch")
        return cls(p, config, addresses, settings)


def init_cluster(
    directory: str | os.PathLike[str],
    f: int = 1,
    clients: int = 1,
    *,
    host: str = "127.0.0.1",
    base_port: int = 7400,
    ports: Sequence[int] | None = None,
    settings: ByzantineSettings | None = None,
) -> ClusterFile:
    """Create a cluster directory: keys for 3f+1 replicas and ``clients`` clients, a CA.

    Node ``i`` (replica or client) listens on ``host:base_port+i``, or on
    ``host:ports[i]`` if ``ports`` is given; clients get ids ``n..n+clients-1``.

    Raises:
        ConfigError: the directory already holds a cluster, or a port (``base_port`` plus
            a node id, or one of ``ports``) is outside 1..65535.
    """
    root = Path(directory)
    if (root / CLUSTER_FILE).exists():
        raise ConfigError(f"{root} already holds a cluster")
    if clients < 0:
        raise ConfigError(f"clients={clients} must be >= 0")
    s = checked((settings or ByzantineSettings()).model_copy(update={"f": f}))
    n = 3 * f + 1
    if ports is not None and len(ports) != n + clients:
        raise ConfigError(f"{len(ports)} ports for {n + clients} nodes")
    if ports is None and not 1 <= base_port <= MAX_PORT - (n + clients - 1):
        raise ConfigError(
            f"base_port={base_port}: nodes listen on base_port..base_port+{n + clients - 1} "
            f"({n} replicas and {clients} client(s)), so it must be in "
            f"1..{MAX_PORT - (n + clients - 1)}"
        )
    for i, port in enumerate(ports or ()):
        _check_port(port, f"ports[{i}]")
    config, keys = generate_cluster(f, range(n, n + clients))
    keys_dir = root / KEYS_DIR
    keys_dir.mkdir(parents=True, exist_ok=True)
    for nid, k in keys.items():
        path = keys_dir / f"{node_name(nid)}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(k.to_dict(), fh)
    ca = ClusterCA.open_or_create(root / CERTS_DIR)
    for nid in keys:
        ca.credentials(nid)
    data = {
        "cluster": config.to_dict(),
        # clients listen too: the QUIC runtime sends replies over connections it dials
        "addresses": {
            str(nid): [host, ports[nid] if ports is not None else base_port + nid]
            for nid in sorted(keys)
        },
        "settings": s.model_dump(),
    }
    (root / CLUSTER_FILE).write_text(json.dumps(data, indent=2) + "\n")
    return ClusterFile.load(root / CLUSTER_FILE)
