"""The gossip node: a pycrdt document replicated by anti-entropy and rumors over SWIM membership."""

from __future__ import annotations

import hmac
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from pycrdt import Doc

from patterns.core.codec import Message
from patterns.core.ids import NodeId
from patterns.gossip.document import DEFAULT_ROOTS, ReplicatedDoc, RootKind, new_client_id
from patterns.gossip.events import (
    ClientIdRotated,
    DocChanged,
    LocalEdit,
    MemberChanged,
    NodeStarted,
    UpdateRejected,
)
from patterns.gossip.exceptions import MalformedUpdateError
from patterns.gossip.membership import SwimMembership
from patterns.gossip.messages import (
    LINK_MACED,
    Rumor,
    Status,
    SyncReply,
    SyncRequest,
    SyncUpdate,
    UpdatePart,
    link_mac,
    link_mac_body,
)
from patterns.gossip.settings import GossipSettings, checked
from patterns.gossip.statevec import (
    checksum,
    decode_state_vector,
    encode_state_vector,
    has_structs_missing_from,
)
from patterns.net.linkkeys import LinkKeys, pair_key
from patterns.net.node import Node

logger = logging.getLogger(__name__)

ROUND_TIMER = "anti-entropy"
STUCK_DIFFS = 3  # diffs from one peer in a row that change nothing before asking for it all
EMPTY_STATE_VECTOR = encode_state_vector({})  # "I have nothing": the peer answers with everything
FULL_STATE_DS_CRC = -1  # never a real CRC-32: the peer also sends its whole delete set
SWIM_TIMER = "swim"


@dataclass(slots=True)
class ReplicationStats:
    """Counters of one node's replication traffic and bad input."""

    rounds: int = 0
    rumors_sent: int = 0
    rumors_forwarded: int = 0
    sync_requests_sent: int = 0
    sync_replies_sent: int = 0
    sync_updates_sent: int = 0
    syncs_in_step: int = 0
    updates_applied: int = 0
    updates_redundant: int = 0
    update_bytes_sent: int = 0
    state_bytes_sent: int = 0
    rejected_updates: int = 0
    oversized_updates: int = 0
    client_id_rotations: int = 0
    full_state_requests: int = 0
    update_parts_sent: int = 0
    update_parts_received: int = 0
    transfers_joined: int = 0


@dataclass(slots=True)
class _Transfer:
    """The parts of one peer's update received so far (see :class:`UpdatePart`)."""

    transfer: int
    total: int
    size: int
    crc: int
    parts: dict[int, bytes]
    received: int = 0


