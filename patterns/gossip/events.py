"""Events a gossip node emits, for applications and invariant checkers (one dataclass per kind)."""

from __future__ import annotations

from dataclasses import dataclass

from patterns.gossip.messages import Status
from patterns.net.node import Event


@dataclass(frozen=True, slots=True)
class NodeStarted(Event):
    """A node (re)booted with an empty document and this Yjs client id."""

    client_id: int


@dataclass(frozen=True, slots=True)
class LocalEdit(Event):
    """A local transaction changed the document; ``update`` is exactly its change."""

    client_id: int
    update: bytes


@dataclass(frozen=True, slots=True)
class DocChanged(Event):
    """The document changed (local edit or remote update).

    ``state`` is the encoded state vector; ``fingerprint`` is the state vector
    plus the delete set (equal fingerprints mean equal documents).
    """

    state: bytes
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class UpdateRejected(Event):
    """Bytes from ``src`` were refused (checksum, decoding or size); nothing changed."""

    src: int
    kind: str
    size: int
    reason: str


@dataclass(frozen=True, slots=True)
class MemberChanged(Event):
    """This node's view of ``peer`` changed."""

    peer: int
    status: Status
    incarnation: int


@dataclass(frozen=True, slots=True)
class ClientIdRotated(Event):
    """A peer sent structs under our client id (an earlier incarnation): we took a new one."""

    old: int
    new: int
