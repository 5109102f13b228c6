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


@pytest.fixture(params=["working-set", "record-mirror", "lancedb"])
def search_path(request: pytest.FixtureRequest) -> dict[str, int]:
    """Every search path: the in-process working set (exact search), LanceDB's search for
    ids with the records from the in-process mirror, and LanceDB alone."""
    return {
        "working-set": {"working_set_rows": 20_000},
        "record-mirror": {"working_set_rows": 0, "record_mirror_rows": 20_000},
        "lancedb": {"working_set_rows": 0, "record_mirror_rows": 0},
    }[request.param]


@pytest.fixture
def store(db_uri: str, clock: Clock, search_path: dict[str, int]) -> Iterator[MemoryStore]:
    settings = MemorySettings(
        create_if_missing=True,
        uri=db_uri,
        dim=SMALL_DIM,
        **search_path,  # type: ignore[arg-type]
    )
    with MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM), clock=clock) as s:
        yield s
