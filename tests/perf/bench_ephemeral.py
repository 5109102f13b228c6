"""Ephemeral agents benchmark: spawn latency and rate, spawn with rehydration, bursty-trace saving.

* ``spawns_per_s``: fresh agents per second, RATE_ITEMS items all alive at once (one agent each).
* ``create_task_spawns_per_s``: the floor, bare ``asyncio.create_task`` of a coroutine that
  waits the same way; ``minimal_pool_spawns_per_s``: the least any pool adds to it (a future
  for the caller and a done callback). ``*_vs_floor``: each over ``create_task_spawns_per_s``.
* ``spawn_gc_share`` / ``create_task_gc_share``: the part of those runs the garbage collector
  took (timed by ``gc.callbacks``): at 20k live agents its full collections, which walk every
  object of the process, are much of the cost of a spawn.
* ``rehydrate_p50_ms`` / ``rehydrate_p99_ms``: a fresh agent's spawn with its top-10 memories
  recalled from a 100k-record LanceDB store.
* ``saving_pct``: agent-seconds saved against always-on agents on a bursty trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import numpy as np

from patterns.core.clock import ManualClock
from patterns.ephemeral import AgentContext, AgentPool, AgentSpec, EphemeralSettings, StoreMemory
from patterns.ephemeral.trace import replay_bursty
from patterns.memory import HashingEmbedder, MemorySettings, MemoryStore

LATENCY_SAMPLES = 3000  # sequential fresh spawns timed
RATE_ITEMS = 20_000  # concurrent items (one fresh agent each) for the spawn rate
RATE_ROUNDS = 5  # interleaved rounds of the pool and its floors; medians reported
ALWAYS_ON_AGENTS = 64  # warm agents of the always-on baseline
STORE_RECORDS = 100_000  # records in the rehydration store
REHYDRATE_SAMPLES = 300  # spawns with rehydration timed
WARMUP = 50  # untimed spawns before each series
DIM = 384  # embedding dimensions
INSERT_BATCH_ROWS = 10_000  # records per store commit
TOPICS = ("etcd", "ingress", "oom", "disk", "dns", "certificate", "rollout", "node", "quota", "hpa")


def _pct(samples: list[float], q: float, scale: float) -> float:
    return float(np.percentile(np.asarray(samples) * scale, q))


async def _spawn_latencies(
    pool: AgentPool, clock: ManualClock, spec_role: str, count: int, namespace: str | None = None
) -> list[float]:
    """Time submit -> handler entry for ``count`` fresh agents (reaped after each item)."""
    entered: list[float] = []

    async def mark(ctx: AgentContext, payload: str) -> int:
        entered.append(time.perf_counter())
        return len(ctx.memories)

    spec = AgentSpec(spec_role, mark, namespace=namespace, max_idle_s=1.0)
    out: list[float] = []
    for i in range(count + WARMUP):
        t0 = time.perf_counter()
        await pool.run(spec, f"{TOPICS[i % len(TOPICS)]} incident {i}")
        if i >= WARMUP:
            out.append(entered[-1] - t0)
        clock.advance_to(clock.now() + 2.0)
        await pool.reap()
    return out


async def _spawn_rate() -> tuple[float, float]:
    """Fresh agents per second for RATE_ITEMS concurrent items, and the pool's spawn count."""
    settings = EphemeralSettings(max_running=RATE_ITEMS, default_concurrency=RATE_ITEMS)
    pool = AgentPool(settings, clock=ManualClock(), auto_reap=False)
    gate = asyncio.Event()

    async def held(ctx: AgentContext, payload: int) -> int:
        await gate.wait()  # every agent is alive at once: no idle agent to route to
        return payload

    spec = AgentSpec("rate", held)
    t0 = time.perf_counter()
    futures = [pool.submit_nowait(spec, i) for i in range(RATE_ITEMS)]
    await asyncio.sleep(0)  # one loop turn: every runner spawns its agent and blocks
    gate.set()
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - t0
    spawns = pool.account().spawns
    await pool.aclose()
    return spawns / elapsed, float(spawns)


async def _always_on_rate() -> float:
    """Items per second on ALWAYS_ON_AGENTS warm agents (no spawns): the always-on baseline."""
    settings = EphemeralSettings(queue_bound=RATE_ITEMS, default_concurrency=ALWAYS_ON_AGENTS)
    pool = AgentPool(settings, clock=ManualClock(), auto_reap=False)

    async def noop(ctx: AgentContext, payload: int) -> int:
        return payload

    spec = AgentSpec("warm", noop)
    await pool.map(spec, range(ALWAYS_ON_AGENTS))
    t0 = time.perf_counter()
    futures = [pool.submit_nowait(spec, i) for i in range(RATE_ITEMS)]
    await asyncio.gather(*futures)
    elapsed = time.perf_counter() - t0
    await pool.aclose()
    return RATE_ITEMS / elapsed


async def _create_task_rate() -> float:
    gate = asyncio.Event()

    async def held(i: int) -> int:
        await gate.wait()
        return i

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(held(i)) for i in range(RATE_ITEMS)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    return RATE_ITEMS / (time.perf_counter() - t0)


