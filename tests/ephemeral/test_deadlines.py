"""Deadlines: the slot timer behind handler timeouts cancels late tasks only, and is told apart
from other cancellations."""

from __future__ import annotations

import asyncio

import pytest

from patterns.ephemeral import AgentContext, AgentPool, AgentSpec, EphemeralSettings, ItemStatus
from patterns.ephemeral.deadlines import Deadlines


async def _guarded(deadlines: Deadlines, timeout_s: float, inner: asyncio.Future[None]) -> str:
    task = asyncio.current_task()
    assert task is not None
    slot = deadlines.arm(task, timeout_s)
    try:
        await inner
    except asyncio.CancelledError:
        if deadlines.disarm(task, slot):
            return "timed out"
        raise
    deadlines.disarm(task, slot)
    return "finished"


async def test_only_tasks_past_their_deadline_are_cancelled() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop, resolution_s=0.001)
    slow: asyncio.Future[None] = loop.create_future()
    quick: asyncio.Future[None] = loop.create_future()
    late = asyncio.create_task(_guarded(deadlines, 0.005, slow))
    early = asyncio.create_task(_guarded(deadlines, 3600.0, quick))
    await asyncio.sleep(0)
    assert deadlines.armed() == 2
    quick.set_result(None)
    assert await early == "finished"
    assert await late == "timed out"
    assert deadlines.armed() == 0
    assert late.cancelling() == 0  # the deadline's cancel request was withdrawn


async def test_an_outside_cancel_stays_a_cancel() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop, resolution_s=0.001)
    never: asyncio.Future[None] = loop.create_future()
    task = asyncio.create_task(_guarded(deadlines, 3600.0, never))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deadlines.armed() == 0


async def test_resolution_must_be_positive() -> None:
    with pytest.raises(ValueError, match="resolution_s"):
        Deadlines(asyncio.get_running_loop(), resolution_s=0.0)


async def test_pool_timeouts_leave_fast_items_of_the_same_spec_alone() -> None:
    never = asyncio.Event()

    async def maybe_hang(ctx: AgentContext, payload: int) -> int:
        if payload < 0:
            await never.wait()
        await asyncio.sleep(0)
        return payload

    pool = AgentPool(EphemeralSettings(max_attempts=1), auto_reap=False)
    spec = AgentSpec("mixed", maybe_hang, timeout_s=0.02)
    outcomes = await pool.map(spec, [1, -1, 2, -2, 3])
    await pool.aclose()
    assert [o.status for o in outcomes] == [
        ItemStatus.OK,
        ItemStatus.TIMED_OUT,
        ItemStatus.OK,
        ItemStatus.TIMED_OUT,
        ItemStatus.OK,
    ]
    assert [o.value for o in outcomes if o.ok] == [1, 2, 3]


async def test_closing_the_pool_while_a_handler_waits_is_not_a_timeout() -> None:
    never = asyncio.Event()

    async def hang(ctx: AgentContext, payload: int) -> int:
        await never.wait()
        return payload

    pool = AgentPool(EphemeralSettings(max_attempts=1), auto_reap=False)
    future = pool.submit_nowait(AgentSpec("hang", hang, timeout_s=3600.0), 1)
    await asyncio.sleep(0)
    for task in list(pool._tasks):
        task.cancel()
    outcome = await future
    assert outcome.status is ItemStatus.REJECTED  # cancelled, not TIMED_OUT
    await pool.aclose()


async def test_a_handler_that_absorbs_its_timeout_and_returns_keeps_its_result() -> None:
    async def stubborn(ctx: AgentContext, payload: int) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:  # cleans up and answers anyway, as asyncio.timeout allows
            return -payload
        return payload

    pool = AgentPool(EphemeralSettings(max_attempts=1), auto_reap=False)
    outcome = await pool.submit_nowait(AgentSpec("stubborn", stubborn, timeout_s=0.01), 3)
    await pool.aclose()
    assert outcome.status is ItemStatus.OK and outcome.value == -3


async def test_arm_soon_starts_the_timeout_when_the_loop_gets_round_to_the_task() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop, resolution_s=0.001)
    never: asyncio.Future[None] = loop.create_future()

    async def wait() -> None:
        await never

    tasks = [asyncio.create_task(wait()) for _ in range(3)]
    for task in tasks:
        deadlines.arm_soon(task, 3600.0)
    assert deadlines.armed() == 3 and not deadlines._slots  # no timer yet: nothing ran
    await asyncio.sleep(0)  # one pass of the loop arms all three, with one timer
    assert deadlines.armed() == 3 and len(deadlines._slots) == 1
    assert [deadlines.disarm(task) for task in tasks] == [False, False, False]
    assert deadlines.armed() == 0
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_handler_timeout_does_not_count_the_wait_for_a_busy_loop() -> None:
    async def quick(ctx: AgentContext, payload: int) -> int:
        await asyncio.sleep(0)
        return payload

    pool = AgentPool(EphemeralSettings(max_attempts=1), auto_reap=False)
    future = pool.submit_nowait(AgentSpec("quick", quick, timeout_s=0.05), 1)
    deadlines = pool._deadlines
    assert deadlines is not None and not deadlines._slots  # armed once the loop starts it
    assert (await future).status is ItemStatus.OK
    await pool.aclose()
