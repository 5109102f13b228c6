"""Timeouts for very many concurrent handler calls, with one loop timer per time slot.

``asyncio.timeout`` schedules one timer handle per call (a heap push and a
cancel each time); at tens of thousands of short calls per second that is a
large part of the spawn path. :class:`Deadlines` groups deadlines into slots of
``resolution_s`` and keeps one timer per slot that is in use: arming a call is
a dict insert, disarming it a dict pop. A call times out at most
``resolution_s`` after its deadline (never before it).
"""

from __future__ import annotations

import asyncio
import math


class Deadlines:
    """Cancel tasks whose deadline passed, one loop timer per slot of ``resolution_s``.

    Use it as ``asyncio.timeout`` is used, with :meth:`arm` before the await and
    :meth:`disarm` after it (in ``finally``); a task that :meth:`expired` was
    cancelled by its deadline, and the caller turns that cancellation into a
    ``TimeoutError`` after :meth:`disarm` uncancelled it.
    """

    __slots__ = ("_expired", "_loop", "_resolution", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution_s: float = 0.005) -> None:
        if not (resolution_s > 0 and math.isfinite(resolution_s)):
            raise ValueError(f"resolution_s={resolution_s!r} must be a positive finite number")
        self._loop = loop
        self._resolution = resolution_s
        self._slots: dict[int, dict[asyncio.Task[object], None]] = {}
        self._expired: set[asyncio.Task[object]] = set()

    def arm(self, task: asyncio.Task[object], timeout_s: float) -> int:
        """Cancel ``task`` once ``timeout_s`` seconds of loop time passed; returns the slot."""
        slot = math.ceil((self._loop.time() + timeout_s) / self._resolution)
        tasks = self._slots.get(slot)
        if tasks is None:
            tasks = self._slots[slot] = {}
            self._loop.call_at(slot * self._resolution, self._fire, slot)
        tasks[task] = None
        return slot

    def disarm(self, task: asyncio.Task[object], slot: int) -> bool:
        """Stop watching ``task``; True when its deadline had already cancelled it.

        The deadline's cancel request is withdrawn (``task.uncancel()``), so the
        caller may raise ``TimeoutError`` in place of the ``CancelledError``.
        """
        tasks = self._slots.get(slot)
        if tasks is not None:
            tasks.pop(task, None)
        if task in self._expired:
            self._expired.discard(task)
            task.uncancel()
            return True
        return False

    def _fire(self, slot: int) -> None:
        tasks = self._slots.pop(slot, None)
        if not tasks:
            return
        for task in tasks:
            if not task.done():
                self._expired.add(task)
                task.cancel()

    def armed(self) -> int:
        """Tasks armed now (counts every slot: for tests and diagnostics, not hot paths)."""
        return sum(len(tasks) for tasks in self._slots.values())
