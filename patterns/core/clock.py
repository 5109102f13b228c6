"""Clock abstraction: protocol code takes ``now`` as an argument; runtimes own a clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic time in seconds."""

    def now(self) -> float:
        """Current time in seconds."""
        ...


class MonotonicClock:
    """Wall-clock runtime time (``time.monotonic``); used only by real runtimes."""

    def now(self) -> float:
        """Seconds from an arbitrary fixed origin."""
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; used by the simulator and tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        """The current virtual time."""
        return self._now

    def advance_to(self, t: float) -> None:
        """Move the clock forward to ``t`` (never backwards)."""
        if t < self._now:
            raise ValueError(f"clock cannot go back from {self._now} to {t}")
        self._now = t
