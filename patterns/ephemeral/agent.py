"""One ephemeral agent's bookkeeping: lifetime, state and write-behind buffer."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from patterns.ephemeral.spec import Memory


class AgentState(StrEnum):
    """Life cycle of an agent: spawned busy, then busy/idle until it ends."""

    BUSY = "busy"
    IDLE = "idle"
    ENDED = "ended"


@dataclass(slots=True, eq=False)
class Agent:
    """An agent of one spec (the pool owns it; handlers see an AgentContext).

    Attributes:
        id: unique within the pool.
        role: its spec's role.
        spawned_at: clock time of its spawn, seconds.
        last_active: clock time its last work item ended (or its spawn), seconds.
        deadline: clock time its TTL runs out, seconds.
        memories: rehydrated memories plus those learned in this life.
        pending: learned memories not yet written to the store.
    """

    id: int
    role: str
    spawned_at: float
    last_active: float
    deadline: float
    state: AgentState = AgentState.BUSY
    memories: tuple[Memory, ...] = ()
    pending: tuple[Memory, ...] = ()
    items: int = 0
    busy_since: float = 0.0