async def _minimal_pool_rate() -> float:
    """The least a pool can do per item: a future for the caller, a task for the handler and a
    done callback joining them (no agent record, timeout, retry or accounting)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Event()

    async def held(i: int) -> int:
        await gate.wait()
        return i

    def settle(future: asyncio.Future[int], task: asyncio.Task[int]) -> None:
        future.set_result(task.result())

    t0 = time.perf_counter()
    futures = []
    for i in range(RATE_ITEMS):
        future: asyncio.Future[int] = loop.create_future()
        loop.create_task(held(i)).add_done_callback(functools.partial(settle, future))
        futures.append(future)
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*futures)
    return RATE_ITEMS / (time.perf_counter() - t0)


@contextlib.contextmanager
def _gc_time() -> Iterator[list[float]]:
    """Seconds the garbage collector runs inside the block (one total in the yielded list)."""
    total = [0.0]
    started = [0.0]

    def timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            total[0] += time.perf_counter() - started[0]

    gc.callbacks.append(timer)
    try:
        yield total
    finally:
        gc.callbacks.remove(timer)


async def _gc_share(run: Callable[[], Awaitable[object]]) -> float:
    """The part of one ``run()`` the garbage collector took."""
    gc.collect()
    with _gc_time() as collected:
        t0 = time.perf_counter()
        await run()
        elapsed = time.perf_counter() - t0
    return collected[0] / elapsed


async def _rates() -> dict[str, float]:
    """Spawn rate of the pool and its two floors, medians of RATE_ROUNDS interleaved rounds
    (so a burst of load on a shared machine hits all three alike)."""
    pool, floor, minimal = [], [], []
    spawns = 0.0
    for _ in range(RATE_ROUNDS):
        # each run starts from a collected heap: none pays for the garbage of the one before
        gc.collect()
        rate, spawns = await _spawn_rate()
        pool.append(rate)
        gc.collect()
        floor.append(await _create_task_rate())
        gc.collect()
        minimal.append(await _minimal_pool_rate())
    out = {
        "spawns_per_s": statistics.median(pool),
        "rate_spawns": spawns,
        "create_task_spawns_per_s": statistics.median(floor),
        "minimal_pool_spawns_per_s": statistics.median(minimal),
    }
    out["spawns_per_s_vs_floor"] = out["spawns_per_s"] / out["create_task_spawns_per_s"]
    out["minimal_pool_vs_floor"] = (
        out["minimal_pool_spawns_per_s"] / out["create_task_spawns_per_s"]
    )
    out["spawn_gc_share"] = statistics.median([await _gc_share(_spawn_rate) for _ in range(3)])
    out["create_task_gc_share"] = statistics.median(
        [await _gc_share(_create_task_rate) for _ in range(3)]
    )
    return out


def _build_store(root: Path) -> tuple[MemoryStore, float]:
    embedder = HashingEmbedder(dim=DIM)
    store = MemoryStore(
        MemorySettings(create_if_missing=True, uri=str(root), auto_index=False), embedder
    )
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for start in range(0, STORE_RECORDS, INSERT_BATCH_ROWS):
        texts = [
            f"{TOPICS[int(rng.integers(len(TOPICS)))]} incident {i}: "
            f"service-{int(rng.integers(500))} saw error {int(rng.integers(10_000))}"
            for i in range(start, start + INSERT_BATCH_ROWS)
        ]
        store.remember(texts, namespace="bench", kind="incident")
    store.build_index()
    return store, time.perf_counter() - t0


async def _bench() -> dict[str, float]:
    out: dict[str, float] = {}
    clock = ManualClock()
    pool = AgentPool(EphemeralSettings(), clock=clock, auto_reap=False)
    lat = await _spawn_latencies(pool, clock, "bare", LATENCY_SAMPLES)
    await pool.aclose()
    out["spawn_p50_us"] = _pct(lat, 50, 1e6)
    out["spawn_p99_us"] = _pct(lat, 99, 1e6)
    out.update(await _rates())
    out["always_on_items_per_s"] = await _always_on_rate()

    root = Path(tempfile.mkdtemp(prefix="bench-ephemeral-"))
    try:
        store, build_s = _build_store(root)
        out["store_records"] = float(store.count())
        out["store_build_s"] = build_s
        clock = ManualClock()
        pool = AgentPool(
            EphemeralSettings(rehydrate_top_k=10),
            memory=StoreMemory(store),
            clock=clock,
            auto_reap=False,
        )
        lat = await _spawn_latencies(pool, clock, "rehydrate", REHYDRATE_SAMPLES, "bench")
        await pool.aclose()
        store.close()
        out["rehydrate_p50_ms"] = _pct(lat, 50, 1e3)
        out["rehydrate_p99_ms"] = _pct(lat, 99, 1e3)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    report = await replay_bursty(0, max_idle_s=5.0)
    acct = report.account
    out["trace_items"] = float(len(report.outcomes))
    out["trace_peak_agents"] = float(acct.peak_agents)
    out["trace_agent_seconds"] = acct.agent_seconds
    out["always_on_agent_seconds"] = acct.always_on_agent_seconds
    out["saving_pct"] = acct.saving_pct
    return out


def run_ephemeral_bench() -> dict[str, float]:
    """Every figure of the ephemeral agents benchmark (see the module docstring)."""
    return asyncio.run(_bench())


if __name__ == "__main__":
    print(json.dumps(run_ephemeral_bench(), indent=2))
