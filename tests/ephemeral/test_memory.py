"""Memory of ephemeral agents: rehydration on spawn, write-behind batches, crashes, real LanceDB."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence

import pytest

from patterns.core.clock import ManualClock
from patterns.ephemeral import (
    AgentContext,
    AgentPool,
    AgentSpec,
    EphemeralSettings,
    InvalidSpecError,
    ItemStatus,
    Memory,
    MemoryNotPersistedWarning,
    RehydrationError,
    StoreMemory,
)
from patterns.memory import MemoryStore

NS = "ops"


async def learn(ctx: AgentContext, payload: str) -> list[str]:
    """Remember the payload; report what the agent recalled on spawn."""
    ctx.remember(f"learned: {payload}", kind="fact")
    return [m.text for m in ctx.memories]


def texts(store: MemoryStore) -> set[str]:
    if NS not in store.namespaces():
        return set()
    return {h.record.text for h in store.search("learned", k=100, namespace=NS)}


async def test_fresh_agent_rehydrates_top_k_relevant_memories(
    clock: ManualClock, store: MemoryStore
) -> None:
    store.remember(
        ["etcd leader election is flapping", "disk full on node-3", "ingress cert expired"],
        namespace=NS,
    )
    settings = EphemeralSettings(rehydrate_top_k=1)
    pool = AgentPool(settings, memory=StoreMemory(store), clock=clock, auto_reap=False)
    spec = AgentSpec("sre", learn, namespace=NS)
    recalled = await pool.run(spec, "etcd leader flapping again")
    assert recalled == ["etcd leader election is flapping"]
    await pool.aclose()


async def test_learned_memories_are_written_in_batches_and_on_termination(
    memory_pool: AgentPool, clock: ManualClock, store: MemoryStore
) -> None:
    spec = AgentSpec("writer", learn, namespace=NS)  # flush_batch is 2
    await memory_pool.run(spec, "one")
    await memory_pool.join()
    assert texts(store) == set()  # buffered (write-behind)
    await memory_pool.run(spec, "two")  # the caller does not wait for the write...
    await memory_pool.join()  # ...the agent's slot does
    assert texts(store) == {"learned: one", "learned: two"}  # one batch of two
    await memory_pool.run(spec, "three")
    await memory_pool.join()
    assert store.count(namespace=NS) == 2
    clock.advance_to(clock.now() + 10.0)
    assert await memory_pool.reap() == 1  # termination flushes the rest
    assert texts(store) == {"learned: one", "learned: two", "learned: three"}
    acct = memory_pool.account()
    assert (acct.memories_flushed, acct.memories_lost) == (3, 0)
    recalled = await memory_pool.run(spec, "learned: three")  # a new agent remembers
    assert "learned: three" in recalled


async def test_crash_mid_task_retries_on_a_fresh_agent_and_keeps_flushed_memories(
    memory_pool: AgentPool, store: MemoryStore
) -> None:
    crashes: list[int] = []

    async def fragile(ctx: AgentContext, payload: str) -> list[str]:
        ctx.remember(f"learned: {payload} by {ctx.agent_id}")
        if payload == "crash" and not crashes:
            crashes.append(ctx.agent_id)
            raise RuntimeError("agent died mid-task")
        return [m.text for m in ctx.memories]

    spec = AgentSpec("fragile", fragile, namespace=NS)
    await memory_pool.run(spec, "a")
    await memory_pool.run(spec, "b")  # batch of two flushed by agent 1
    await memory_pool.join()
    outcome = await memory_pool.submit_nowait(spec, "crash")
    assert outcome.status is ItemStatus.OK and outcome.attempts == 2
    assert outcome.agent_ids == (1, 2) and crashes == [1]
    # The fresh agent rehydrated what the crashed one had flushed.
    assert {"learned: a by 1", "learned: b by 1"} <= set(outcome.value)
    stored = texts(store)
    assert {"learned: a by 1", "learned: b by 1"} <= stored
    assert "learned: crash by 1" not in stored  # the failed attempt's memory is dropped
    await memory_pool.aclose()
    assert "learned: crash by 2" in texts(store)  # the retry's memory, flushed on close
    assert memory_pool.account().crashes == 1


class BrokenMemory:
    """A memory backend whose storage is down."""

    async def recall(self, namespace: str, query: str, k: int) -> list[Memory]:
        raise OSError("storage unreachable")

    async def persist(self, namespace: str, memories: Sequence[Memory]) -> None:
        raise OSError("storage unreachable")


async def test_memory_outage_is_typed_and_counted(clock: ManualClock) -> None:
    pool = AgentPool(EphemeralSettings(), memory=BrokenMemory(), clock=clock, auto_reap=False)
    spec = AgentSpec("needs-memory", learn, namespace=NS)
    with pytest.raises(RehydrationError):
        await pool.run(spec, "x")
    no_recall = AgentPool(
        EphemeralSettings(rehydrate_top_k=0), memory=BrokenMemory(), clock=clock, auto_reap=False
    )
    assert await no_recall.run(spec, "y") == []
    acct = await no_recall.aclose()
    assert (acct.memories_flushed, acct.memories_lost) == (0, 1)
    await pool.aclose()


async def test_concurrent_agents_persist_to_one_namespace(
    memory_pool: AgentPool, store: MemoryStore
) -> None:
    spec = AgentSpec("many", learn, namespace=NS, max_concurrency=4)
    outcomes = await memory_pool.map(spec, [f"item {i}" for i in range(8)])
    assert all(o.ok for o in outcomes)
    await memory_pool.aclose()
    assert texts(store) == {f"learned: item {i}" for i in range(8)}
    assert store.count(namespace=NS) == 8


async def test_a_spec_with_a_namespace_needs_a_pool_with_memory(pool: AgentPool) -> None:
    # The README's first example: a namespace on a pool without a store dropped every memory.
    spec = AgentSpec("summarizer", learn, namespace="agents")
    with pytest.raises(InvalidSpecError, match=r"'agents' but this pool has no memory backend"):
        await pool.run(spec, "disk pressure on node-3")
    assert pool.account().spawns == 0  # refused before any agent ran


async def test_remember_without_a_namespace_warns_once_per_role_and_is_counted(
    pool: AgentPool,
) -> None:
    spec = AgentSpec("scribe", learn)  # no namespace: nothing can be persisted
    with pytest.warns(MemoryNotPersistedWarning, match=r"role 'scribe' called remember\(\)"):
        await pool.run(spec, "one")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning for the same role would raise here
        await pool.run(spec, "two")
    silent = AgentSpec("silent", lambda ctx, payload: payload)  # never remembers: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert await pool.run(silent, "x") == "x"
    acct = pool.account()
    assert (acct.memories_unpersisted, acct.memories_flushed, acct.memories_lost) == (2, 0, 0)


async def test_persisting_the_same_memories_again_adds_no_duplicates(store: MemoryStore) -> None:
    # A rerun of the same work (the README example run twice) must not pile up copies.
    memory = StoreMemory(store)
    batch = [Memory("saw disk pressure", "fact", {"n": 1}), Memory("saw disk pressure", "fact")]
    await memory.persist(NS, batch)
    await memory.persist(NS, [Memory("saw disk pressure", "fact"), Memory("saw oom", "fact")])
    assert texts(store) == {"saw disk pressure", "saw oom"}
    assert store.count(namespace=NS) == 2
    await memory.persist(NS, [Memory("saw disk pressure", "note")])  # another kind: kept apart
    assert store.count(namespace=NS) == 3


class GatedMemory:
    """A memory backend whose writes wait until the test opens the gate."""

    def __init__(self) -> None:
        self.writing = asyncio.Event()
        self.gate = asyncio.Event()
        self.stored: list[str] = []

    async def recall(self, namespace: str, query: str, k: int) -> list[Memory]:
        return []

    async def persist(self, namespace: str, memories: Sequence[Memory]) -> None:
        self.writing.set()
        await self.gate.wait()
        self.stored += [m.text for m in memories]


async def test_closing_the_pool_while_the_reaper_writes_loses_no_memory(
    clock: ManualClock,
) -> None:
    memory = GatedMemory()
    settings = EphemeralSettings(default_max_idle_s=1.0, flush_batch=100)
    pool = AgentPool(settings, memory=memory, clock=clock)
    spec = AgentSpec("writer", learn, namespace=NS, max_concurrency=2)
    await pool.map(spec, ["one", "two"])  # two agents, one buffered memory each
    clock.advance_to(clock.now() + 5.0)  # both idle past max_idle_s
    pool.start()  # the background reaper reaps both and starts writing
    await memory.writing.wait()
    closing = asyncio.create_task(pool.aclose())
    await asyncio.sleep(0)
    memory.gate.set()
    acct = await closing
    assert sorted(memory.stored) == ["learned: one", "learned: two"]
    assert (acct.memories_flushed, acct.memories_lost, acct.live_agents) == (2, 0, 0)
