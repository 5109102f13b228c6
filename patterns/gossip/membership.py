"""SWIM membership as a sans-IO component: probing, suspicion, incarnations, piggybacked gossip."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from patterns.core.codec import Message
from patterns.core.ids import NodeId
from patterns.gossip.messages import Ack, MemberUpdate, Ping, PingReq, Status
from patterns.gossip.settings import GossipSettings

SendFn = Callable[[NodeId, Message], None]
ChangeFn = Callable[[NodeId, Status, int], None]


class PeerSet:
    """A set of node ids with O(1) add, discard and uniform sampling (deterministic order)."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: Iterable[NodeId] = ()) -> None:
        self._items: list[NodeId] = list(items)
        self._index: dict[NodeId, int] | None = None  # built on first change

    def _idx(self) -> dict[NodeId, int]:
        if self._index is None:
            self._index = {p: i for i, p in enumerate(self._items)}
        return self._index

    def add(self, peer: NodeId) -> None:
        """Add ``peer`` if absent."""
        idx = self._idx()
        if peer not in idx:
            idx[peer] = len(self._items)
            self._items.append(peer)

    def discard(self, peer: NodeId) -> None:
        """Remove ``peer`` if present (swap with the last element)."""
        idx = self._idx()
        i = idx.pop(peer, None)
        if i is None:
            return
        last = self._items.pop()
        if i < len(self._items):
            self._items[i] = last
            idx[last] = i

    def __contains__(self, peer: object) -> bool:
        return peer in self._idx()

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[NodeId]:
        return iter(self._items)

    def sample(self, rng: random.Random, k: int, exclude: NodeId | None = None) -> list[NodeId]:
        """Up to ``k`` distinct members chosen uniformly with ``rng``, never ``exclude``."""
        items = self._items
        n = len(items)
        if n == 0 or k <= 0:
            return []
        if exclude is None:
            return rng.sample(items, min(k, n))
        picked = rng.sample(items, min(k + 1, n))
        return [p for p in picked if p != exclude][:k]


@dataclass(slots=True)
class _Probe:
    target: NodeId
    seq: int
    timeout_at: float
    acked: bool = False
    indirect: bool = False


@dataclass(slots=True)
class _Relay:
    requester: NodeId
    seq: int
    target: NodeId
    expires_at: float


@dataclass(slots=True)
class MembershipStats:
    """Counters of one member's failure detector."""

    pings_sent: int = 0
    ping_reqs_sent: int = 0
    acks_sent: int = 0
    relayed_acks: int = 0
    suspicions: int = 0
    confirmed_dead: int = 0
    revived: int = 0
    refutations: int = 0


