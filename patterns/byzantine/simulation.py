"""A PBFT cluster (replicas and clients) on the deterministic simulator."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from patterns.byzantine.auth import ClusterConfig, NodeKeys, generate_cluster
from patterns.byzantine.client import Client, CommittedResult
from patterns.byzantine.messages import pbft_codec
from patterns.byzantine.replica import Replica
from patterns.byzantine.settings import ByzantineSettings, checked
from patterns.byzantine.state_machine import KeyValueStore, StateMachineFactory
from patterns.core.exceptions import ConfigError
from patterns.core.ids import NodeId
from patterns.net.checkers import Checker
from patterns.net.faults import FaultPlan
from patterns.net.node import Node
from patterns.net.sim import RunResult, Simulator

ReplicaFactory = Callable[
    [NodeId, ClusterConfig, NodeKeys, ByzantineSettings, StateMachineFactory, random.Random],
    Replica,
]
"""Builds one replica; tests pass faulty subclasses for some ids."""


@lru_cache(maxsize=64)
def cluster_keys(
    f: int, clients: tuple[NodeId, ...], seed: int = 0
) -> tuple[ClusterConfig, dict[NodeId, NodeKeys]]:
    """Deterministic keys for a simulated cluster (cached: key derivation is not free)."""
    return generate_cluster(f, clients, seed=seed)


def client_ids(f: int, clients: int) -> tuple[NodeId, ...]:
    """Ids of ``clients`` clients of a cluster tolerating ``f`` faults (right after the replicas)."""
    n = 3 * f + 1
    return tuple(range(n, n + clients))


@dataclass
class SimCluster:
    """A simulated PBFT cluster and handles to drive it."""

    sim: Simulator
    config: ClusterConfig
    clients: tuple[NodeId, ...]
    settings: ByzantineSettings

    def replica(self, node_id: NodeId) -> Replica:
        """The current object of replica ``node_id`` (a fresh one after a restart)."""
        node = self.sim.nodes[node_id]
        assert isinstance(node, Replica)
        return node

    def client(self, node_id: NodeId) -> Client:
        """The client ``node_id``."""
        node = self.sim.nodes[node_id]
        assert isinstance(node, Client)
        return node

    def submit(self, client: NodeId, op: bytes, want_certificate: bool = False) -> None:
        """Queue ``op`` at ``client`` now."""
        self.sim.call(client, lambda node, now: node.submit(op, now, want_certificate))

    def done(self) -> bool:
        """True when every client has no operation outstanding or queued."""
        return all(self.client(c).idle for c in self.clients)

    def run_until_done(self, max_time: float) -> RunResult:
        """Run until every client is idle or virtual time passes ``max_time``."""
        return self.sim.run(until=lambda _: self.done(), max_time=max_time)

    def results(self, client: NodeId) -> list[CommittedResult]:
        """Completed operations of ``client``, in order."""
        return self.client(client).results

    def replicas(self, alive_only: bool = True) -> dict[NodeId, Replica]:
        """The replicas (only the live ones by default)."""
        return {
            r: self.replica(r)
            for r in self.config.replicas
            if not alive_only or r in self.sim.alive
        }


def sim_cluster(
    f: int = 1,
    clients: int = 1,
    plan: FaultPlan | None = None,
    *,
    settings: ByzantineSettings | None = None,
    checkers: Sequence[Checker] = (),
    key_seed: int = 0,
    replica_factories: Mapping[NodeId, ReplicaFactory] | None = None,
    state_machine: StateMachineFactory = KeyValueStore,
    wire_check: bool = True,
    record: bool = False,
) -> SimCluster:
    """Build a simulated cluster of ``3f+1`` replicas and ``clients`` clients.

    A crashed replica restarts as a fresh replica with no state (it recovers by
    state transfer and catch-up from the others).

    Args:
        f: faults tolerated.
        clients: number of clients (ids ``n..n+clients-1``).
        plan: the fault plan (its seed drives the run).
        settings: protocol settings (``f`` is overridden by the argument).
        checkers: invariant checkers observing the run.
        key_seed: seed of the (deterministic) cluster keys.
        replica_factories: per replica id, a factory of a (faulty) replica class.
        state_machine: the replicated state machine.
        wire_check: pass every message through the codec, as a real network would.
        record: keep every delivery in the simulator's trace.

    Raises:
        ConfigError: invalid settings or ids.
    """
    base = settings if settings is not None else ByzantineSettings()
    s = checked(base.model_copy(update={"f": f}))
    ids = client_ids(f, clients)
    config, keys = cluster_keys(f, ids, key_seed)
    factories = dict(replica_factories or {})
    unknown = [r for r in factories if not config.is_replica(r)]
    if unknown:
        raise ConfigError(f"replica factories for non-replicas {unknown}")

    def factory(nid: NodeId, rng: random.Random) -> Node:
        if config.is_replica(nid):
            make = factories.get(nid, _honest)
            return make(nid, config, keys[nid], s, state_machine, rng)
        return Client(nid, config, keys[nid], s, rng)

    sim = Simulator(
        factory,
        [*config.replicas, *ids],
        plan or FaultPlan(),
        codec=pbft_codec(),
        checkers=checkers,
        record=record,
        wire_check=wire_check,
    )
    return SimCluster(sim, config, ids, s)


def _honest(
    nid: NodeId,
    config: ClusterConfig,
    keys: NodeKeys,
    settings: ByzantineSettings,
    state_machine: StateMachineFactory,
    rng: random.Random,
) -> Replica:
    return Replica(nid, config, keys, settings, state_machine, rng)
