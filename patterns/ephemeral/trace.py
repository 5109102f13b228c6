"""Seeded bursty workloads and a virtual-time driver that replays them through an AgentPool."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable
from dataclasses import dataclass

from patterns.core.clock import ManualClock
from patterns.ephemeral.accounting import PoolAccount
from patterns.ephemeral.outcome import ItemOutcome
from patterns.ephemeral.pool import AgentPool
from patterns.ephemeral.settings import EphemeralSettings
from patterns.ephemeral.spec import AgentContext, AgentSpec

MAX_SETTLE_ROUNDS = 100_000  # event-loop turns allowed for running agents to block or finish


@dataclass(frozen=True, slots=True)
class Arrival:
    """One work item of a trace: when it arrives and how long it keeps an agent busy."""

    index: int
    at_s: float
    service_s: float


@dataclass(frozen=True, slots=True)
class BurstyTrace:
    """A workload: arrivals in time order, and the time the trace ends, seconds."""

    arrivals: tuple[Arrival, ...]
    end_s: float


def bursty_trace(
    seed: int,
    *,
    bursts: int = 12,
    mean_gap_s: float = 300.0,
    burst_s: float = 10.0,
    rate_per_s: float = 20.0,
    mean_service_s: float = 0.5,
) -> BurstyTrace:
    """Poisson bursts separated by idle gaps, reproducible from ``seed``.

    Each burst lasts ``burst_s`` with Poisson arrivals at ``rate_per_s``;
    gaps before each burst (and after the last) are exponential with mean
    ``mean_gap_s``; service times are exponential with mean ``mean_service_s``.
    """
    rng = random.Random(seed)
    arrivals: list[Arrival] = []
    t = 0.0
    for _ in range(bursts):
        t += rng.expovariate(1.0 / mean_gap_s)
        start, stop = t, t + burst_s
        u = start + rng.expovariate(rate_per_s)
        while u < stop:
            service = rng.expovariate(1.0 / mean_service_s)
            arrivals.append(Arrival(len(arrivals), u, service))
            u += rng.expovariate(rate_per_s)
        t = stop
    return BurstyTrace(tuple(arrivals), t + rng.expovariate(1.0 / mean_gap_s))


class VirtualTime:
    """A manual clock with timers that handlers await; only the driver moves time."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.clock = clock or ManualClock()
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def sleep(self, delay_s: float) -> Awaitable[None]:
        """A future that resolves once the clock reaches now + ``delay_s``."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._timers, (self.clock.now() + delay_s, self._seq, future))
        return future

    @property
    def waiting(self) -> int:
        """Timers not fired yet."""
        return len(self._timers)

    def next_time(self) -> float | None:
        """When the earliest timer fires, or ``None``."""
        return self._timers[0][0] if self._timers else None

    def fire_due(self) -> None:
        """Resolve every timer due at the current time."""
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, future = heapq.heappop(self._timers)
            if not future.done():
                future.set_result(None)


async def _settle(pool: AgentPool, vt: VirtualTime) -> None:
    """Let the loop run until every running agent waits on a timer."""
    for _ in range(MAX_SETTLE_ROUNDS):
        if pool.running == vt.waiting:
            return
        await asyncio.sleep(0)  # one loop turn, not a delay
    raise RuntimeError(f"pool did not settle: {pool.running} running, {vt.waiting} timers")


async def _advance(pool: AgentPool, vt: VirtualTime, target_s: float) -> None:
    """Move time to ``target_s`` through every timer and reap deadline on the way."""
    while True:
        times = [t for t in (vt.next_time(), pool.next_deadline()) if t is not None]
        step = min(times) if times else None
        if step is None or step > target_s:
            break
        vt.clock.advance_to(max(step, vt.clock.now()))
        vt.fire_due()
        await _settle(pool, vt)
        await pool.reap()
    vt.clock.advance_to(max(target_s, vt.clock.now()))
    vt.fire_due()
    await _settle(pool, vt)
    await pool.reap()


def trace_spec(vt: VirtualTime, role: str = "worker", **limits: float | int | None) -> AgentSpec:
    """A spec whose handler keeps its agent busy for the arrival's service time (virtual)."""

    async def serve(ctx: AgentContext, arrival: Arrival) -> int:
        await vt.sleep(arrival.service_s)
        return arrival.index

    return AgentSpec(role, serve, result_type=int, **limits)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What replaying a trace cost: the pool's account and every item's outcome."""

    account: PoolAccount
    outcomes: tuple[ItemOutcome, ...]


async def replay(
    pool: AgentPool, vt: VirtualTime, spec: AgentSpec, trace: BurstyTrace
) -> ReplayReport:
    """Submit every arrival at its time, run virtual time to the trace's end (or the backlog's).

    The pool must use ``vt.clock`` and ``auto_reap=False``: the driver reaps
    exactly at each agent's deadline, so the accounting is exact.
    """
    futures: list[asyncio.Future[ItemOutcome]] = []
    for arrival in trace.arrivals:
        await _advance(pool, vt, arrival.at_s)
        futures.append(await pool.submit(spec, arrival))
        await _settle(pool, vt)
    await _advance(pool, vt, trace.end_s)
    while (pending := vt.next_time()) is not None:  # a backlog may outlast the trace
        await _advance(pool, vt, pending)
    outcomes = tuple(await asyncio.gather(*futures))
    return ReplayReport(pool.account(), outcomes)


async def replay_bursty(
    seed: int,
    settings: EphemeralSettings | None = None,
    *,
    max_idle_s: float | None = None,
    ttl_s: float | None = None,
    max_concurrency: int | None = None,
    **trace_args: float | int,
) -> ReplayReport:
    """Replay :func:`bursty_trace` ``(seed, **trace_args)`` through a fresh pool in virtual time."""
    trace = bursty_trace(seed, **trace_args)  # type: ignore[arg-type]
    vt = VirtualTime()
    spec = trace_spec(vt, max_idle_s=max_idle_s, ttl_s=ttl_s, max_concurrency=max_concurrency)
    pool = AgentPool(settings, clock=vt.clock, auto_reap=False)
    try:
        return await replay(pool, vt, spec, trace)
    finally:
        await pool.aclose()