class SwimMembership:
    """One member's view of the group and its SWIM failure detector.

    Implements Das, Gupta and Motivala, *SWIM: Scalable Weakly-consistent
    Infection-style Process Group Membership Protocol* (DSN 2002). The node that
    owns it feeds it messages and timer ticks; it sends through a callback and
    reports its next deadline.

    The member list is static (the cluster's node ids). Dead members are not
    removed: one of them is pinged every ``dead_probe_interval_s`` so a restarted
    or healed peer is noticed and rejoins (as memberlist's "gossip to the dead").

    With ``view_size > 0`` a member gossips with and probes only a random partial
    view of the group, as HyParView's active view (Leitao, Pereira, Rodrigues,
    DSN 2007, section 4): a dead view member is replaced by a random live one, and
    one member is swapped every ``view_shuffle_s`` so the overlay keeps mixing.
    Dissemination still reaches everyone by piggybacking. This bounds the number
    of connections a node opens over QUIC.

    Args:
        node_id: this member.
        peers: the other members (static).
        rng: the node's seeded generator.
        settings: probe period and timeouts, ``k``, suspicion timeout, piggyback limits.
        send: queues a message for a peer.
        on_change: called with ``(peer, status, incarnation)`` when a peer's status changes.
    """

    def __init__(
        self,
        node_id: NodeId,
        peers: Iterable[NodeId],
        rng: random.Random,
        settings: GossipSettings,
        send: SendFn,
        on_change: ChangeFn | None = None,
    ) -> None:
        self.node_id = node_id
        self.rng = rng
        self.settings = settings
        self._send = send
        self._on_change = on_change
        self.incarnation = 0
        peer_list = [p for p in peers if p != node_id]
        self._n = len(peer_list) + 1
        self.alive = PeerSet(peer_list)
        self.suspect = PeerSet()
        self.dead = PeerSet()
        self._inc: dict[NodeId, int] = {}  # incarnation, when not 0
        self._status: dict[NodeId, Status] = {}  # status, when not ALIVE
        self._known = frozenset(peer_list)
        self.view: PeerSet | None = None
        if settings.view_size > 0:
            self.view = PeerSet(rng.sample(peer_list, min(settings.view_size, len(peer_list))))
        self._view_order: list[NodeId] = []
        self._next_shuffle_at: float | None = None
        # SWIM section 4.3: round-robin probe order, a lazily drawn random permutation.
        self._order = peer_list
        self._order_pos = 0
        self._seq = 0
        self._probe: _Probe | None = None
        self._relays: dict[int, _Relay] = {}
        self._suspect_until: dict[NodeId, float] = {}
        # SWIM section 4.1: updates to piggyback, bucketed by how often each was sent
        # (bucket i holds updates sent i times); each is sent at most _gossip_limit times.
        self._gossip_limit = settings.piggyback_multiplier * max(
            1, math.ceil(math.log2(self._n + 1))
        )
        self._buckets: list[dict[NodeId, MemberUpdate]] = [{} for _ in range(self._gossip_limit)]
        self._bucket_of: dict[NodeId, int] = {}
        self._next_probe_at: float | None = None
        self._next_dead_probe_at: float | None = None
        self.stats = MembershipStats()

    # -- queries --------------------------------------------------------------------
    def status_of(self, peer: NodeId) -> Status:
        """``peer``'s status in this member's view."""
        return self._status.get(peer, Status.ALIVE)

    def incarnation_of(self, peer: NodeId) -> int:
        """The highest incarnation of ``peer`` this member knows."""
        return self._inc.get(peer, 0)

    def targets(self, k: int, exclude: NodeId | None = None) -> list[NodeId]:
        """Up to ``k`` random peers to gossip with: alive ones, else suspects, else dead ones.

        With a partial view, live view members come first. Dead and suspected peers
        are skipped while any peer is alive; a member that believes it is alone keeps
        trying the others, so it can find its way back.
        """
        if self.view is not None:
            live = [p for p in self.view if p != exclude and self.status_of(p) is Status.ALIVE]
            if live:
                return self.rng.sample(live, min(k, len(live)))
        for group in (self.alive, self.suspect, self.dead):
            picked = group.sample(self.rng, k, exclude)
            if picked:
                return picked
        return []

    def next_deadline(self) -> float | None:
        """The earliest time :meth:`on_timer` has work to do."""
        times = [self._next_probe_at, self._next_dead_probe_at, self._next_shuffle_at]
        probe = self._probe
        if probe is not None and not probe.acked and not probe.indirect:
            times.append(probe.timeout_at)
        if self._suspect_until:
            times.append(min(self._suspect_until.values()))
        present = [t for t in times if t is not None]
        return min(present) if present else None

    # -- driven by the node ---------------------------------------------------------------
    def start(self, now: float) -> None:
        """Schedule the first probe (random phase) and the first ping of a dead peer."""
        if self._n <= 1:
            return
        interval = self.settings.probe_interval_s
        self._next_probe_at = now + self.rng.uniform(0.0, interval)
        self._next_dead_probe_at = now + self.settings.dead_probe_interval_s
        if self.view is not None:
            self._next_shuffle_at = now + self.settings.view_shuffle_s

    def on_timer(self, now: float) -> None:
        """Do every piece of work due at ``now``."""
        probe = self._probe
        if probe is not None and not probe.acked and not probe.indirect and probe.timeout_at <= now:
            self._probe_indirectly(probe)
        if self._suspect_until:
            for peer, until in list(self._suspect_until.items()):
                if until <= now:
                    # SWIM section 4.2: an unrefuted suspicion is confirmed.
                    del self._suspect_until[peer]
                    if self.status_of(peer) is Status.SUSPECT:
                        self._apply(MemberUpdate(peer, Status.DEAD, self.incarnation_of(peer)), now)
        if self._next_probe_at is not None and self._next_probe_at <= now:
            self._protocol_period(now)
        if self._next_shuffle_at is not None and self._next_shuffle_at <= now:
            self._next_shuffle_at = now + self.settings.view_shuffle_s
            self._shuffle_view()
        if self._next_dead_probe_at is not None and self._next_dead_probe_at <= now:
            self._next_dead_probe_at = now + self.settings.dead_probe_interval_s
            for peer in self.dead.sample(self.rng, 1):
                self._ping(peer, self._next_seq())

    def on_message(self, src: NodeId, msg: Message, now: float) -> bool:
        """Handle a SWIM message; returns False if ``msg`` is not one."""
        if isinstance(msg, Ping):
            self._merge(msg.gossip, now)
            self._heard_from(src, msg.incarnation, now)
            self.stats.acks_sent += 1
            self._send(
                src,
                Ack(
                    msg.seq, self.node_id, self.incarnation, self.incarnation, self._piggyback(src)
                ),
            )
            return True
        if isinstance(msg, Ack):
            self._merge(msg.gossip, now)
            self._heard_from(src, msg.incarnation, now)
            if msg.target != src and msg.target != self.node_id:
                # a relayed ack is evidence that the probed member is alive
                self._heard_from(msg.target, msg.target_incarnation, now)
            relay = self._relays.pop(msg.seq, None)
            if relay is not None and relay.target == msg.target:
                self.stats.relayed_acks += 1
                self._send(
                    relay.requester,
                    Ack(
                        relay.seq,
                        msg.target,
                        msg.target_incarnation,
                        self.incarnation,
                        self._piggyback(relay.requester),
                    ),
                )
            probe = self._probe
            if probe is not None and probe.seq == msg.seq and probe.target == msg.target:
                probe.acked = True
            return True
        if isinstance(msg, PingReq):
            self._merge(msg.gossip, now)
            self._heard_from(src, msg.incarnation, now)
            if msg.target in self._known:
                seq = self._next_seq()
                self._relays[seq] = _Relay(
                    src, msg.seq, msg.target, now + self.settings.probe_interval_s
                )
                self._ping(msg.target, seq)
            return True
        return False

    # -- SWIM section 3.1: the failure detector ------------------------------------------
    def _protocol_period(self, now: float) -> None:
        probe = self._probe
        if probe is not None and not probe.acked:
            self._suspect(probe.target, now)  # no ack, direct or indirect, this period
        self._probe = None
        self._next_probe_at = now + self.settings.probe_interval_s
        if self._relays:
            for seq, relay in list(self._relays.items()):
                if relay.expires_at <= now:
                    del self._relays[seq]
        target = self._next_target()
        if target is not None:
            seq = self._next_seq()
            self._probe = _Probe(target, seq, now + self.settings.probe_timeout_s)
            self._ping(target, seq)
        if self.suspect:
            # re-probe one suspect directly: the ping carries the suspicion, so a live
            # suspect refutes it at once (section 4.2)
            for peer in self.suspect.sample(self.rng, 1, exclude=target):
                self._ping(peer, self._next_seq())

    def _next_target(self) -> NodeId | None:
        if self.view is not None and len(self.view):
            # probe the view, in a fresh random order each pass (SWIM section 4.3)
            for _ in range(2):
                while self._view_order:
                    peer = self._view_order.pop()
                    if peer in self.view and peer not in self.dead:
                        return peer
                self._view_order = list(self.view)
                self.rng.shuffle(self._view_order)
            return None
        # SWIM section 4.3: round-robin over a random permutation, re-drawn each pass
        # (lazy Fisher-Yates), skipping members confirmed dead.
        order = self._order
        n = len(order)
        for _ in range(n):
            i = self._order_pos
            if i >= n:
                i = 0
            j = self.rng.randrange(i, n)
            order[i], order[j] = order[j], order[i]
            peer = order[i]
            self._order_pos = i + 1
            if peer not in self.dead:
                return peer
        return None

    def _probe_indirectly(self, probe: _Probe) -> None:
        probe.indirect = True
        k = self.settings.indirect_probes
        helpers: list[NodeId] = []
        if self.view is not None:
            helpers = [p for p in self.view if p != probe.target and p in self.alive][:k]
        if not helpers:
            helpers = self.alive.sample(self.rng, k, exclude=probe.target)
        for helper in helpers:
            self.stats.ping_reqs_sent += 1
            self._send(
                helper,
                PingReq(probe.seq, probe.target, self.incarnation, self._piggyback(helper)),
            )

    def _ping(self, peer: NodeId, seq: int) -> None:
        self.stats.pings_sent += 1
        self._send(peer, Ping(seq, self.incarnation, self._piggyback(peer)))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- SWIM section 4.2: suspicion and incarnations ------------------------------------
    def _suspect(self, peer: NodeId, now: float) -> None:
        if self.status_of(peer) is Status.ALIVE:
            self._apply(MemberUpdate(peer, Status.SUSPECT, self.incarnation_of(peer)), now)

    def _heard_from(self, peer: NodeId, incarnation: int, now: float) -> None:
        if peer in self._known:
            self._apply(MemberUpdate(peer, Status.ALIVE, incarnation), now)

    def _merge(self, updates: list[MemberUpdate], now: float) -> None:
        for update in updates:
            self._apply(update, now)

    def _apply(self, update: MemberUpdate, now: float) -> None:
        peer, status, inc = update.node, Status(update.status), update.incarnation
        if peer == self.node_id:
            if status is not Status.ALIVE and inc >= self.incarnation:
                # refute: a higher incarnation overrides the suspicion (or death)
                self.incarnation = inc + 1
                self.stats.refutations += 1
                self._disseminate(MemberUpdate(peer, Status.ALIVE, self.incarnation))
            return
        if peer not in self._known:
            return
        cur_status = self.status_of(peer)
        cur_inc = self.incarnation_of(peer)
        if status is Status.ALIVE:
            wins = inc > cur_inc
        elif status is Status.SUSPECT:
            wins = (cur_status is Status.ALIVE and inc >= cur_inc) or inc > cur_inc
        else:
            wins = (cur_status is not Status.DEAD and inc >= cur_inc) or inc > cur_inc
        if not wins:
            return
        self._set(peer, status, inc, now)
        self._disseminate(MemberUpdate(peer, status, inc))

    def _set(self, peer: NodeId, status: Status, inc: int, now: float) -> None:
        old = self.status_of(peer)
        if inc:
            self._inc[peer] = inc
        else:
            self._inc.pop(peer, None)
        if status is Status.ALIVE:
            self._status.pop(peer, None)
        else:
            self._status[peer] = status
        if status is old:
            if status is Status.SUSPECT:
                self._suspect_until[peer] = now + self.settings.suspicion_timeout_s
            return
        for group in (self.alive, self.suspect, self.dead):
            group.discard(peer)
        if status is Status.ALIVE:
            self.alive.add(peer)
            self._suspect_until.pop(peer, None)
            if old is Status.DEAD:
                self.stats.revived += 1
        elif status is Status.SUSPECT:
            self.suspect.add(peer)
            self._suspect_until[peer] = now + self.settings.suspicion_timeout_s
            self.stats.suspicions += 1
        else:
            self.dead.add(peer)
            self._suspect_until.pop(peer, None)
            self.stats.confirmed_dead += 1
            if self.view is not None and peer in self.view:
                self.view.discard(peer)  # HyParView: replace a failed active-view member
                self._fill_view()
        if self._on_change is not None:
            self._on_change(peer, status, inc)

    # -- HyParView-style partial view ---------------------------------------------------
    def _fill_view(self) -> None:
        view = self.view
        if view is None:
            return
        need = self.settings.view_size - len(view)
        if need <= 0:
            return
        for peer in self.alive.sample(self.rng, need + len(view)):
            if peer not in view:
                view.add(peer)
                need -= 1
                if not need:
                    return

    def _shuffle_view(self) -> None:
        view = self.view
        if view is None:
            return
        fresh = [p for p in self.alive.sample(self.rng, len(view) + 1) if p not in view]
        if fresh and len(view) >= self.settings.view_size:
            view.discard(self.rng.choice(list(view)))
        if fresh:
            view.add(fresh[0])
        self._fill_view()

    # -- SWIM section 4.1: infection-style dissemination ---------------------------------
    def _disseminate(self, update: MemberUpdate) -> None:
        old = self._bucket_of.get(update.node)
        if old is not None:
            del self._buckets[old][update.node]
        self._buckets[0][update.node] = update
        self._bucket_of[update.node] = 0

    def _piggyback(self, dst: NodeId) -> list[MemberUpdate]:
        out: list[MemberUpdate] = []
        status = self.status_of(dst)
        if status is not Status.ALIVE:
            # tell a suspected or dead member what we believe, so it can refute
            out.append(MemberUpdate(dst, status, self.incarnation_of(dst)))
        room = self.settings.piggyback_max
        if not self._bucket_of or room == 0:
            return out
        taken: list[tuple[int, NodeId]] = []
        for i, bucket in enumerate(self._buckets):
            for node in bucket:
                taken.append((i, node))
                if len(taken) == room:
                    break
            if len(taken) == room:
                break
        last = self._gossip_limit - 1
        for i, node in taken:
            update = self._buckets[i].pop(node)
            if not (out and node == dst):
                out.append(update)
            if i < last:
                self._buckets[i + 1][node] = update
                self._bucket_of[node] = i + 1
            else:
                del self._bucket_of[node]
        return out
