"""What an agent is: its spec, the context its handler sees, and the memories it carries."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from patterns.ephemeral.exceptions import InvalidSpecError

MAX_QUERY_CHARS = 2000  # longest rehydration query, characters


class Isolation(StrEnum):
    """Where a spec's handler runs."""

    TASK = "task"  # an asyncio task in the pool's event loop (I/O-bound handlers)
    PROCESS = "process"  # a worker process (CPU-heavy handlers; sync, picklable handler)


@dataclass(frozen=True, slots=True)
class Memory:
    """One remembered fact: what an agent recalls on spawn and what it learns."""

    text: str
    kind: str = "note"
    metadata: Mapping[str, Any] = field(default_factory=dict)
    similarity: float | None = None


@dataclass(slots=True)
class AgentContext:
    """What a handler sees of its agent for one work item.

    Attributes:
        agent_id: the agent's id, unique within the pool.
        role: the spec's role.
        memories: the agent's rehydrated memories plus what it learned so far.
        learned: memories recorded by this work item (see :meth:`remember`).
    """

    agent_id: int
    role: str
    memories: tuple[Memory, ...] = ()
    # made on the first remember(): most items remember nothing, and a list per live agent
    # is one more object for the garbage collector to walk at tens of thousands of agents
    _learned: list[Memory] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def learned(self) -> list[Memory]:
        """Memories recorded by this work item (see :meth:`remember`)."""
        if self._learned is None:
            self._learned = []
        return self._learned

    @property
    def remembered_any(self) -> bool:
        """True once this work item recorded a memory."""
        return bool(self._learned)

    def remember(
        self, text: str, *, kind: str = "note", metadata: Mapping[str, Any] | None = None
    ) -> None:
        """Record a memory; it is persisted (write-behind) only if this work item succeeds."""
        if not isinstance(text, str) or not text:
            raise InvalidSpecError("a memory's text must be a non-empty string")
        self.learned.append(Memory(text, kind, dict(metadata or {})))


Handler = Callable[[AgentContext, Any], Awaitable[Any] | Any]
"""``handler(ctx, payload)``: async (or, for process isolation, a sync picklable function)."""


def default_query(role: str, payload: object) -> str:
    """The rehydration query of a fresh agent: its role and its first work item."""
    return f"{role}: {payload}"[:MAX_QUERY_CHARS]


def _positive(name: str, value: float | None) -> None:
    if value is not None and not (
        isinstance(value, int | float) and math.isfinite(value) and value > 0
    ):
        raise InvalidSpecError(f"{name}={value!r} must be a positive finite number")


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """The kind of agent a work item needs.

    Agents of one spec are interchangeable: an idle agent of the spec takes
    the next item of that spec. ``None`` fields take the pool's
    :class:`~patterns.ephemeral.settings.EphemeralSettings` defaults.

    Args:
        role: the agent's role; also names its lane in the pool (unique per pool).
        handler: ``handler(ctx, payload) -> result``; a coroutine function for
            :attr:`Isolation.TASK`, a module-level sync function for
            :attr:`Isolation.PROCESS`.
        namespace: memory namespace to rehydrate from and persist to; no memory when ``None``.
        ttl_s: longest life of one agent, seconds.
        max_idle_s: idle time after which an agent is reaped, seconds.
        max_concurrency: agents of this spec that may run at once.
        timeout_s: time one handler call may take, seconds.
        result_type: the type (or tuple of types) a handler must return; any when ``None``.
        isolation: where the handler runs.
        query: ``query(role, payload)`` builds the rehydration query.
    """

    role: str
    handler: Handler
    namespace: str | None = None
    ttl_s: float | None = None
    max_idle_s: float | None = None
    max_concurrency: int | None = None
    timeout_s: float | None = None
    result_type: type | tuple[type, ...] | None = None
    isolation: Isolation = Isolation.TASK
    query: Callable[[str, object], str] = default_query

    def __post_init__(self) -> None:
        if not isinstance(self.role, str) or not self.role:
            raise InvalidSpecError("an agent spec needs a non-empty role")
        if not callable(self.handler):
            raise InvalidSpecError(f"handler of role {self.role!r} is not callable")
        if self.namespace is not None and (
            not isinstance(self.namespace, str) or not self.namespace
        ):
            raise InvalidSpecError(f"namespace={self.namespace!r} must be a non-empty string")
        for name in ("ttl_s", "max_idle_s", "timeout_s"):
            _positive(name, getattr(self, name))
        limit = self.max_concurrency
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidSpecError(f"max_concurrency={limit!r} must be a positive integer")
        if self.result_type is not None:
            try:
                isinstance(None, self.result_type)
            except TypeError as err:
                raise InvalidSpecError(
                    f"result_type={self.result_type!r} of role {self.role!r} cannot be checked "
                    "with isinstance: give a class or a tuple of classes (list, not list[str])"
                ) from err
        try:
            Isolation(self.isolation)
        except ValueError as err:
            raise InvalidSpecError(f"unknown isolation {self.isolation!r}") from err
