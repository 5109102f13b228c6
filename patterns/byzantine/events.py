"""Events of PBFT replicas and clients (one frozen dataclass per kind), for apps and checkers."""

from __future__ import annotations

from dataclasses import dataclass

from patterns.byzantine.messages import CommitCertificate
from patterns.net.node import Event


@dataclass(frozen=True, slots=True)
class ExecutedRequest:
    """One request as executed: who sent it, its timestamp, operation and result."""

    client: int
    timestamp: int
    op: bytes
    result: bytes


@dataclass(frozen=True, slots=True)
class BatchExecuted(Event):
    """A replica executed the committed batch ``digest`` at ``seq``.

    ``requests`` holds the requests actually executed (duplicates of requests
    already executed are answered from the reply cache and left out).
    """

    replica: int
    seq: int
    view: int
    digest: bytes
    requests: tuple[ExecutedRequest, ...]


@dataclass(frozen=True, slots=True)
class CheckpointTaken(Event):
    """A replica's state after ``seq`` has digest ``state_digest``."""

    replica: int
    seq: int
    state_digest: bytes


@dataclass(frozen=True, slots=True)
class CheckpointStable(Event):
    """A replica collected 2f+1 matching checkpoints at ``seq`` and collected garbage below."""

    replica: int
    seq: int


@dataclass(frozen=True, slots=True)
class StateInstalled(Event):
    """A replica that fell behind installed the state of stable checkpoint ``seq``."""

    replica: int
    seq: int
    state_digest: bytes


@dataclass(frozen=True, slots=True)
class ViewChangeStarted(Event):
    """A replica stopped accepting messages of its view and asked for ``new_view``."""

    replica: int
    new_view: int


@dataclass(frozen=True, slots=True)
class NewViewEntered(Event):
    """A replica entered ``view`` (``primary`` is its primary)."""

    replica: int
    view: int
    primary: int


@dataclass(frozen=True, slots=True)
class RequestSent(Event):
    """A client sent a new request (the invocation of a linearizable operation)."""

    client: int
    timestamp: int
    op: bytes


@dataclass(frozen=True, slots=True)
class ReplyAccepted(Event):
    """A client collected f+1 matching replies (the response of the operation)."""

    client: int
    timestamp: int
    op: bytes
    result: bytes
    seq: int
    certificate: CommitCertificate | None
