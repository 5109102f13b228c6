"""Fixtures of the ephemeral pool tests: a manual clock, a pool on it, a small real memory store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from patterns.core.clock import ManualClock
from patterns.ephemeral import AgentPool, EphemeralSettings, StoreMemory
from patterns.memory import HashingEmbedder, MemorySettings, MemoryStore

SMALL_DIM = 64  # dimensions of the tests' hashing embedder


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1000.0)


@pytest.fixture
def settings() -> EphemeralSettings:
    return EphemeralSettings(
        queue_bound=4, default_max_idle_s=10.0, default_ttl_s=100.0, flush_batch=2
    )


@pytest.fixture
async def pool(clock: ManualClock, settings: EphemeralSettings) -> AsyncIterator[AgentPool]:
    p = AgentPool(settings, clock=clock, auto_reap=False)
    yield p
    await p.aclose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    settings = MemorySettings(create_if_missing=True, uri=str(tmp_path / "lancedb"), dim=SMALL_DIM)
    with MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM)) as s:
        yield s


@pytest.fixture
async def memory_pool(
    clock: ManualClock, settings: EphemeralSettings, store: MemoryStore
) -> AsyncIterator[AgentPool]:
    p = AgentPool(settings, memory=StoreMemory(store), clock=clock, auto_reap=False)
    yield p
    await p.aclose()
