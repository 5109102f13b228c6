"""One ephemeral agent's bookkeeping: lifetime, state and write-behind buffer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from patterns.ephemeral.spec import AgentContext, Memory


class AgentState(StrEnum):
    """Life cycle of an agent: spawned busy, then busy/idle until it ends."""

    BUSY = "busy"
    IDLE = "idle"
    ENDED = "ended"


@dataclass(slots=True, eq=False)
class Agent(AgentContext):
    """An agent of one spec: the context its handler sees, plus what the pool keeps of it.

    An agent is its own handler context (:class:`AgentContext`; ``learned`` starts empty
    for each work item), so that at tens of thousands of live agents each costs the garbage
    collector one object, not two. Handlers in a worker process get a plain
    :class:`AgentContext` copy.

    Attributes:
        spawned_at: clock time of its spawn, seconds.
        last_active: clock time its last work item ended (or its spawn), seconds.
        deadline: clock time its TTL runs out, seconds.
        state: busy, idle or ended.
        pending: learned memories not yet written to the store.
        items: work items it completed.
    """

    spawned_at: float = 0.0
    last_active: float = 0.0
    deadline: float = math.inf
    state: AgentState = AgentState.BUSY
    pending: tuple[Memory, ...] = ()
    items: int = 0

    # identity, as for any live thing (AgentContext compares by value)
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @property
    def id(self) -> int:
        """The agent's id, unique within its pool (``agent_id``)."""
        return self.agent_id
