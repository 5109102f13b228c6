"""A private event loop on a daemon thread that runs LanceDB's async API for sync callers."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """An asyncio loop running forever on its own daemon thread.

    One coroutine per call crosses the thread boundary, so a LanceDB query
    costs one hand-off (LanceDB's own sync wrapper makes several per query).
    It also works when the caller already runs inside an event loop (an async
    Prefect task), where ``asyncio.run`` would fail. After ``fork`` the child
    lazily starts a fresh thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = -1

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="swarmkit-memory-loop", daemon=True
                )
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop thread and return its result (or raise its error)."""
        loop = self._ensure()
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


LOOP = BackgroundLoop()
"""The process-wide loop shared by every :class:`~patterns.memory.store.MemoryStore`."""
