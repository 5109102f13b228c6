"""Process-isolated agents, and bursty traces replayed in virtual time (resource saving)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.core.clock import ManualClock
from patterns.ephemeral import (
    AgentPool,
    AgentSpec,
    EphemeralSettings,
    HandlerError,
    HandlerTimeoutError,
    Isolation,
    ItemStatus,
    MemoryNotPersistedWarning,
    bursty_trace,
    replay_bursty,
)
from tests.ephemeral.handlers import explode, hang, sum_of_squares


async def test_process_isolated_agents_have_the_same_interface(clock: ManualClock) -> None:
    pool = AgentPool(EphemeralSettings(process_workers=2), clock=clock, auto_reap=False)
    cpu = AgentSpec("cpu", sum_of_squares, isolation=Isolation.PROCESS, result_type=int)
    # The handler remembers what it computed, but the spec has no namespace: said, not dropped.
    with pytest.warns(MemoryNotPersistedWarning, match="role 'cpu'"):
        outcomes = await pool.map(cpu, [10, 1000, 20_000])
    assert [o.value for o in outcomes] == [sum(i * i for i in range(n)) for n in (10, 1000, 20_000)]
    crash = await pool.submit_nowait(AgentSpec("bad", explode, isolation=Isolation.PROCESS), 1)
    assert isinstance(crash.error, HandlerError) and crash.attempts == 2
    assert isinstance(crash.error.__cause__, ValueError)
    hung = await pool.submit_nowait(
        AgentSpec("hung", hang, isolation=Isolation.PROCESS, timeout_s=0.5), 1
    )
    assert hung.status is ItemStatus.TIMED_OUT and isinstance(hung.error, HandlerTimeoutError)
    assert await pool.run(cpu, 4) == 14  # fresh workers after the hung ones were killed
    acct = await pool.aclose()
    assert acct.crashes == 4 and acct.completed == 4
    assert acct.memories_unpersisted == 4  # learned in the worker processes, counted here


def test_bursty_trace_is_seeded_and_bursty() -> None:
    a, b, c = bursty_trace(1), bursty_trace(1), bursty_trace(2)
    assert a == b and a != c
    times = [x.at_s for x in a.arrivals]
    assert times == sorted(times) and a.end_s > times[-1]
    gaps = sorted(later - earlier for earlier, later in itertools.pairwise(times))
    assert gaps[-1] > 30 * gaps[len(gaps) // 2]  # idle gaps dwarf in-burst spacing


async def test_bursty_replay_saves_over_90_percent_of_an_always_on_pool() -> None:
    report = await replay_bursty(7, max_idle_s=5.0)
    acct = report.account
    assert all(o.ok for o in report.outcomes) and len(report.outcomes) == acct.completed
    assert [o.value for o in report.outcomes] == list(range(len(report.outcomes)))
    assert acct.live_agents == 0  # scaled to zero after the last burst
    assert acct.saving_pct >= 90.0
    assert acct.busy_seconds <= acct.agent_seconds <= acct.always_on_agent_seconds


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    idle=st.floats(0.1, 50.0),
    limit=st.integers(1, 8),
    rate=st.floats(1.0, 40.0),
)
async def test_replay_accounting_invariants(
    seed: int, idle: float, limit: int, rate: float
) -> None:
    report = await replay_bursty(
        seed,
        EphemeralSettings(queue_bound=100_000),
        max_idle_s=idle,
        max_concurrency=limit,
        bursts=3,
        burst_s=2.0,
        rate_per_s=rate,
        mean_gap_s=60.0,
    )
    acct = report.account
    assert all(o.ok for o in report.outcomes)
    assert acct.peak_agents <= limit
    assert acct.spawns == acct.reaps + acct.live_agents + acct.crashes + acct.closed
    assert acct.busy_seconds <= acct.agent_seconds + 1e-6
    assert acct.agent_seconds <= acct.always_on_agent_seconds + 1e-6
