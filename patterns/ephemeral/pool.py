"""AgentPool: spawn an agent per work item on demand, reuse idle ones, reap them, scale to zero."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import warnings
from collections import deque
from collections.abc import Coroutine, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from patterns.core.clock import Clock, MonotonicClock
from patterns.core.exceptions import SwarmError
from patterns.ephemeral.accounting import EndReason, PoolAccount
from patterns.ephemeral.agent import Agent, AgentState
from patterns.ephemeral.deadlines import Deadlines
from patterns.ephemeral.exceptions import (
    BadResultError,
    HandlerError,
    HandlerTimeoutError,
    InvalidSpecError,
    MemoryNotPersistedWarning,
    PoolClosedError,
    QueueFullError,
    RehydrationError,
)
from patterns.ephemeral.memory import AgentMemory
from patterns.ephemeral.outcome import ItemOutcome, ItemStatus
from patterns.ephemeral.process import ProcessRunner
from patterns.ephemeral.settings import EphemeralSettings
from patterns.ephemeral.spec import AgentContext, AgentSpec, Isolation


@dataclass(slots=True, eq=False)
class _Work:
    payload: Any
    future: asyncio.Future[ItemOutcome]
    context: contextvars.Context  # the submitter's: the item runs in it


@dataclass(slots=True, eq=False)
class _Lane:
    """Everything the pool keeps per spec: limits, waiting items, idle agents."""

    spec: AgentSpec
    limit: int
    ttl_s: float
    max_idle_s: float
    timeout_s: float
    active: int = 0
    waiting: deque[_Work] = field(default_factory=deque)
    idle: list[Agent] = field(default_factory=list)
    space: asyncio.Event = field(default_factory=asyncio.Event)
    rehydrate: bool = False  # a fresh agent recalls its memories before its first item
    direct: bool = False  # the handler's coroutine runs as the task itself (see _launch)


class _Attempt(asyncio.Task):  # type: ignore[type-arg]
    """The task of one handler call, carrying what :meth:`AgentPool._settle` needs at its end
    (slots, so the call costs no dict, and one done callback shared by every call)."""

    __slots__ = ("agent", "attempt", "future", "ids", "lane", "payload", "slot", "started")
    agent: Agent | None
    attempt: int
    future: asyncio.Future[ItemOutcome]
    ids: tuple[int, ...]  # agents of the item's failed attempts
    lane: _Lane
    payload: Any
    slot: int | None  # of the deadline armed for it
    started: float  # clock time the handler was called


class AgentPool:
    """On-demand agents with TTL and idle reaping, bounded queues and resource accounting.

    Each work item of a spec runs on an idle agent of that spec, or on a
    freshly spawned one (which first rehydrates its top-k memories) while
    fewer than the spec's concurrency limit run. Beyond the limit items wait
    in the spec's bounded queue; when it is full :meth:`submit_nowait` raises
    :class:`QueueFullError` and :meth:`submit` waits for room. Agents idle for
    ``max_idle_s`` or older than ``ttl_s`` are reaped by :meth:`reap` (called
    by a background reaper when ``auto_reap``), so an idle pool holds no agent.

    What an agent learns (:meth:`AgentContext.remember`) is buffered and
    written to memory in batches of ``flush_batch`` and when the agent ends.
    A handler that raises or hangs ends its agent as crashed (its buffered
    memories of earlier, successful items are still written; those of the
    failed item are dropped) and the item is retried on a fresh agent, up to
    ``max_attempts`` calls in all.

    Args:
        settings: the ``ephemeral`` settings group; defaults when ``None``.
        memory: the memory backend agents rehydrate from and persist to.
        clock: the pool's time source (``now()`` in seconds); monotonic by default.
        auto_reap: run a background reaper while the pool is open (``async with``).
    """

    def __init__(
        self,
        settings: EphemeralSettings | None = None,
        *,
        memory: AgentMemory | None = None,
        clock: Clock | None = None,
        auto_reap: bool = True,
    ) -> None:
        self.settings = settings or EphemeralSettings()
        self.memory = memory
        self.clock: Clock = clock or MonotonicClock()
        self.auto_reap = auto_reap
        self._lanes: dict[str, _Lane] = {}
        self._starved: deque[_Lane] = deque()  # lanes waiting for the global running cap
        self._tasks: set[asyncio.Task[Any]] = set()
        self._settle_cb = self._settle  # one bound method for every task's done callback
        self._reaper: asyncio.Task[None] | None = None
        self._reaper_sleeping = False  # the reaper waits between passes (safe to cancel)
        self._process: ProcessRunner | None = None
        self._deadlines: Deadlines | None = None  # handler timeouts, made on first use
        self._closing = False
        self._next_id = 0
        self._running = 0
        self._live = 0  # agents alive (a count: the lanes and tasks hold the agents)
        self._live_spawn_sum = 0.0  # sum of spawned_at over live agents, seconds
        self._started_at = self.clock.now()
        self._agent_seconds = 0.0  # of ended agents
        self._busy_seconds = 0.0
        self._peak = 0
        self._spawns = 0
        self._ended = dict.fromkeys(EndReason, 0)
        self._retries = 0
        self._completed = 0
        self._failed = 0
        self._rejected = 0
        self._flushed = 0
        self._lost = 0
        self._unpersisted = 0  # memories remembered by specs without a namespace
        self._warned_roles: set[str] = set()
        self._zero = asyncio.Event()  # set while no agent is alive
        self._zero.set()

    # ------------------------------------------------------------------ life cycle

    async def __aenter__(self) -> AgentPool:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def start(self) -> None:
        """Start the background reaper (when ``auto_reap``); needs a running loop."""
        if self.auto_reap and self._reaper is None and not self._closing:
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def join(self) -> None:
        """Wait until every accepted work item has ended."""
        while self._tasks:  # asyncio.wait: a cancelled join() cancels no work item
            await asyncio.wait(list(self._tasks))

    async def aclose(self) -> PoolAccount:
        """Stop accepting work, finish what was accepted, end every agent (flushing memories).

        Returns:
            The final account.
        """
        self._closing = True
        await self.join()
        reaper, self._reaper = self._reaper, None
        if reaper is not None:
            if self._reaper_sleeping:  # else it is reaping: it returns once that is written
                reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
        for lane in self._lanes.values():
            idle, lane.idle = lane.idle, []
            for agent in idle:
                await self._end(lane, agent, EndReason.CLOSED)
        if self._process is not None:
            await asyncio.to_thread(self._process.close)
            self._process = None
        return self.account()

    # ------------------------------------------------------------------ submission

    def _lane(self, spec: AgentSpec) -> _Lane:
        lane = self._lanes.get(spec.role)
        if lane is None:
            if spec.namespace is not None and self.memory is None:
                raise InvalidSpecError(
                    f"spec of role {spec.role!r} names memory namespace {spec.namespace!r} but "
                    "this pool has no memory backend, so its agents could neither rehydrate nor "
                    "persist what they remember(): pass AgentPool(memory=StoreMemory(store)) "
                    "or drop the spec's namespace"
                )
            s = self.settings
            lane = _Lane(
                spec,
                limit=spec.max_concurrency or s.default_concurrency,
                ttl_s=spec.ttl_s or s.default_ttl_s,
                max_idle_s=spec.max_idle_s or s.default_max_idle_s,
                timeout_s=spec.timeout_s or s.default_timeout_s,
            )
            lane.rehydrate = (
                spec.namespace is not None and self.memory is not None and s.rehydrate_top_k > 0
            )
            lane.direct = spec.isolation is Isolation.TASK and inspect.iscoroutinefunction(
                spec.handler
            )
            lane.space.set()
            self._lanes[spec.role] = lane
        elif lane.spec is not spec and lane.spec != spec:
            raise InvalidSpecError(f"another spec with role {spec.role!r} is in use in this pool")
        return lane

    def _try_submit(self, spec: AgentSpec, payload: Any) -> asyncio.Future[ItemOutcome] | None:
        if self._closing:
            raise PoolClosedError("the agent pool is closed")
        lane = self._lanes.get(spec.role)
        if lane is None or lane.spec is not spec:
            lane = self._lane(spec)
        future = asyncio.get_running_loop().create_future()
        if lane.waiting or lane.active >= lane.limit or self._running >= self.settings.max_running:
            if len(lane.waiting) >= self.settings.queue_bound:
                lane.space.clear()
                return None
            lane.waiting.append(_Work(payload, future, contextvars.copy_context()))
            if lane.active < lane.limit and lane not in self._starved:
                self._starved.append(lane)
        else:
            self._start(lane, payload, future, contextvars.copy_context())
        return future

    def submit_nowait(self, spec: AgentSpec, payload: Any) -> asyncio.Future[ItemOutcome]:
        """Accept one work item, or refuse it at once.

        Returns:
            A future of the item's :class:`ItemOutcome` (it never raises).

        Raises:
            QueueFullError: the spec's queue holds ``queue_bound`` items already.
            PoolClosedError: the pool is closing.
            InvalidSpecError: another spec with the same role is in use.
        """
        future = self._try_submit(spec, payload)
        if future is None:
            self._rejected += 1
            raise QueueFullError(spec.role, self.settings.queue_bound)
        return future

    async def submit(self, spec: AgentSpec, payload: Any) -> asyncio.Future[ItemOutcome]:
        """Accept one work item, waiting while the spec's queue is full (backpressure).

        Raises:
            PoolClosedError: the pool is closing.
            InvalidSpecError: another spec with the same role is in use.
        """
        while True:
            future = self._try_submit(spec, payload)
            if future is not None:
                return future
            await self._lanes[spec.role].space.wait()

    async def run(self, spec: AgentSpec, payload: Any) -> Any:
        """Run one work item and return its result.

        Raises:
            HandlerError: the handler raised on every attempt.
            HandlerTimeoutError: it hung past its timeout on every attempt.
            BadResultError: it returned a value of the wrong type.
            RehydrationError: a fresh agent could not read its memories.
        """
        outcome = await (await self.submit(spec, payload))
        return outcome.unwrap()

    async def map(
        self, spec: AgentSpec, payloads: Iterable[Any], *, wait_for_room: bool = True
    ) -> list[ItemOutcome]:
        """Run many work items; one outcome per payload, in order.

        Args:
            spec: the agent spec.
            payloads: the work items.
            wait_for_room: wait while the queue is full; otherwise items that
                find it full get a REJECTED outcome with a QueueFullError.
        """
        futures: list[asyncio.Future[ItemOutcome]] = []
        loop = asyncio.get_running_loop()
        for payload in payloads:
            if wait_for_room:
                futures.append(await self.submit(spec, payload))
                continue
            try:
                futures.append(self.submit_nowait(spec, payload))
            except QueueFullError as err:
                rejected: asyncio.Future[ItemOutcome] = loop.create_future()
                rejected.set_result(ItemOutcome(ItemStatus.REJECTED, error=err))
                futures.append(rejected)
        return list(await asyncio.gather(*futures))

    # ------------------------------------------------------------------ running

    def _start(
        self,
        lane: _Lane,
        payload: Any,
        future: asyncio.Future[ItemOutcome],
        context: contextvars.Context,
    ) -> None:
        """Give a work item a running slot of its lane (the slot serves the queue after it)."""
        lane.active += 1
        self._running += 1
        self._launch(lane, None, payload, future, 1, (), context)

    def _next_work(self, lane: _Lane) -> _Work | None:
        if not lane.waiting:
            return None
        work = lane.waiting.popleft()
        lane.space.set()
        return work

    def _wake_starved(self) -> None:
        cap = self.settings.max_running
        while self._starved and self._running < cap:
            lane = self._starved.popleft()
            if lane.active < lane.limit:
                work = self._next_work(lane)
                if work is not None:
                    self._start(lane, work.payload, work.future, work.context)
                    if lane.waiting:
                        self._starved.append(lane)

    def _launch(
        self,
        lane: _Lane,
        agent: Agent | None,
        payload: Any,
        future: asyncio.Future[ItemOutcome],
        attempt: int,
        ids: tuple[int, ...],
        context: contextvars.Context,
    ) -> None:
        """Start one handler call of a work item, as a task whose end :meth:`_settle` handles.

        The first attempt runs on ``agent``, else an idle agent, else a fresh one; each retry
        on a fresh one. When the agent is at hand and the handler is a coroutine function,
        the task runs the handler's own coroutine: no coroutine of the pool's wraps it, so
        an agent alive at its handler's await costs the garbage collector as few objects as
        a bare task does (at tens of thousands of live agents, full collections are most of
        the cost of a spawn). A fresh agent that must rehydrate first, and handlers in a
        worker process or that are not coroutine functions, run in :meth:`_attempt`.
        """
        now = self.clock.now()
        if agent is None:
            if attempt == 1 and lane.idle:
                agent = self._take_idle(lane, now)
            if agent is None and not lane.rehydrate:
                agent = self._spawn(lane, (), now)
        loop = asyncio.get_running_loop()
        coro: Coroutine[Any, Any, Any] | None = None
        if agent is not None and lane.direct:
            agent.state = AgentState.BUSY
            agent._learned = None  # the agent is the handler's context; nothing learned yet
            try:  # a coroutine function runs none of its code when called...
                coro = lane.spec.handler(agent, payload)  # type: ignore[assignment]
            except Exception:  # ...but binds its arguments: call it again in _attempt, to crash
                coro = None
        # the item's context (its submitter's) is also its done callback's: add_done_callback
        # would copy one more
        if coro is not None:
            task = _Attempt(coro, loop=loop, context=context)
            deadlines = self._deadlines
            if deadlines is None or deadlines.loop is not loop:
                deadlines = self._new_deadlines()
            deadlines.arm_soon(task, lane.timeout_s)  # from when the loop starts it
            task.slot = None
            task.started = now
        else:
            task = _Attempt(self._attempt(lane, payload), loop=loop, context=context)
            task.slot = None
            task.started = 0.0
        task.lane = lane
        task.agent = agent
        task.payload = payload
        task.future = future
        task.attempt = attempt
        task.ids = ids
        task.add_done_callback(self._settle_cb, context=context)
        self._tasks.add(task)

    async def _attempt(self, lane: _Lane, payload: Any) -> Any:
        """One handler call the slow way: rehydrate and spawn first if the task has no agent
        yet, then call the handler in this task, or in a worker process."""
        task = asyncio.current_task()
        assert isinstance(task, _Attempt)
        spec = lane.spec
        agent = task.agent
        if agent is None:
            memories = await self._rehydrate(spec, payload)  # raises RehydrationError
            agent = task.agent = self._spawn(lane, memories, self.clock.now())
        agent.state = AgentState.BUSY
        agent._learned = None
        task.started = self.clock.now()
        if spec.isolation is Isolation.PROCESS:
            return await self._call_in_process(lane, agent, payload)
        value = spec.handler(agent, payload)
        if inspect.isawaitable(value):
            deadlines = self._deadlines
            if deadlines is None or deadlines.loop is not task.get_loop():
                deadlines = self._new_deadlines()
            task.slot = deadlines.arm(task, lane.timeout_s)
            value = await value
        return value

    def _settle(self, task: _Attempt) -> None:
        """A handler call ended: settle its item, then retry it or serve the lane's next item."""
        self._tasks.discard(task)
        try:
            step, *args = self._outcome(task)
        except Exception as err:  # a bug of the pool, or a result check that raised
            step, *args = self._settle_failed(task, err)
        step(*args)

    def _outcome(self, task: _Attempt) -> tuple[Any, ...]:
        """Account one ended handler call and settle its item's future unless it is retried.

        Returns:
            What the slot does next: ``(step, *args)``, run by :meth:`_settle`.
        """
        lane, agent, future, attempt = task.lane, task.agent, task.future, task.attempt
        spec = lane.spec
        deadlines = self._deadlines
        timed_out = deadlines is not None and deadlines.disarm(task, task.slot)
        error: SwarmError | None = None
        status = ItemStatus.FAILED
        if task.cancelled():
            if timed_out:
                status = ItemStatus.TIMED_OUT
                error = HandlerTimeoutError(
                    f"handler of role {spec.role!r} ran past its timeout of {lane.timeout_s} s"
                )
            elif task.cancelling():  # the task was cancelled: the loop (or its owner) ends it
                if not future.done():
                    self._rejected += 1
                    future.set_result(
                        ItemOutcome(ItemStatus.REJECTED, error=PoolClosedError("cancelled"))
                    )
                if agent is not None and agent.state is not AgentState.ENDED:
                    self._lost += len(agent.pending)
                    agent.pending = ()
                    self._end_now(agent, EndReason.CLOSED)
                return (self._serve_next, lane, None)  # queued items still run: none hangs
            else:  # a CancelledError raised inside the handler (a future it awaited)
                error = HandlerError(f"handler of role {spec.role!r} was cancelled")
        elif (exc := task.exception()) is not None:
            if agent is None:  # rehydration failed: no agent was spawned, no retry
                if not isinstance(exc, SwarmError):
                    exc = RehydrationError(f"agent of role {spec.role!r}: {exc!r}")
                self._finish(
                    future, ItemOutcome(ItemStatus.FAILED, None, exc, attempt - 1, task.ids)
                )
                return (self._serve_next, lane, None)
            if isinstance(exc, TimeoutError):  # a worker process's timeout, or the handler's own
                status = ItemStatus.TIMED_OUT
                error = HandlerTimeoutError(
                    f"handler of role {spec.role!r} ran past its timeout of {lane.timeout_s} s"
                )
            else:
                error = HandlerError(
                    f"handler of role {spec.role!r} raised {type(exc).__name__}: {exc}"
                )
                error.__cause__ = exc
        assert agent is not None
        now = self.clock.now()
        self._busy_seconds += now - task.started
        if error is None:  # the handler returned (also one that absorbed its deadline's cancel)
            value = task.result()
            agent.last_active = now
            agent.items += 1
            ids = (*task.ids, agent.agent_id)
            if spec.result_type is not None and not isinstance(value, spec.result_type):
                bad = BadResultError(
                    f"handler of role {spec.role!r} returned "
                    f"{type(value).__name__}, expected {spec.result_type!r}"
                )
                self._finish(future, ItemOutcome(ItemStatus.BAD_RESULT, None, bad, attempt, ids))
            else:
                if agent.remembered_any:
                    self._learn(spec, agent, agent.learned)
                self._finish(future, ItemOutcome(ItemStatus.OK, value, None, attempt, ids))
            flush = len(agent.pending) >= self.settings.flush_batch
            if now >= agent.deadline:
                self._end_now(agent, EndReason.TTL)
                flush_agent = agent if agent.pending else None
                return (self._then, lane, flush_agent, self._serve_next, lane, None)
            if flush:
                return (self._then, lane, agent, self._serve_next, lane, agent)
            return (self._serve_next, lane, agent)
        # the handler crashed, hung or was cancelled: its agent is gone (its earlier memories
        # are flushed first)
        ids = (*task.ids, agent.agent_id)
        self._end_now(agent, EndReason.CRASHED)
        flush_agent = agent if agent.pending else None
        if attempt < self.settings.max_attempts:
            self._retries += 1
            # the retry runs in the item's context (with what the failed attempt set in it)
            context = contextvars.copy_context()
            retry = (self._launch, lane, None, task.payload, future, attempt + 1, ids, context)
            return (self._then, lane, flush_agent, *retry)
        self._finish(future, ItemOutcome(status, None, error, attempt, ids))
        return (self._then, lane, flush_agent, self._serve_next, lane, None)

    def _settle_failed(self, task: _Attempt, err: Exception) -> tuple[Any, ...]:
        """Settling raised: fail the item with that error, end its agent, go on serving."""
        lane, agent = task.lane, task.agent
        failure = HandlerError(
            f"agent pool failed settling an item of role {lane.spec.role!r}: {err!r}"
        )
        failure.__cause__ = err
        if not task.future.done():
            self._finish(
                task.future, ItemOutcome(ItemStatus.FAILED, None, failure, task.attempt, task.ids)
            )
        flush_agent = None
        if agent is not None and agent.state is not AgentState.ENDED:
            self._end_now(agent, EndReason.CRASHED)
            flush_agent = agent if agent.pending else None
        return (self._then, lane, flush_agent, self._serve_next, lane, None)

    def _then(self, lane: _Lane, flush: Agent | None, step: Any, *args: Any) -> None:
        """Run ``step(*args)`` now, or once ``flush``'s buffered memories are written."""
        if flush is None:
            step(*args)
            return
        task = asyncio.get_running_loop().create_task(self._flush_then(lane, flush, step, args))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_then(
        self, lane: _Lane, agent: Agent, step: Any, args: tuple[Any, ...]
    ) -> None:
        try:
            await self._flush(lane, agent)
        finally:
            step(*args)

    def _serve_next(self, lane: _Lane, agent: Agent | None) -> None:
        """Serve the lane's next waiting item on ``agent`` (if any), or free the slot.

        While other lanes wait for the shared ``max_running`` cap, the slot goes to the one
        that waited longest and this lane queues behind it, so no lane starves the others.
        """
        if self._starved and self._starved[0] is not lane and lane.waiting:
            if self._running >= self.settings.max_running:
                if lane not in self._starved:
                    self._starved.append(lane)
                work = None
            else:
                work = self._next_work(lane)
        else:
            work = self._next_work(lane)
        if work is not None:
            self._launch(lane, agent, work.payload, work.future, 1, (), work.context)
            return
        if agent is not None:
            agent.state = AgentState.IDLE
            lane.idle.append(agent)
        self._release(lane)

    def _release(self, lane: _Lane) -> None:
        lane.active -= 1
        self._running -= 1
        if self._starved:
            self._wake_starved()

    def _learn(self, spec: AgentSpec, agent: Agent, learned: list[Any]) -> None:
        """Keep what an item's handler remembered: with its agent, and for the store if any."""
        agent.memories += tuple(learned)
        if spec.namespace is not None and self.memory is not None:
            agent.pending += tuple(learned)
        else:
            self._warn_unpersisted(spec, len(learned))

    def _finish(self, future: asyncio.Future[ItemOutcome], outcome: ItemOutcome) -> None:
        if outcome.ok:
            self._completed += 1
        else:
            self._failed += 1
        if not future.done():
            future.set_result(outcome)

    def _take_idle(self, lane: _Lane, now: float) -> Agent | None:
        while lane.idle:
            agent = lane.idle.pop()  # most recently used first: the others go idle and are reaped
            if now < agent.deadline:
                return agent
            self._end_now(agent, EndReason.TTL)
            self._schedule_flush(lane, agent)
        return None

    async def _call_in_process(self, lane: _Lane, agent: Agent, payload: Any) -> Any:
        if self._process is None:
            self._process = ProcessRunner(self.settings.process_workers)
        ctx = AgentContext(agent.agent_id, agent.role, agent.memories)  # what a worker gets
        try:
            value, learned = await self._process.call(
                lane.spec.handler, ctx, payload, lane.timeout_s
            )
        except BrokenProcessPool as err:
            raise RuntimeError(f"worker process died: {err}") from err
        agent.learned[:] = learned
        return value

    def _new_deadlines(self) -> Deadlines:
        self._deadlines = Deadlines(asyncio.get_running_loop())
        return self._deadlines

    def _warn_unpersisted(self, spec: AgentSpec, count: int) -> None:
        """Warn (once per role) that remember() calls of a spec without a namespace are kept
        only by their agent, in process, and end with it."""
        self._unpersisted += count
        if spec.role in self._warned_roles:
            return
        self._warned_roles.add(spec.role)
        warnings.warn(
            f"agents of role {spec.role!r} called remember() but their spec has no memory "
            f"namespace: {count} memory(ies) stay in the agent's process memory and are lost "
            "when it ends; give the spec a namespace and the pool a memory backend "
            "(AgentPool(memory=StoreMemory(store))) to persist them",
            MemoryNotPersistedWarning,
            stacklevel=2,
        )

    # ------------------------------------------------------------------ agents

    async def _rehydrate(self, spec: AgentSpec, payload: Any) -> tuple[Any, ...]:
        """A fresh agent's top-k memories for its first work item."""
        assert spec.namespace is not None and self.memory is not None
        try:
            found = tuple(
                await self.memory.recall(
                    spec.namespace, spec.query(spec.role, payload), self.settings.rehydrate_top_k
                )
            )
        except Exception as err:
            raise RehydrationError(
                f"agent of role {spec.role!r} could not recall memories of "
                f"namespace {spec.namespace!r}: {err}"
            ) from err
        return found

    def _spawn(self, lane: _Lane, memories: tuple[Any, ...], now: float) -> Agent:
        self._next_id += 1
        agent = Agent(self._next_id, lane.spec.role, memories, now, now, now + lane.ttl_s)
        if not self._live:
            self._zero.clear()
        self._live += 1
        self._live_spawn_sum += now
        self._spawns += 1
        if self._live > self._peak:
            self._peak = self._live
        return agent

    def _end_now(self, agent: Agent, reason: EndReason) -> None:
        """Account an agent's end (its pending memories are flushed separately)."""
        if agent.state is AgentState.ENDED:
            return
        agent.state = AgentState.ENDED
        now = self.clock.now()
        self._live -= 1
        self._live_spawn_sum -= agent.spawned_at
        self._agent_seconds += now - agent.spawned_at
        self._ended[reason] += 1
        if not self._live:
            self._zero.set()

    async def _end(self, lane: _Lane, agent: Agent, reason: EndReason) -> None:
        self._end_now(agent, reason)
        if agent.pending:
            await self._flush(lane, agent)

    def _schedule_flush(self, lane: _Lane, agent: Agent) -> None:
        if agent.pending:
            task = asyncio.get_running_loop().create_task(self._flush(lane, agent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, lane: _Lane, agent: Agent) -> None:
        """Write an agent's buffered memories in one batch (write-behind)."""
        batch, agent.pending = agent.pending, ()
        namespace = lane.spec.namespace
        if not batch or namespace is None or self.memory is None:
            return
        try:
            await self.memory.persist(namespace, batch)
        except (Exception, asyncio.CancelledError) as err:
            if agent.state is AgentState.ENDED:
                self._lost += len(batch)
            else:  # keep them for the next flush
                agent.pending = batch + agent.pending
            if isinstance(err, asyncio.CancelledError):
                raise
            return
        self._flushed += len(batch)

    # ------------------------------------------------------------------ reaping

    def next_deadline(self) -> float | None:
        """The earliest clock time at which an idle agent becomes reapable, or ``None``."""
        best: float | None = None
        for lane in self._lanes.values():
            for agent in lane.idle:
                t = min(agent.deadline, agent.last_active + lane.max_idle_s)
                if best is None or t < best:
                    best = t
        return best

    async def reap(self) -> int:
        """End idle agents that were idle ``max_idle_s`` or lived ``ttl_s``; flush their memories.

        Returns:
            How many agents were reaped.
        """
        now = self.clock.now()
        reaped: list[tuple[_Lane, Agent, EndReason]] = []
        for lane in self._lanes.values():
            keep: list[Agent] = []
            for agent in lane.idle:
                if now >= agent.deadline:
                    reaped.append((lane, agent, EndReason.TTL))
                elif now >= agent.last_active + lane.max_idle_s:
                    reaped.append((lane, agent, EndReason.IDLE))
                else:
                    keep.append(agent)
            lane.idle = keep
        for _lane, agent, reason in reaped:
            self._end_now(agent, reason)
        to_flush = [(lane, agent) for lane, agent, _ in reaped if agent.pending]
        for i, (lane, agent) in enumerate(to_flush):
            try:
                await self._flush(lane, agent)
            except asyncio.CancelledError:
                for _, rest in to_flush[i + 1 :]:  # ended: nobody else will write them
                    self._lost += len(rest.pending)
                    rest.pending = ()
                raise
        return len(reaped)

    async def _reap_forever(self) -> None:
        interval = self.settings.reap_interval_s
        while not self._closing:
            deadline = self.next_deadline()
            wait = interval if deadline is None else min(interval, deadline - self.clock.now())
            if wait > 0:
                self._reaper_sleeping = True
                try:
                    await asyncio.sleep(wait)
                finally:
                    self._reaper_sleeping = False
            if self._closing:
                return
            await self.reap()

    async def wait_scaled_to_zero(self) -> None:
        """Return once no agent is alive (at once if none is)."""
        await self._zero.wait()

    # ------------------------------------------------------------------ accounting

    @property
    def live_agents(self) -> int:
        """Agents alive now (busy or idle)."""
        return self._live

    @property
    def running(self) -> int:
        """Agents running a work item now."""
        return self._running

    @property
    def queued(self) -> int:
        """Work items waiting in every spec's queue."""
        return sum(len(lane.waiting) for lane in self._lanes.values())

    def idle_agents(self, spec: AgentSpec) -> int:
        """Idle agents of ``spec``."""
        lane = self._lanes.get(spec.role)
        return 0 if lane is None else len(lane.idle)

    def account(self) -> PoolAccount:
        """A snapshot of the pool's resource use up to now."""
        now = self.clock.now()
        live = self._live
        return PoolAccount(
            span_s=now - self._started_at,
            agent_seconds=self._agent_seconds + live * now - self._live_spawn_sum,
            busy_seconds=self._busy_seconds,
            live_agents=live,
            peak_agents=self._peak,
            spawns=self._spawns,
            reaps_idle=self._ended[EndReason.IDLE],
            reaps_ttl=self._ended[EndReason.TTL],
            crashes=self._ended[EndReason.CRASHED],
            closed=self._ended[EndReason.CLOSED],
            retries=self._retries,
            completed=self._completed,
            failed=self._failed,
            rejected=self._rejected,
            memories_flushed=self._flushed,
            memories_lost=self._lost,
            memories_unpersisted=self._unpersisted,
        )
