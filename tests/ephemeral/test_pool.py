"""AgentPool: spawning and routing, reaping on a manual clock, backpressure, bad handlers, accounting."""

from __future__ import annotations

import asyncio

import pytest

from patterns.core.clock import ManualClock
from patterns.core.exceptions import BackpressureError, PermanentError, RetryableError
from patterns.ephemeral import (
    AgentContext,
    AgentPool,
    AgentSpec,
    BadResultError,
    EphemeralSettings,
    HandlerError,
    HandlerTimeoutError,
    InvalidSpecError,
    ItemStatus,
    PoolClosedError,
    QueueFullError,
)


async def echo(ctx: AgentContext, payload: object) -> tuple[int, object]:
    return ctx.agent_id, payload


class Gate:
    """Handlers that block until released; ``entered`` counts those inside."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.all_in = asyncio.Event()
        self.expect = 0

    async def handler(self, ctx: AgentContext, payload: object) -> object:
        self.entered += 1
        if self.entered >= self.expect:
            self.all_in.set()
        await self.release.wait()
        return payload


async def test_idle_agent_is_reused_and_reaped_after_max_idle(
    pool: AgentPool, clock: ManualClock
) -> None:
    spec = AgentSpec("echo", echo)
    first, _ = await pool.run(spec, "a")
    clock.advance_to(1005.0)
    second, _ = await pool.run(spec, "b")
    assert first == second  # routed to the idle agent, no new spawn
    assert pool.account().spawns == 1 and pool.idle_agents(spec) == 1
    clock.advance_to(1014.9)
    assert await pool.reap() == 0  # idle 9.9 s < 10 s
    assert pool.next_deadline() == 1015.0
    clock.advance_to(1015.0)
    assert await pool.reap() == 1
    assert pool.live_agents == 0  # scaled to zero
    third, _ = await pool.run(spec, "c")
    assert third != first
    acct = pool.account()
    assert (acct.spawns, acct.reaps_idle, acct.completed) == (2, 1, 3)


async def test_ttl_ends_an_agent_even_while_it_is_kept_busy(
    clock: ManualClock, settings: EphemeralSettings
) -> None:
    pool = AgentPool(settings, clock=clock, auto_reap=False)
    spec = AgentSpec("short-lived", echo, ttl_s=30.0, max_idle_s=20.0)
    ids = []
    for t in (1000.0, 1015.0, 1029.0, 1031.0):
        clock.advance_to(t)
        ids.append((await pool.run(spec, t))[0])
    assert ids[0] == ids[1] == ids[2] != ids[3]  # never idle 20 s, but older than 30 s
    acct = await pool.aclose()
    assert acct.reaps_ttl == 1 and acct.spawns == 2 and acct.closed == 1


async def test_concurrent_items_spawn_one_agent_each_up_to_the_limit(pool: AgentPool) -> None:
    gate = Gate()
    gate.expect = 3
    spec = AgentSpec("gated", gate.handler, max_concurrency=3)
    futures = [pool.submit_nowait(spec, i) for i in range(5)]
    await gate.all_in.wait()
    assert (pool.running, pool.queued, pool.live_agents) == (3, 2, 3)
    gate.release.set()
    outcomes = await asyncio.gather(*futures)
    assert [o.value for o in outcomes] == [0, 1, 2, 3, 4]  # FIFO
    assert pool.account().spawns == 3 and pool.account().peak_agents == 3
    assert pool.idle_agents(spec) == 3


async def test_full_queue_is_refused_with_a_typed_error_never_dropped(pool: AgentPool) -> None:
    gate = Gate()
    gate.expect = 1
    spec = AgentSpec("busy", gate.handler, max_concurrency=1)
    accepted = [pool.submit_nowait(spec, i) for i in range(5)]  # 1 running + queue_bound 4
    with pytest.raises(QueueFullError) as info:
        pool.submit_nowait(spec, 5)
    assert isinstance(info.value, BackpressureError) and info.value.bound == 4
    await gate.all_in.wait()
    mapped = asyncio.ensure_future(pool.map(spec, [6, 7], wait_for_room=False))
    gate.release.set()
    rejected = await mapped
    assert [o.status for o in rejected] == [ItemStatus.REJECTED] * 2
    assert all(isinstance(o.error, QueueFullError) for o in rejected)
    assert [o.value for o in await asyncio.gather(*accepted)] == [0, 1, 2, 3, 4]
    assert pool.account().rejected == 3


async def test_submit_waits_for_room_instead_of_refusing(pool: AgentPool) -> None:
    gate = Gate()
    gate.expect = 1
    spec = AgentSpec("backpressure", gate.handler, max_concurrency=1)
    for i in range(5):
        pool.submit_nowait(spec, i)
    waiting = asyncio.ensure_future(pool.submit(spec, "late"))
    await gate.all_in.wait()
    assert not waiting.done()
    gate.release.set()
    outcome = await (await waiting)
    assert outcome.value == "late" and pool.account().rejected == 0


async def test_global_running_cap_is_shared_by_specs(clock: ManualClock) -> None:
    pool = AgentPool(EphemeralSettings(max_running=2), clock=clock, auto_reap=False)
    gate = Gate()
    gate.expect = 2
    a = AgentSpec("a", gate.handler)
    b = AgentSpec("b", gate.handler)
    futures = [pool.submit_nowait(a, 1), pool.submit_nowait(a, 2), pool.submit_nowait(b, 3)]
    await gate.all_in.wait()
    assert pool.running == 2 and pool.queued == 1
    gate.release.set()
    assert [o.value for o in await asyncio.gather(*futures)] == [1, 2, 3]
    await pool.aclose()


async def test_raising_handler_is_retried_once_on_a_fresh_agent_then_typed(
    pool: AgentPool,
) -> None:
    calls: list[int] = []

    async def flaky(ctx: AgentContext, payload: str) -> str:
        calls.append(ctx.agent_id)
        if payload == "boom":
            raise ValueError("bad item")
        return payload.upper()

    spec = AgentSpec("flaky", flaky)
    outcome = await pool.submit_nowait(spec, "boom")
    assert outcome.status is ItemStatus.FAILED and outcome.attempts == 2
    assert isinstance(outcome.error, HandlerError) and isinstance(outcome.error, PermanentError)
    assert isinstance(outcome.error.__cause__, ValueError)
    assert len(set(outcome.agent_ids)) == 2 and outcome.agent_ids == tuple(calls)
    assert await pool.run(spec, "fine") == "FINE"  # the pool keeps working
    with pytest.raises(HandlerError):
        await pool.run(spec, "boom")
    acct = pool.account()
    assert (acct.crashes, acct.retries, acct.failed, acct.completed) == (4, 2, 2, 1)


async def test_hanging_handler_times_out_with_a_typed_error(pool: AgentPool) -> None:
    never = asyncio.Event()

    async def hang(ctx: AgentContext, payload: object) -> None:
        await never.wait()

    spec = AgentSpec("hang", hang, timeout_s=0.01)
    outcome = await pool.submit_nowait(spec, 1)
    assert outcome.status is ItemStatus.TIMED_OUT and outcome.attempts == 2
    assert isinstance(outcome.error, HandlerTimeoutError)
    assert isinstance(outcome.error, RetryableError)
    assert await pool.run(AgentSpec("echo", echo), "x") == (3, "x")


async def test_wrong_result_type_is_typed_and_not_retried(pool: AgentPool) -> None:
    async def sloppy(ctx: AgentContext, payload: int) -> object:
        return str(payload) if payload < 0 else payload

    spec = AgentSpec("typed", sloppy, result_type=int)
    bad = await pool.submit_nowait(spec, -1)
    assert bad.status is ItemStatus.BAD_RESULT and bad.attempts == 1
    assert isinstance(bad.error, BadResultError)
    with pytest.raises(BadResultError):
        bad.unwrap()
    assert await pool.run(spec, 7) == 7
    assert pool.account().spawns == 1  # the agent survived its bad answer


async def test_sync_handlers_run_inline(pool: AgentPool) -> None:
    def double(ctx: AgentContext, payload: int) -> int:
        return 2 * payload

    assert await pool.run(AgentSpec("sync", double), 21) == 42


async def test_accounting_on_a_manual_clock(pool: AgentPool, clock: ManualClock) -> None:
    spec = AgentSpec("acct", echo, max_idle_s=5.0)
    await pool.run(spec, 1)  # agent 1 spawned at 1000
    clock.advance_to(1002.0)
    await pool.run(spec, 2)  # same agent, idle deadline 1007
    clock.advance_to(1007.0)
    assert await pool.reap() == 1  # lived 7 s
    clock.advance_to(1020.0)
    await pool.run(spec, 3)  # agent 2 spawned at 1020
    clock.advance_to(1021.0)
    acct = pool.account()
    assert acct.span_s == pytest.approx(21.0)
    assert acct.agent_seconds == pytest.approx(7.0 + 1.0)
    assert acct.peak_agents == 1 and acct.always_on_agent_seconds == pytest.approx(21.0)
    assert acct.saving_pct == pytest.approx(100.0 * (1 - 8.0 / 21.0))
    assert acct.as_dict()["reaps"] == 1.0


async def test_closed_pool_refuses_work_and_ends_every_agent(
    clock: ManualClock, settings: EphemeralSettings
) -> None:
    pool = AgentPool(settings, clock=clock, auto_reap=False)
    spec = AgentSpec("x", echo)
    await pool.map(spec, range(3))
    acct = await pool.aclose()
    assert acct.live_agents == 0 and acct.closed == acct.spawns >= 1
    with pytest.raises(PoolClosedError):
        pool.submit_nowait(spec, 1)


async def test_background_reaper_scales_to_zero_without_being_driven() -> None:
    settings = EphemeralSettings(default_max_idle_s=0.001, reap_interval_s=0.001)
    async with AgentPool(settings) as pool:
        spec = AgentSpec("auto", echo)
        await pool.run(spec, 1)
        assert pool.live_agents == 1
        await pool.wait_scaled_to_zero()  # the reaper runs on the real clock
        assert pool.account().reaps_idle == 1


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(InvalidSpecError):
        AgentSpec("", echo)
    with pytest.raises(InvalidSpecError):
        AgentSpec("r", echo, ttl_s=0)
    with pytest.raises(InvalidSpecError):
        AgentSpec("r", echo, max_concurrency=0)
    with pytest.raises(InvalidSpecError):
        AgentSpec("r", "not callable")  # type: ignore[arg-type]


async def test_two_specs_cannot_share_a_role(pool: AgentPool) -> None:
    await pool.run(AgentSpec("same", echo), 1)
    with pytest.raises(InvalidSpecError):
        pool.submit_nowait(AgentSpec("same", echo, max_idle_s=1.0), 1)


async def test_handlers_that_are_not_coroutine_functions_run_too(pool: AgentPool) -> None:
    class Doubler:  # a callable object whose call returns a coroutine
        async def __call__(self, ctx: AgentContext, payload: int) -> int:
            await asyncio.sleep(0)
            return 2 * payload

    async def triple(ctx: AgentContext, payload: int, factor: int) -> int:
        return factor * payload

    import functools

    assert await pool.run(AgentSpec("object", Doubler()), 21) == 42
    assert await pool.run(AgentSpec("partial", functools.partial(triple, factor=3)), 5) == 15


async def test_a_handler_called_with_the_wrong_arguments_fails_its_item_not_submit(
    pool: AgentPool,
) -> None:
    async def one_argument(payload: int) -> int:  # no ctx
        return payload

    spec = AgentSpec("misfit", one_argument)  # type: ignore[arg-type]
    future = pool.submit_nowait(spec, 1)  # the call is made in the item's task, not here
    outcome = await future
    assert outcome.status is ItemStatus.FAILED and outcome.attempts == 2
    assert isinstance(outcome.error, HandlerError)
    assert isinstance(outcome.error.__cause__, TypeError)
    assert pool.account().crashes == 2


async def test_a_handler_sees_the_context_variables_of_its_submitter(pool: AgentPool) -> None:
    import contextvars

    request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")

    async def read(ctx: AgentContext, payload: int) -> str:
        return request.get()

    spec = AgentSpec("ctxvar", read, max_concurrency=1)
    request.set("r-1")
    first = pool.submit_nowait(spec, 1)
    request.set("r-2")
    second = pool.submit_nowait(spec, 2)  # waits for the slot, then runs on the same agent
    request.set("r-3")
    assert [(await first).value, (await second).value] == ["r-1", "r-2"]


async def test_a_result_check_that_raises_fails_the_item_and_the_pool_goes_on(
    pool: AgentPool,
) -> None:
    class Picky(type):
        def __instancecheck__(cls, obj: object) -> bool:
            if obj == (1, 1):
                raise RuntimeError("the check broke")
            return True

    class Checked(metaclass=Picky):
        pass

    spec = AgentSpec("picky", echo, result_type=Checked, max_concurrency=1)
    first = pool.submit_nowait(spec, 1)
    queued = pool.submit_nowait(spec, 2)  # waits for the same slot
    outcome = await first
    assert outcome.status is ItemStatus.FAILED
    assert isinstance(outcome.error, HandlerError) and "the check broke" in str(outcome.error)
    assert (await queued).value == (2, 2)  # the lane went on, on a fresh agent
    assert pool.running == 0 and pool.live_agents == 1  # the first agent ended, not leaked
    assert pool.account().crashes == 1


def test_a_result_type_isinstance_cannot_check_is_refused() -> None:
    with pytest.raises(InvalidSpecError, match="result_type"):
        AgentSpec("generic", echo, result_type=list[str])  # type: ignore[arg-type]


async def test_a_cancelled_await_inside_a_handler_is_a_crash_and_the_lane_goes_on(
    pool: AgentPool,
) -> None:
    async def awaits_shared(ctx: AgentContext, payload: str) -> str:
        if payload == "victim" and ctx.agent_id == 1:
            shared = asyncio.get_running_loop().create_future()
            shared.cancel()  # another party gave up on what the handler waits for
            await shared
        return payload

    spec = AgentSpec("shared", awaits_shared, max_concurrency=1)
    victim = pool.submit_nowait(spec, "victim")
    queued = pool.submit_nowait(spec, "next")
    outcome = await victim
    assert outcome.status is ItemStatus.OK and outcome.attempts == 2  # retried, as a crash
    assert (await queued).value == "next"
    acct = pool.account()
    assert (acct.crashes, acct.closed, acct.rejected) == (1, 0, 0)


async def test_cancelling_a_join_cancels_no_work_item(pool: AgentPool) -> None:
    gate = Gate()
    future = pool.submit_nowait(AgentSpec("gated", gate.handler), "kept")
    waiter = asyncio.create_task(pool.join())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.release.set()
    assert (await future).value == "kept"


async def test_a_lane_waiting_for_the_shared_cap_is_served_in_turn(clock: ManualClock) -> None:
    order: list[str] = []

    async def note(ctx: AgentContext, payload: str) -> str:
        await asyncio.sleep(0)
        order.append(payload)
        return payload

    pool = AgentPool(EphemeralSettings(max_running=1), clock=clock, auto_reap=False)
    a, b = AgentSpec("a", note), AgentSpec("b", note)
    futures = [pool.submit_nowait(a, "a0"), pool.submit_nowait(b, "b0")]
    futures += [pool.submit_nowait(a, f"a{i}") for i in range(1, 6)]
    await asyncio.gather(*futures)
    await pool.aclose()
    assert order.index("b0") == 1  # right after the item running when it came, not after a5


def test_a_pool_used_from_a_second_event_loop_keeps_its_timeouts() -> None:
    async def hang(ctx: AgentContext, payload: int) -> int:
        await asyncio.Event().wait()
        return payload

    pool = AgentPool(EphemeralSettings(max_attempts=1), auto_reap=False)
    spec = AgentSpec("hang", hang, timeout_s=0.01)

    async def once() -> ItemStatus:
        return (await asyncio.wait_for(pool.submit_nowait(spec, 1), 30.0)).status

    assert asyncio.run(once()) is ItemStatus.TIMED_OUT
    assert asyncio.run(once()) is ItemStatus.TIMED_OUT  # not armed on the first, closed loop
    assert (pool.running, pool.live_agents) == (0, 0)


async def test_a_handler_raising_timeout_error_itself_counts_as_timed_out(
    pool: AgentPool,
) -> None:
    async def gives_up(ctx: AgentContext, payload: int) -> int:
        async with asyncio.timeout(0):
            await asyncio.sleep(1)
        return payload

    outcome = await pool.submit_nowait(AgentSpec("gives-up", gives_up), 1)
    assert outcome.status is ItemStatus.TIMED_OUT and outcome.attempts == 2
    assert isinstance(outcome.error, HandlerTimeoutError)