class ReplicaNode(Node):
    """A node owning a :class:`ReplicatedDoc`, with edit commands (the shared base).

    Commands take ``now`` and return the update the edit made (None if nothing
    changed). Subclasses decide how updates travel, in :meth:`on_local_update`.

    Args:
        node_id: this node's id.
        peers: the other nodes.
        rng: the node's seeded generator (a fresh one per incarnation).
        settings: gossip settings (defaults if None).
        roots: the document's root names and types.
        client_id: the Yjs client id; drawn from ``rng`` if None. A restarted node
            must not reuse an earlier incarnation's id.
    """

    def __init__(
        self,
        node_id: NodeId,
        peers: Iterable[NodeId],
        rng: random.Random | None = None,
        *,
        settings: GossipSettings | None = None,
        roots: Mapping[str, RootKind] = DEFAULT_ROOTS,
        client_id: int | None = None,
    ) -> None:
        super().__init__(node_id, peers, rng)
        self.settings = checked(settings)
        cid = client_id if client_id is not None else new_client_id(self.rng)
        self.replica = ReplicatedDoc(cid, roots)
        self.stats = ReplicationStats()
        self._own_clock = 0  # structs this replica made under its current client id
        self.links: LinkKeys | None = None

    # -- link authentication ---------------------------------------------------------------
    def use_link_keys(self, links: LinkKeys) -> bool:
        """Authenticate messages per link (QUIC: keys agreed inside mutual TLS).

        From now on every update, state vector, rumor and SWIM probe sent carries the
        MAC of its link, and one received without a valid MAC from its sender is
        rejected before its bytes are looked at.
        """
        self.links = links
        return True

    def send(self, dst: NodeId, msg: Message) -> None:
        """Queue ``msg`` for ``dst``, with the link's MAC when the node has link keys."""
        links = self.links
        if links is not None and isinstance(msg, LINK_MACED):
            key = pair_key(links.send_key(dst), self.node_id, dst)
            msg = msgspec.structs.replace(msg, mac=link_mac(key, link_mac_body(msg)))
        super().send(dst, msg)

    def broadcast(self, msg: Message, peers: Iterable[NodeId] | None = None) -> None:
        """Queue ``msg`` for every peer (or the given ones), each with its own link MAC."""
        for dst in self.peers if peers is None else peers:
            if dst != self.node_id:
                self.send(dst, msg)

    def receive(self, src: NodeId, msg: Message, now: float) -> None:
        """Check a message's link MAC (with link keys), then handle it."""
        links = self.links
        if links is not None and isinstance(msg, LINK_MACED):
            mac, body = msg.mac, link_mac_body(msg)
            if not any(
                hmac.compare_digest(link_mac(pair_key(k, src, self.node_id), body), mac)
                for k in links.receive_keys(src)
            ):
                size = len(getattr(msg, "update", b"")) or len(getattr(msg, "state", b""))
                self._reject(src, type(msg).__name__, size, "bad link MAC")
                return
        self.on_message(src, msg, now)

    # -- lifecycle --------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Announce the (re)boot and the empty document."""
        self.emit(NodeStarted(self.replica.client_id))
        self._doc_changed()

    # -- commands ---------------------------------------------------------------------
    def edit(self, fn: Callable[[Doc[Any]], object], now: float) -> bytes | None:
        """Run ``fn(doc)`` in one local transaction and replicate what it changed."""
        try:
            _, update = self.replica.transact(fn)
        except Exception:
            self._local_change_after_error()
            raise
        if update is not None:
            self._local_update(update, now)
        return update

    def set_key(self, key: str, value: Any, now: float, root: str = "map") -> bytes | None:
        """Set ``key`` to ``value`` in the map root ``root``."""
        return self.edit(lambda _doc: self.replica.map(root).__setitem__(key, value), now)

    def delete_key(self, key: str, now: float, root: str = "map") -> bytes | None:
        """Delete ``key`` from the map root ``root`` (no-op if absent)."""

        def delete(_doc: Doc[Any]) -> None:
            m = self.replica.map(root)
            if key in m:
                del m[key]

        return self.edit(delete, now)

    def append(self, value: Any, now: float, root: str = "array") -> bytes | None:
        """Append ``value`` to the array root ``root``."""
        return self.edit(lambda _doc: self.replica.array(root).append(value), now)

    def delete_items(
        self, index: int, length: int, now: float, root: str = "array"
    ) -> bytes | None:
        """Delete ``length`` items from ``index`` in the array root ``root`` (clipped)."""

        def delete(_doc: Doc[Any]) -> None:
            arr = self.replica.array(root)
            end = min(len(arr), index + length)
            if 0 <= index < end:
                del arr[index:end]

        return self.edit(delete, now)

    def insert_text(self, index: int, text: str, now: float, root: str = "text") -> bytes | None:
        """Insert ``text`` at ``index`` (clipped to the length) in the text root ``root``."""

        def insert(_doc: Doc[Any]) -> None:
            t = self.replica.text(root)
            t.insert(max(0, min(index, len(t))), text)

        return self.edit(insert, now)

    def delete_text(self, index: int, length: int, now: float, root: str = "text") -> bytes | None:
        """Delete ``length`` characters from ``index`` in the text root ``root`` (clipped)."""

        def delete(_doc: Doc[Any]) -> None:
            t = self.replica.text(root)
            end = min(len(t), index + length)
            if 0 <= index < end:
                del t[index:end]

        return self.edit(delete, now)

    # -- queries ----------------------------------------------------------------------
    @property
    def doc(self) -> Doc[Any]:
        """The pycrdt document (read it; edit it only through :meth:`edit`)."""
        return self.replica.doc

    def snapshot(self) -> dict[str, Any]:
        """The document content as plain Python."""
        return self.replica.snapshot()

    @property
    def fingerprint(self) -> bytes:
        """State vector plus delete set; equal on two nodes iff their documents are equal."""
        return self.replica.fingerprint

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for logs and artifacts."""
        return {
            **super().describe(),
            "client_id": self.replica.client_id,
            "replication": asdict(self.stats),
        }

    # -- for subclasses -----------------------------------------------------------------
    def on_local_update(self, update: bytes, now: float) -> None:
        """Ship a fresh local update (rumor, or nothing and let rounds carry it)."""

    def apply_remote(
        self, src: NodeId, update: bytes, crc: int | None, kind: str, *, parts: bool = False
    ) -> bool | None:
        """Apply a peer's update: True if it changed the document, False if not, None if rejected.

        Rejected bytes (over the size limit, bad checksum, undecodable) are counted in
        ``stats.rejected_updates``, logged and reported as :class:`UpdateRejected`;
        the document is unchanged. ``parts``: joined from :class:`UpdatePart` messages,
        so ``max_transfer_bytes`` bounds it instead of ``max_update_bytes``.
        """
        limit = self.settings.max_transfer_bytes if parts else self.settings.max_update_bytes
        if len(update) > limit:
            name = "max_transfer_bytes" if parts else "max_update_bytes"
            self._reject(src, kind, len(update), f"larger than {name}")
            return None
        try:
            changed = self.replica.apply_remote(update, crc)
        except MalformedUpdateError as err:
            self._reject(src, kind, len(update), str(err))
            return None
        if changed:
            self.stats.updates_applied += 1
            self._check_client_id()
            self._doc_changed()
        else:
            self.stats.updates_redundant += 1
        return changed

    def reject_state(self, src: NodeId, kind: str, size: int, err: MalformedUpdateError) -> None:
        """Count and log a state vector that does not decode."""
        self._reject(src, kind, size, str(err))

    def sendable(self, update: bytes, *, parts: bool = False) -> bool:
        """True if ``update`` fits ``max_update_bytes`` (with ``parts``: ``max_transfer_bytes``,
        sent in parts); counts and logs it otherwise."""
        name = "max_transfer_bytes" if parts else "max_update_bytes"
        limit: int = getattr(self.settings, name)
        if len(update) <= limit:
            return True
        self.stats.oversized_updates += 1
        logger.warning(
            "node %s: update of %d bytes exceeds %s=%d; not sent",
            self.node_id,
            len(update),
            name,
            limit,
        )
        return False

    def send_in_parts(self, dst: NodeId, update: bytes) -> None:
        """Send ``update`` to ``dst`` as :class:`UpdatePart` messages of ``max_update_bytes``."""
        step = self.settings.max_update_bytes
        transfer = self.rng.getrandbits(62)
        total = -(-len(update) // step)
        crc = checksum(update)
        for i in range(total):
            self.stats.update_parts_sent += 1
            self.send(
                dst,
                UpdatePart(transfer, i, total, len(update), crc, update[i * step : (i + 1) * step]),
            )
        self.stats.update_bytes_sent += len(update)

    # -- internals -----------------------------------------------------------------------
    def _local_update(self, update: bytes, now: float) -> None:
        self._own_clock = self.replica.state_vector.get(self.replica.client_id, 0)
        self.emit(LocalEdit(self.replica.client_id, update))
        self._doc_changed()
        self.on_local_update(update, now)

    def _local_change_after_error(self) -> None:
        # A failed transaction may still have changed the document; anti-entropy ships it.
        sv = self.replica.state_vector
        self._own_clock = sv.get(self.replica.client_id, 0)
        self._doc_changed()

    def _doc_changed(self) -> None:
        self.emit(DocChanged(self.replica.state, self.replica.fingerprint))

    def _check_client_id(self) -> None:
        # Yjs client ids must be unique per replica lifetime: if a peer holds structs under
        # our id that we did not make, an earlier incarnation used it; move to a new id.
        cid = self.replica.client_id
        if self.replica.state_vector.get(cid, 0) != self._own_clock:
            new = new_client_id(self.rng)
            self.replica.rotate_client_id(new)
            self._own_clock = 0
            self.stats.client_id_rotations += 1
            self.emit(ClientIdRotated(cid, new))
            logger.warning("node %s: client id %d reused by a peer; now %d", self.node_id, cid, new)

    def _reject(self, src: NodeId, kind: str, size: int, reason: str) -> None:
        self.stats.rejected_updates += 1
        logger.warning(
            "node %s: rejected %s of %d bytes from %s: %s", self.node_id, kind, size, src, reason
        )
        self.emit(UpdateRejected(src, kind, size, reason))


class GossipNode(ReplicaNode):
    """One replica: push-pull anti-entropy with state vectors, rumors, SWIM membership.

    Replication follows Demers et al., *Epidemic Algorithms for Replicated
    Database Maintenance* (PODC 1987):

    * Anti-entropy, push-pull (section 1.3). Every ``period_s`` the node sends its
      state vector (and the CRC of its delete set) to ``fanout`` random live peers.
      A peer answers with exactly the update the sender lacks and, if it lacks
      something itself, its own state vector; the sender then ships what the peer
      lacks. Peers in step exchange one small message and nothing else. Deletions
      do not advance a Yjs state vector, which is why the delete-set CRC travels too.
    * Rumor mongering (section 1.4). A local edit is pushed at once to ``fanout``
      peers; a node that learns something new from a rumor forwards it to
      ``fanout`` peers while hops remain. A rumor stops at nodes that already had
      it, and anti-entropy finishes whatever rumors miss.

    Peers come from the SWIM membership: dead and suspected peers are skipped, and
    a restarted or healed node catches up through anti-entropy.

    Commands (all take ``now``): :meth:`edit`, :meth:`set_key`, :meth:`delete_key`,
    :meth:`append`, :meth:`delete_items`, :meth:`insert_text`, :meth:`delete_text`,
    and :meth:`sync_now` (an extra anti-entropy round).

    Args:
        node_id: this node's id.
        peers: the cluster's node ids (its own is ignored).
        rng: the node's seeded generator (a fresh one per incarnation).
        settings: fanout, period, rumor hops, SWIM timing (defaults if None).
        roots: the document's root names and types.
        client_id: the Yjs client id; drawn from ``rng`` if None.
    """

    def __init__(
        self,
        node_id: NodeId,
        peers: Iterable[NodeId],
        rng: random.Random | None = None,
        *,
        settings: GossipSettings | None = None,
        roots: Mapping[str, RootKind] = DEFAULT_ROOTS,
        client_id: int | None = None,
    ) -> None:
        super().__init__(node_id, peers, rng, settings=settings, roots=roots, client_id=client_id)
        self.membership = SwimMembership(
            node_id, self.peers, self.rng, self.settings, self.send, self._member_changed
        )
        self._stuck: dict[NodeId, int] = {}  # consecutive diffs from a peer that changed nothing
        self._transfers: dict[NodeId, _Transfer] = {}  # at most one unfinished per peer

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Boot: first anti-entropy round at a random phase, SWIM probing."""
        super().start(now)
        if self.peers:
            self.set_timer(ROUND_TIMER, now + self.rng.uniform(0.0, self.settings.period_s))
        self.membership.start(now)
        self._arm_swim()

    # -- commands ----------------------------------------------------------------------
    def sync_now(self, now: float) -> None:
        """Run one anti-entropy round at once (the periodic rounds continue)."""
        self._anti_entropy(now)

    # -- protocol ----------------------------------------------------------------------
    def on_message(self, src: NodeId, msg: Message, now: float) -> None:
        if isinstance(msg, Rumor):
            self._on_rumor(src, msg)
        elif isinstance(msg, SyncRequest):
            self._on_sync_request(src, msg)
        elif isinstance(msg, SyncReply):
            self._on_sync_reply(src, msg)
        elif isinstance(msg, SyncUpdate):
            self.apply_remote(src, msg.update, msg.crc, "sync-update")
        elif isinstance(msg, UpdatePart):
            self._on_update_part(src, msg)
        elif self.membership.on_message(src, msg, now):
            self._arm_swim()
        else:
            logger.warning(
                "node %s: ignored unknown %s from %s", self.node_id, type(msg).__name__, src
            )

    def on_timer(self, name: str, now: float) -> None:
        if name == ROUND_TIMER:
            self._anti_entropy(now)
            self.set_timer(ROUND_TIMER, now + self.settings.period_s)
        elif name == SWIM_TIMER:
            self.membership.on_timer(now)
            self._arm_swim()

    def on_local_update(self, update: bytes, now: float) -> None:
        """Rumor mongering (Demers section 1.4): push a fresh edit to ``fanout`` peers."""
        hops = self.settings.rumor_hops
        if hops <= 0 or not self.sendable(update):
            return
        msg = Rumor(update, checksum(update), hops - 1)
        for peer in self.membership.targets(self.settings.fanout):
            self.stats.rumors_sent += 1
            self.stats.update_bytes_sent += len(update)
            self.send(peer, msg)

    # -- Demers section 1.4: rumor mongering -----------------------------------------------
    def _on_rumor(self, src: NodeId, msg: Rumor) -> None:
        changed = self.apply_remote(src, msg.update, msg.crc, "rumor")
        if not changed or msg.hops <= 0:
            return  # already known (or rejected): the rumor stops here
        fwd = Rumor(msg.update, msg.crc, msg.hops - 1)
        for peer in self.membership.targets(self.settings.fanout, exclude=src):
            self.stats.rumors_forwarded += 1
            self.stats.update_bytes_sent += len(msg.update)
            self.send(peer, fwd)

    # -- Demers section 1.3: push-pull anti-entropy with state vectors ---------------------
    def _anti_entropy(self, now: float) -> None:
        self.stats.rounds += 1
        targets = self.membership.targets(self.settings.fanout)
        if not targets:
            return
        replica = self.replica
        msg = SyncRequest(replica.state, replica.ds_crc)
        for peer in targets:
            self.stats.sync_requests_sent += 1
            self.stats.state_bytes_sent += len(msg.state)
            self.send(peer, msg)

    def _on_sync_request(self, src: NodeId, msg: SyncRequest) -> None:
        replica = self.replica
        if msg.state == replica.state and msg.ds_crc == replica.ds_crc:
            self.stats.syncs_in_step += 1
            return  # in step: nothing to send either way
        try:
            theirs = decode_state_vector(msg.state)
        except MalformedUpdateError as err:
            self.reject_state(src, "sync-request", len(msg.state), err)
            return
        mine = replica.state_vector
        deletes_differ = msg.ds_crc != replica.ds_crc
        update = large = b""
        if deletes_differ or has_structs_missing_from(mine, theirs):
            update = replica.update_for(msg.state)
            if len(update) > self.settings.max_update_bytes:
                large = update if self.sendable(update, parts=True) else b""
                update = b""
        want = deletes_differ or has_structs_missing_from(theirs, mine)
        if not update and not large and not want:
            self.stats.syncs_in_step += 1
            return
        if large:
            self.send_in_parts(src, large)
            if not want:
                return
        state = replica.state if want else b""
        self.stats.sync_replies_sent += 1
        self.stats.update_bytes_sent += len(update)
        self.stats.state_bytes_sent += len(state)
        self.send(src, SyncReply(update, checksum(update), state, replica.ds_crc))

    def _on_sync_reply(self, src: NodeId, msg: SyncReply) -> None:
        if msg.update:
            changed = self.apply_remote(src, msg.update, msg.crc, "sync-reply")
            self._note_progress(src, changed)
        if not msg.state:
            return  # the peer lacks nothing
        try:
            theirs = decode_state_vector(msg.state)
        except MalformedUpdateError as err:
            self.reject_state(src, "sync-reply", len(msg.state), err)
            return
        replica = self.replica
        if msg.ds_crc == replica.ds_crc and not has_structs_missing_from(
            replica.state_vector, theirs
        ):
            return
        update = replica.update_for(msg.state)
        if len(update) > self.settings.max_update_bytes:
            if self.sendable(update, parts=True):
                self.send_in_parts(src, update)
            return
        self.stats.sync_updates_sent += 1
        self.stats.update_bytes_sent += len(update)
        self.send(src, SyncUpdate(update, checksum(update)))

    def _on_update_part(self, src: NodeId, msg: UpdatePart) -> None:
        """Keep a part; apply the update once its transfer is whole.

        A new transfer from a peer replaces its unfinished one (its lost parts are not
        resent: the next anti-entropy round starts a new transfer). A part that cannot
        belong to a transfer within the limits is rejected and ends the transfer it claims.
        """
        s = self.settings
        self.stats.update_parts_received += 1
        if (
            not 0 <= msg.index < msg.total <= msg.size
            or msg.size > s.max_transfer_bytes
            or not 0 < len(msg.data) <= s.max_update_bytes
        ):
            self._transfers.pop(src, None)
            self._reject(src, "update-part", len(msg.data), "part outside the transfer limits")
            return
        t = self._transfers.get(src)
        if t is None or t.transfer != msg.transfer:
            t = self._transfers[src] = _Transfer(msg.transfer, msg.total, msg.size, msg.crc, {})
        elif (t.total, t.size, t.crc) != (msg.total, msg.size, msg.crc):
            del self._transfers[src]
            self._reject(src, "update-part", len(msg.data), "part disagrees with its transfer")
            return
        if msg.index in t.parts:
            return  # a duplicate
        t.parts[msg.index] = msg.data
        t.received += len(msg.data)
        if t.received > t.size:
            del self._transfers[src]
            self._reject(src, "update-part", t.received, "parts longer than the transfer")
            return
        if len(t.parts) < t.total:
            return
        del self._transfers[src]
        update = b"".join(t.parts[i] for i in range(t.total))
        if len(update) != t.size:
            self._reject(
                src, "update-part", len(update), f"parts join to {len(update)} of {t.size} bytes"
            )
            return
        self.stats.transfers_joined += 1
        changed = self.apply_remote(src, update, t.crc, "update-parts", parts=True)
        self._note_progress(src, changed)

    def _note_progress(self, src: NodeId, changed: bool | None) -> None:
        """A peer whose diffs keep changing nothing gets asked for its whole state.

        A diff is computed against our state vector; Yjs keeps a struct pending when one of
        its dependencies is missing here, and a diff from a state vector alone can leave it
        pending for good (seen under crash-restarts and clock drift: one node stayed an
        update behind for a minute). The full state carries every dependency.
        """
        if changed is not False:
            self._stuck.pop(src, None)
            return
        self._stuck[src] = self._stuck.get(src, 0) + 1
        if self._stuck[src] < STUCK_DIFFS:
            return
        del self._stuck[src]
        self.stats.full_state_requests += 1
        self.send(src, SyncRequest(EMPTY_STATE_VECTOR, FULL_STATE_DS_CRC))

    # -- membership -------------------------------------------------------------------------
    def _arm_swim(self) -> None:
        at = self.membership.next_deadline()
        if at is None:
            self.cancel_timer(SWIM_TIMER)
        else:
            self.set_timer(SWIM_TIMER, at)

    def _member_changed(self, peer: NodeId, status: Status, incarnation: int) -> None:
        self.emit(MemberChanged(peer, status, incarnation))

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for logs and artifacts."""
        m = self.membership
        return {
            **super().describe(),
            "incarnation": m.incarnation,
            "alive": len(m.alive),
            "suspect": len(m.suspect),
            "dead": len(m.dead),
            "membership": asdict(m.stats),
        }
