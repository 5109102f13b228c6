"""Integration-test fixtures: asyncio task-leak detection, a cluster CA, fast QUIC settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from patterns.core.keys import ClusterCA
from patterns.core.settings import QuicSettings


def leaked_tasks(before: Iterable[asyncio.Task[object]]) -> list[asyncio.Task[object]]:
    """Tasks of the running loop that are not done, not current and not in ``before``."""
    known = set(before)
    current = asyncio.current_task()
    return [t for t in asyncio.all_tasks() if t not in known and t is not current and not t.done()]


def describe_task(task: asyncio.Task[object]) -> str:
    """A task's name and coroutine, for failure messages."""
    return f"{task.get_name()} ({task.get_coro()!r})"


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running in its event loop.

    Tasks alive at the end of the test that were not alive at its start are
    cancelled (so later tests are not disturbed) and reported as a teardown failure.
    """
    before = set(asyncio.all_tasks())
    yield
    leaked = leaked_tasks(before)
    if leaked:
        names = ", ".join(sorted(describe_task(t) for t in leaked))
        for task in leaked:
            task.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        pytest.fail(f"test leaked {len(leaked)} asyncio task(s): {names}", pytrace=False)


@pytest.fixture
def ca_dir(tmp_path: Path) -> Path:
    """A fresh directory for a cluster CA."""
    return tmp_path / "certs"


@pytest.fixture
def ca(ca_dir: Path) -> ClusterCA:
    """A fresh cluster CA."""
    return ClusterCA.create(ca_dir)


@pytest.fixture
def quic_settings() -> QuicSettings:
    """QUIC settings tuned for fast tests on loopback."""
    return QuicSettings.model_validate(
        {
            "connect_timeout_s": 2.0,
            "idle_timeout_s": 20.0,
            "reconnect_initial_s": 0.02,
            "reconnect_max_s": 0.5,
        }
    )
