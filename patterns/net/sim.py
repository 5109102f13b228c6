"""The deterministic simulator: a virtual-time discrete-event network of sans-IO nodes.

One seed and one :class:`~patterns.net.faults.FaultPlan` determine a run
completely: the same inputs give the same trace, byte for byte
(:meth:`Simulator.trace_bytes`). Every random choice (latency, loss,
duplication, reordering, partitions, crashes, clock skew, Byzantine
behaviour, and each node's own generator) comes from generators seeded from
the plan's seed. Faults are injected here; invariants are checked by
:mod:`patterns.net.checkers`, which only observe.

Typical use::

    sim = Simulator(lambda nid, rng: MyNode(nid, range(4), rng), range(4), plan)
    sim.call(0, lambda node, now: node.propose(b"x", now))
    result = sim.run(until=lambda s: all_decided(s), max_time=30.0)
    assert result.reached, result.describe()
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import msgspec

from patterns.core.codec import Codec, Message
from patterns.core.exceptions import CodecError, ConfigError, SwarmError
from patterns.core.ids import NodeId
from patterns.net.byzantine import ByzantineWrapper
from patterns.net.checkers import Checker
from patterns.net.faults import (
    FaultPlan,
    Latency,
    LatencyDistribution,
    PartitionMode,
    ScheduledPartition,
)
from patterns.net.linkkeys import LinkKeys
from patterns.net.node import Event, Node, Outgoing

T = TypeVar("T")
NodeFactory = Callable[[NodeId, random.Random], Node]
"""Builds a (fresh) node: called at start and at every restart after a crash."""

_DELIVER = 0
_TIMER = 1
_ACTION = 2

DEFAULT_MAX_EVENTS = 50_000_000


class SimulationError(SwarmError):
    """A run failed; the message names the seed that replays it."""

    def __init__(self, seed: int, t: float, what: str) -> None:
        super().__init__(f"simulation failed at t={t:.6f}s (seed={seed}): {what}")
        self.seed = seed
        self.t = t


@dataclass
class SimStats:
    """Counters of one run."""

    sent: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    cut_by_partition: int = 0
    to_crashed: int = 0
    timers_fired: int = 0
    crashes: int = 0
    restarts: int = 0
    partitions: int = 0
    wire_rejected: int = 0
    events: int = 0


@dataclass
class RunResult:
    """How :meth:`Simulator.run` ended."""

    reached: bool
    time: float
    steps: int
    seed: int
    reason: str
    stats: SimStats = field(default_factory=SimStats)

    def describe(self) -> str:
        """A one-line summary naming the seed."""
        return (
            f"{self.reason} at t={self.time:.4f}s after {self.steps} steps (seed={self.seed}); "
            f"{self.stats}"
        )


@dataclass
class _Partition:
    group_of: dict[NodeId, int]
    one_way: bool
    label: str


class Simulator:
    """A deterministic discrete-event network of sans-IO nodes.

    Args:
        factory: builds node ``node_id`` with its own seeded generator.
        node_ids: the cluster's node ids.
        plan: the fault plan (its seed drives everything).
        codec: the protocol's codec; needed for CORRUPT and ``wire_check``.
        checkers: invariant checkers that observe the run.
        record: keep every delivery in :attr:`trace` (turn off for benchmarks).
        wire_check: pass every delivered message through ``codec`` (encode
            then decode), as a real network would.
        link_keys: agree a key per link, as the QUIC runtime does at connect
            (:mod:`patterns.net.linkkeys`), for nodes that use them: here every pair
            of live nodes is handshaken at once, at start and again when one restarts
            (keys drawn from the seed, so a run replays exactly).
    """

    def __init__(
        self,
        factory: NodeFactory,
        node_ids: Iterable[NodeId],
        plan: FaultPlan | None = None,
        *,
        codec: Codec[Any] | None = None,
        checkers: Sequence[Checker] = (),
        record: bool = True,
        wire_check: bool = False,
        link_keys: bool = False,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self.plan = (plan or FaultPlan()).validate()
        self.seed = self.plan.seed
        ids = sorted(set(node_ids))
        if not ids:
            raise ConfigError("a simulation needs at least one node")
        if wire_check and codec is None:
            raise ConfigError("wire_check needs a codec")
        self.node_ids: tuple[NodeId, ...] = tuple(ids)
        self.factory = factory
        self.codec = codec
        self.checkers = tuple(checkers)
        self.record = record
        self.wire_check = wire_check
        self.max_events = max_events
        self.now = 0.0
        self.stats = SimStats()
        self.trace: list[tuple[float, NodeId, NodeId, Message]] = []
        self.events: list[tuple[float, NodeId, Event]] = []
        self.fault_log: list[tuple[float, str]] = []
        self._rng = random.Random(_derive(self.seed, "network"))
        self._fault_rng = random.Random(_derive(self.seed, "faults"))
        self._heap: list[tuple[float, int, int, Any, Any, Any]] = []
        self._seq = 0
        self._timer_gen: dict[NodeId, int] = dict.fromkeys(ids, 0)
        self._timer_at: dict[NodeId, float | None] = dict.fromkeys(ids, None)
        self._incarnation: dict[NodeId, int] = dict.fromkeys(ids, 0)
        self._last_local: dict[NodeId, float] = {}
        self._partitions: list[_Partition] = []
        self._random_crashed: dict[int, set[NodeId]] = {}
        self._active_random_partition: set[int] = set()
        self.alive: set[NodeId] = set(ids)
        skew_rng = random.Random(_derive(self.seed, "clock"))
        sk = self.plan.clock_skew
        self._offset: dict[NodeId, float] = {}
        self._rate: dict[NodeId, float] = {}
        for nid in ids:
            self._offset[nid] = skew_rng.uniform(0.0, sk.max_offset_s) if sk.max_offset_s else 0.0
            drift = sk.max_drift_ppm * 1e-6
            self._rate[nid] = 1.0 + (skew_rng.uniform(-drift, drift) if drift else 0.0)
        self._skewed = bool(sk.max_offset_s or sk.max_drift_ppm)
        self._byz: dict[NodeId, ByzantineWrapper] = {}
        for b in self.plan.byzantine:
            if b.node not in self.alive:
                raise ConfigError(f"byzantine node {b.node} is not in the cluster")
            self._byz[b.node] = ByzantineWrapper(
                b.behaviors, random.Random(_derive(self.seed, f"byz-{b.node}")), codec
            )
        self._random_net = bool(self.plan.loss or self.plan.duplicate or self.plan.reorder)
        self._sample = _latency_sampler(self.plan.latency, self._rng)
        self.nodes: dict[NodeId, Node] = {}
        self.link_keys = link_keys
        self._links: dict[NodeId, LinkKeys] = {}
        for nid in ids:
            self.nodes[nid] = factory(nid, self.node_rng(nid))
            self._attach_link_keys(nid)
        for nid in ids:
            self._handshake(nid, restarted=False)
        for nid in ids:
            self._step(nid, lambda node, now: node.start(now))
        self._schedule_faults()

    # -- time and randomness ----------------------------------------------------

    def byzantine_counts(self, node: NodeId) -> dict[str, int]:
        """What the fault plan's Byzantine behaviours did to ``node``'s messages, by kind."""
        byz = self._byz.get(node)
        return dict(byz.stats.counts) if byz is not None else {}

    def node_rng(self, node_id: NodeId) -> random.Random:
        """The seeded generator for ``node_id``'s current incarnation."""
        return random.Random(_derive(self.seed, f"node-{node_id}-{self._incarnation[node_id]}"))

    def local_time(self, node_id: NodeId) -> float:
        """``node_id``'s clock reading now (virtual time with the node's skew)."""
        if not self._skewed:
            return self.now
        local = self.now * self._rate[node_id] + self._offset[node_id]
        last = self._last_local.get(node_id, local)
        return local if local >= last else last

    def _to_virtual(self, node_id: NodeId, local: float) -> float:
        return (local - self._offset[node_id]) / self._rate[node_id]

    # -- commands ----------------------------------------------------------------
    def call(self, node_id: NodeId, fn: Callable[[Any, float], T]) -> T:
        """Run a command ``fn(node, local_now)`` on a live node now, then flush its output.

        Raises:
            ConfigError: the node is unknown or crashed.
        """
        if node_id not in self.nodes:
            raise ConfigError(f"unknown node {node_id}")
        if node_id not in self.alive:
            raise ConfigError(f"node {node_id} is crashed")
        return self._step(node_id, fn)

    def at(self, t: float, action: Callable[[Simulator], None]) -> None:
        """Run ``action(sim)`` at virtual time ``t`` (at least now)."""
        self._push(max(t, self.now), _ACTION, action, None, None)

    def crash(self, node_id: NodeId) -> None:
        """Crash ``node_id`` now: it loses in-flight input and all volatile state."""
        if node_id not in self.alive:
            return
        self.alive.discard(node_id)
        self._incarnation[node_id] += 1
        self._timer_gen[node_id] += 1
        self._timer_at[node_id] = None
        self.stats.crashes += 1
        self.fault_log.append((self.now, f"crash {node_id}"))

    def restart(self, node_id: NodeId) -> None:
        """Restart a crashed node as a fresh instance from the factory."""
        if node_id in self.alive:
            return
        self.alive.add(node_id)
        self.nodes[node_id] = self.factory(node_id, self.node_rng(node_id))
        self._attach_link_keys(node_id)
        self._handshake(node_id, restarted=True)
        self.stats.restarts += 1
        self.fault_log.append((self.now, f"restart {node_id}"))
        self._step(node_id, lambda node, now: node.start(now))

    def _attach_link_keys(self, nid: NodeId) -> None:
        self._links.pop(nid, None)
        if not self.link_keys:
            return
        rng = random.Random(_derive(self.seed, f"link-keys-{nid}-{self._incarnation[nid]}"))
        links = LinkKeys(rng.randbytes)
        if self.nodes[nid].use_link_keys(links):
            self._links[nid] = links

    def _handshake(self, nid: NodeId, *, restarted: bool) -> None:
        """What connecting does over QUIC: each side learns the key the other dials with."""
        mine = self._links.get(nid)
        if mine is None:
            return
        for other, theirs in self._links.items():
            if other == nid:
                continue
            if restarted:
                theirs.forget(nid)  # the old incarnation's keys are void
                theirs.rotate(nid)  # and a new connection brings a new key
            theirs.accept(nid, mine.send_key(other))
            mine.accept(other, theirs.send_key(nid))

    def partition(
        self, groups: Sequence[Iterable[NodeId]], *, one_way: bool = False, label: str = ""
    ) -> _Partition:
        """Cut the network between ``groups`` now (only from ``groups[0]`` if ``one_way``)."""
        group_of: dict[NodeId, int] = {}
        for gi, g in enumerate(groups):
            for nid in g:
                group_of[nid] = gi
        part = _Partition(group_of, one_way, label or f"groups={len(groups)} one_way={one_way}")
        self._partitions.append(part)
        self.stats.partitions += 1
        self.fault_log.append((self.now, f"partition {part.label}"))
        return part

    def heal(self, part: _Partition | None = None) -> None:
        """Remove one partition, or all of them."""
        if part is None:
            self._partitions.clear()
        elif part in self._partitions:
            self._partitions.remove(part)
        self.fault_log.append((self.now, f"heal {part.label if part else 'all'}"))

    # -- running -----------------------------------------------------------------
    def run(
        self,
        until: Callable[[Simulator], bool] | None = None,
        *,
        max_time: float | None = None,
        max_steps: int | None = None,
    ) -> RunResult:
        """Process events until ``until(sim)`` holds, time passes ``max_time``, or nothing is left.

        ``until`` is checked before the first event and after every event.
        Exceptions from node code or checkers are re-raised as
        :class:`SimulationError` naming the seed.
        """
        steps = 0
        limit = self.max_events if max_steps is None else max_steps
        heap = self._heap
        pop = heapq.heappop
        reason = "queue empty"
        reached = False
        try:
            if until is not None and until(self):
                return self._result(True, steps, "predicate held")
            while heap:
                if steps >= limit:
                    reason = "step limit"
                    break
                if max_time is not None and heap[0][0] > max_time:
                    self.now = max(self.now, max_time)
                    reason = "time limit"
                    break
                t, _, kind, a, b, c = pop(heap)
                self.now = t
                steps += 1
                if kind == _DELIVER:
                    self._deliver(a, b, c)
                elif kind == _TIMER:
                    nid, gen = a, b
                    if gen == self._timer_gen[nid] and nid in self.alive:
                        self._timer_at[nid] = None
                        self.stats.timers_fired += 1
                        self._fire_timer(nid, c)
                else:
                    a(self)
                if until is not None and until(self):
                    reached = True
                    reason = "predicate held"
                    break
            else:
                if max_time is not None:
                    self.now = max(self.now, max_time)
        except SimulationError:
            raise
        except Exception as err:
            raise SimulationError(self.seed, self.now, f"{type(err).__name__}: {err}") from err
        result = self._result(reached, steps, reason)
        try:
            for ch in self.checkers:
                ch.at_end(self)
        except Exception as err:
            raise SimulationError(self.seed, self.now, f"{type(err).__name__}: {err}") from err
        return result

    def _result(self, reached: bool, steps: int, reason: str) -> RunResult:
        return RunResult(reached, self.now, steps, self.seed, reason, self.stats)

    # -- internals ---------------------------------------------------------------
    def _push(self, t: float, kind: int, a: Any, b: Any, c: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, a, b, c))

    def _step(self, nid: NodeId, fn: Callable[[Any, float], T]) -> T:
        node = self.nodes[nid]
        now = self.local_time(nid)
        result = fn(node, now)
        if self._skewed:
            self._last_local[nid] = now
        self._flush(nid, node)
        return result

    def _fire_timer(self, nid: NodeId, deadline: float) -> None:
        node = self.nodes[nid]
        # the node's own deadline, in case skew arithmetic rounded virtual time short of it
        now = max(self.local_time(nid), deadline)
        node.handle_timer(now)
        if self._skewed:
            self._last_local[nid] = now
        self._flush(nid, node)

    def _deliver(self, src: NodeId, dst: NodeId, msg: Message) -> None:
        if dst not in self.alive:
            self.stats.to_crashed += 1
            return
        if self._partitions and self._is_cut(src, dst):
            self.stats.cut_by_partition += 1
            return
        if self.wire_check:
            assert self.codec is not None
            try:
                msg = self.codec.decode(self.codec.encode(msg))
            except CodecError:
                self.stats.wire_rejected += 1
                return
        self.stats.delivered += 1
        if self.record:
            self.trace.append((self.now, src, dst, msg))
        for ch in self.checkers:
            ch.on_delivery(self.now, src, dst, msg)
        node = self.nodes[dst]
        if self._skewed:
            now = self.local_time(dst)
            self._last_local[dst] = now
        else:
            now = self.now
        node.receive(src, msg, now)
        self._flush(dst, node)

    def _is_cut(self, src: NodeId, dst: NodeId) -> bool:
        for p in self._partitions:
            gs = p.group_of.get(src)
            gd = p.group_of.get(dst)
            if gs is not None and gd is not None and gs != gd and (not p.one_way or gs == 0):
                return True
        return False

    def _flush(self, nid: NodeId, node: Node) -> None:
        # Hot path: touches the node's queues directly (same package, same contract).
        out = node._outbox
        if out:
            node._outbox = []
            t0 = self.now
            byz = self._byz.get(nid)
            plan = self.plan
            stats = self.stats
            heap = self._heap
            push = heapq.heappush
            if byz is None and not (self._random_net and plan.faults_active(t0)):
                sample = self._sample
                seq = self._seq
                for dst, msg in out:
                    seq += 1
                    push(heap, (t0 + sample(), seq, _DELIVER, nid, dst, msg))
                self._seq = seq
                stats.sent += len(out)
            else:
                self._flush_faulty(nid, out, byz, t0)
        events = node._events
        if events:
            node._events = []
            t = self.now
            self.stats.events += len(events)
            for ev in events:
                self.events.append((t, nid, ev))
                for ch in self.checkers:
                    ch.on_event(t, nid, ev)
        nt = node.next_timer()
        if nt is None:
            if self._timer_at[nid] is not None:
                self._timer_gen[nid] += 1
                self._timer_at[nid] = None
            return
        vt = self._to_virtual(nid, nt) if self._skewed else nt
        if vt < self.now:
            vt = self.now
        if self._timer_at[nid] != vt:
            self._timer_gen[nid] += 1
            self._timer_at[nid] = vt
            self._push(vt, _TIMER, nid, self._timer_gen[nid], nt)

    def _flush_faulty(
        self, nid: NodeId, out: list[Outgoing], byz: ByzantineWrapper | None, t0: float
    ) -> None:
        faulty = self.plan.faults_active(t0)
        items = byz.apply(out) if byz is not None else [(d, m, 0.0) for d, m in out]
        rng = self._rng
        plan = self.plan
        stats = self.stats
        sample = self._sample
        for dst, msg, extra in items:
            stats.sent += 1
            if faulty and plan.loss and rng.random() < plan.loss:
                stats.lost += 1
                continue
            copies = 1
            if faulty and plan.duplicate and rng.random() < plan.duplicate:
                copies = 2
                stats.duplicated += 1
            for _ in range(copies):
                delay = extra + sample()
                if faulty and plan.reorder and rng.random() < plan.reorder:
                    delay += rng.uniform(0.0, plan.reorder_window_s)
                    stats.reordered += 1
                self._seq += 1
                heapq.heappush(self._heap, (t0 + delay, self._seq, _DELIVER, nid, dst, msg))

    # -- random faults -----------------------------------------------------------
    def _schedule_faults(self) -> None:
        plan = self.plan
        for sc in plan.scheduled_crashes:
            if sc.node not in self.nodes:
                raise ConfigError(f"scheduled crash names unknown node {sc.node}")
        for sp in plan.scheduled_partitions:
            self.at(sp.at_s, partial(Simulator._start_scheduled_partition, sp=sp))
        for sc in plan.scheduled_crashes:
            self.at(sc.at_s, partial(Simulator.crash, node_id=sc.node))
            if sc.restart_at_s is not None:
                self.at(sc.restart_at_s, partial(Simulator.restart, node_id=sc.node))
        if plan.partitions or plan.crashes:
            self.at(plan.faults_from_s + plan.fault_tick_s, Simulator._fault_tick)

    def _start_scheduled_partition(self, sp: ScheduledPartition) -> None:
        part = self.partition(sp.groups, one_way=sp.one_way, label=f"scheduled {sp.groups}")
        self.at(self.now + sp.duration_s, lambda sim: sim.heal(part))

    def _fault_tick(self) -> None:
        plan = self.plan
        if not plan.faults_active(self.now):
            return
        rng = self._fault_rng
        ids = self.node_ids
        for i, spec in enumerate(plan.partitions):
            if i in self._active_random_partition or rng.random() >= spec.probability:
                continue
            victim = rng.choice(ids)
            others = [n for n in ids if n != victim]
            if spec.mode is PartitionMode.ISOLATE:
                groups: list[list[NodeId]] = [[victim], others]
                one_way = False
            elif spec.mode is PartitionMode.ASYMMETRIC:
                groups, one_way = [others, [victim]], True
            else:
                shuffled = list(ids)
                rng.shuffle(shuffled)
                half = len(shuffled) // 2
                groups, one_way = [shuffled[:half], shuffled[half:]], False
            part = self.partition(groups, one_way=one_way, label=f"{spec.mode.value} #{i}")
            self._active_random_partition.add(i)
            duration = rng.uniform(spec.min_duration_s, spec.max_duration_s)

            def _end(sim: Simulator, part: _Partition = part, i: int = i) -> None:
                sim.heal(part)
                sim._active_random_partition.discard(i)

            self.at(self.now + duration, _end)
        for i, cspec in enumerate(plan.crashes):
            down = self._random_crashed.setdefault(i, set())
            if len(down) >= cspec.max_concurrent or rng.random() >= cspec.probability:
                continue
            candidates = [n for n in (cspec.nodes or ids) if n in self.alive]
            if not candidates:
                continue
            victim = rng.choice(candidates)
            self.crash(victim)
            down.add(victim)
            downtime = rng.uniform(cspec.min_down_s, cspec.max_down_s)

            def _up(sim: Simulator, v: NodeId = victim, d: set[NodeId] = down) -> None:
                d.discard(v)
                sim.restart(v)

            self.at(self.now + downtime, _up)
        nxt = self.now + plan.fault_tick_s
        if plan.faults_until_s is None or nxt < plan.faults_until_s:
            self.at(nxt, Simulator._fault_tick)

    # -- traces ------------------------------------------------------------------
    def trace_bytes(self) -> bytes:
        """The recorded run (deliveries, node events, fault log) as msgpack bytes."""
        events = [(t, n, type(e).__name__, repr(e)) for t, n, e in self.events]
        return msgspec.msgpack.encode(
            {
                "seed": self.seed,
                "deliveries": self.trace,
                "events": events,
                "faults": self.fault_log,
            }
        )

    def trace_digest(self) -> str:
        """SHA-256 of :meth:`trace_bytes`, in hex."""
        return hashlib.sha256(self.trace_bytes()).hexdigest()


def _latency_sampler(lat: Latency, rng: random.Random) -> Callable[[], float]:
    """A function drawing one latency from ``lat`` with ``rng``."""
    lo, mean = lat.min_s, lat.mean_s
    if lat.distribution is LatencyDistribution.EXPONENTIAL and mean > lo:
        expo = rng.expovariate
        rate = 1.0 / (mean - lo)
        return lambda: lo + expo(rate)
    if lat.distribution is LatencyDistribution.UNIFORM:
        uniform = rng.uniform
        hi = 2 * mean - lo
        return lambda: uniform(lo, hi)
    return lambda: mean


def _derive(seed: int, label: str) -> int:
    """A sub-seed for one independent random stream of a run."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
