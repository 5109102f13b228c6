"""The result of one work item: a value or a typed error, never silence."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from patterns.core.exceptions import SwarmError


class ItemStatus(StrEnum):
    """How a work item ended."""

    OK = "ok"
    FAILED = "failed"  # the handler raised on every attempt, or rehydration failed
    TIMED_OUT = "timed_out"  # the handler hung past its timeout on every attempt
    BAD_RESULT = "bad_result"  # the handler returned the wrong type
    REJECTED = "rejected"  # the queue was full or the pool closed; never started


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """One work item's end.

    Attributes:
        status: how it ended.
        value: the handler's result when ``status`` is OK, else ``None``.
        error: the typed error otherwise.
        attempts: handler calls made (0 for a rejected item).
        agent_ids: the agents that ran it, in order.
    """

    status: ItemStatus
    value: Any = None
    error: SwarmError | None = None
    attempts: int = 0
    agent_ids: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the handler returned a valid result."""
        return self.status is ItemStatus.OK

    def unwrap(self) -> Any:
        """The value, or raise the item's typed error."""
        if self.error is not None:
            raise self.error
        return self.value
