"""Timeouts for very many concurrent handler calls, with one loop timer per time slot.

``asyncio.timeout`` schedules one timer handle per call (a heap push and a
cancel each time); at tens of thousands of short calls per second that is a
large part of the spawn path. :class:`Deadlines` groups deadlines into slots of
``resolution_s`` and keeps one timer per slot that is in use: arming a call is
a dict insert, disarming it a dict pop. A call times out at most
``resolution_s`` after its deadline (never before it).

:meth:`Deadlines.arm_soon` arms a task created but not started yet: every task armed
so is armed by one callback the loop runs in its next pass over ready callbacks, so
a timeout does not count the time a task waited for a busy (or blocked) loop to
start it.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any


class Deadlines:
    """Cancel tasks whose deadline passed, one loop timer per slot of ``resolution_s``.

    Use it as ``asyncio.timeout`` is used, with :meth:`arm` before the await and
    :meth:`disarm` after it (in ``finally``); a task that :meth:`expired` was
    cancelled by its deadline, and the caller turns that cancellation into a
    ``TimeoutError`` after :meth:`disarm` uncancelled it.
    """

    __slots__ = ("_expired", "_later", "_loop", "_resolution", "_slots", "_soon", "_soon_pending")

    def __init__(self, loop: asyncio.AbstractEventLoop, resolution_s: float = 0.005) -> None:
        if not (resolution_s > 0 and math.isfinite(resolution_s)):
            raise ValueError(f"resolution_s={resolution_s!r} must be a positive finite number")
        self._loop = loop
        self._resolution = resolution_s
        self._slots: dict[int, dict[asyncio.Task[Any], None]] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._soon: dict[asyncio.Task[Any], float] = {}  # to arm in the loop's next pass
        self._soon_pending = False  # the callback arming them is scheduled
        self._later: dict[asyncio.Task[Any], int] = {}  # slots of tasks armed by that callback

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop whose timers this uses."""
        return self._loop

    def arm(self, task: asyncio.Task[Any], timeout_s: float) -> int:
        """Cancel ``task`` once ``timeout_s`` seconds of loop time passed; returns the slot."""
        slot = math.ceil((self._loop.time() + timeout_s) / self._resolution)
        tasks = self._slots.get(slot)
        if tasks is None:
            tasks = self._slots[slot] = {}
            self._loop.call_at(slot * self._resolution, self._fire, slot)
        tasks[task] = None
        return slot

    def arm_soon(self, task: asyncio.Task[Any], timeout_s: float) -> None:
        """Arm ``task`` in the loop's next pass over ready callbacks (disarm it with
        ``disarm(task)``): its ``timeout_s`` starts about when the loop starts it."""
        self._soon[task] = timeout_s
        if not self._soon_pending:
            self._soon_pending = True
            self._loop.call_soon(self._arm_soon)

    def _arm_soon(self) -> None:
        self._soon_pending = False
        soon, self._soon = self._soon, {}
        for task, timeout_s in soon.items():
            if not task.done():
                self._later[task] = self.arm(task, timeout_s)

    def disarm(self, task: asyncio.Task[Any], slot: int | None = None) -> bool:
        """Stop watching ``task``; True when its deadline had already cancelled it.

        ``slot`` is what :meth:`arm` returned; ``None`` for a task armed with
        :meth:`arm_soon` (or never armed). The deadline's cancel request is withdrawn
        (``task.uncancel()``), so the caller may raise ``TimeoutError`` in place of the
        ``CancelledError``.
        """
        if slot is None:
            if self._soon.pop(task, None) is not None:
                return False  # not armed yet
            slot = self._later.pop(task, None)
        tasks = None if slot is None else self._slots.get(slot)
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
        return sum(len(tasks) for tasks in self._slots.values()) + len(self._soon)
