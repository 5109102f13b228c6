"""Process isolation: run sync, picklable handlers in worker processes with a hard timeout."""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from patterns.ephemeral.spec import AgentContext, Handler, Memory

START_METHOD = "forkserver"  # never fork: the parent runs threads (LanceDB's loop)


def call_in_worker(handler: Handler, ctx: AgentContext, payload: Any) -> tuple[Any, list[Memory]]:
    """Worker side: run the handler once; return its result and what it learned."""
    return handler(ctx, payload), ctx.learned


class ProcessRunner:
    """A pool of worker processes that agents of process-isolated specs run their items on.

    A handler that hangs past its timeout cannot be interrupted inside its
    process, so the whole worker pool is killed and replaced; items other
    agents were running on it fail as crashes and are retried by the pool.

    Args:
        workers: number of worker processes.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0

    def _ensure(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context(START_METHOD)
            )
        return self._executor

    async def call(
        self, handler: Handler, ctx: AgentContext, payload: Any, timeout_s: float
    ) -> tuple[Any, list[Memory]]:
        """Run ``handler(ctx, payload)`` in a worker.

        Raises:
            TimeoutError: it ran past ``timeout_s`` (the workers were replaced).
            concurrent.futures.process.BrokenProcessPool: a worker died.
            Exception: whatever the handler raised.
        """
        executor = self._ensure()
        future = executor.submit(call_in_worker, handler, ctx, payload)
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            self._kill(executor)
            raise

    def _kill(self, executor: ProcessPoolExecutor) -> None:
        if self._executor is executor:
            self._executor = None
            self.restarts += 1
        # The executor keeps its processes in a private mapping; terminate them
        # so a hung handler does not keep a CPU busy forever.
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.kill()

    def close(self) -> None:
        """Stop the workers (waits for running items)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
