"""Fixtures of the vector memory tests: a store in a temporary directory and a settable clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patterns.memory import HashingEmbedder, MemorySettings, MemoryStore

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SMALL_DIM = 64  # dimensions of the tests' hashing embedder: small and fast


class Clock:
    """A settable clock returning timezone-aware datetimes."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db_uri(tmp_path: Path) -> str:
    return str(tmp_path / "lancedb")


@pytest.fixture(params=["working-set", "lancedb"])
def search_path(request: pytest.FixtureRequest) -> int:
    """Both search paths: the in-process working set and LanceDB's own scan."""
    return 20_000 if request.param == "working-set" else 0


@pytest.fixture
def store(db_uri: str, clock: Clock, search_path: int) -> Iterator[MemoryStore]:
    settings = MemorySettings(
        create_if_missing=True, uri=db_uri, working_set_rows=search_path, dim=SMALL_DIM
    )
    with MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM), clock=clock) as s:
        yield s
