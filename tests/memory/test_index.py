"""Index management: exact search below the threshold, automatic ANN index above it, re-indexing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from patterns.memory import (
    HashingEmbedder,
    IndexAction,
    IndexStatus,
    MemoryItem,
    MemorySettings,
    MemoryStore,
)
from patterns.memory.exceptions import InvalidRecordError
from patterns.memory.index import maintenance_headroom, plan_maintenance, vector_index_config
from tests.memory.conftest import SMALL_DIM, Clock

THRESHOLD = 300  # rows; small so the tests build real HNSW indices quickly


def items(start: int, count: int) -> list[MemoryItem]:
    return [
        MemoryItem(text=f"log line {i}: service {i % 17} returned error {i % 5}", id=f"r{i}")
        for i in range(start, start + count)
    ]


def indexing(db_uri: str, **overrides: int) -> MemorySettings:
    """Settings with an index from THRESHOLD rows, updated every 100 unindexed rows."""
    return MemorySettings(
        uri=db_uri,
        create_if_missing=True,
        dim=SMALL_DIM,
        index_threshold_rows=THRESHOLD,
        reindex_unindexed_rows=100,
        **overrides,
    )


def test_index_is_built_once_the_table_passes_the_threshold(db_uri: str, clock: Clock) -> None:
    settings = indexing(db_uri, working_set_rows=0)
    with MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM), clock=clock) as store:
        store.add(items(0, THRESHOLD - 1))
        below = store.index_status()
        assert not below.has_index and below.rows == THRESHOLD - 1
        store.add(items(THRESHOLD - 1, 1))
        built = store.index_status()
        assert built.index_type == "IVF_HNSW_FLAT"
        assert (built.indexed_rows, built.unindexed_rows, built.deltas) == (THRESHOLD, 0, 1)

        store.add(items(THRESHOLD, 50))  # under reindex_unindexed_rows: scanned exactly
        assert store.index_status().unindexed_rows == 50
        store.add(items(THRESHOLD + 50, 60))  # 110 unindexed: folded in as a delta graph
        folded = store.index_status()
        assert (folded.indexed_rows, folded.unindexed_rows, folded.deltas) == (410, 0, 2)

        store.add(items(410, 450))  # table more than doubled since the last index: rebuilt
        rebuilt = store.index_status()
        assert (rebuilt.indexed_rows, rebuilt.unindexed_rows, rebuilt.deltas) == (860, 0, 1)

        # Indexed search finds what exact search finds (a small, easy table).
        for i in (5, 333, 700):
            text = f"log line {i}: service {i % 17} returned error {i % 5}"
            assert store.search(text, k=1)[0].record.id == f"r{i}"
            ann = [h.record.id for h in store.search(text, k=10)]
            exact = [h.record.id for h in store.search(text, k=10, exact=True)]
            assert len(set(ann) & set(exact)) >= 9


def test_auto_index_can_be_switched_off_and_built_on_demand(db_uri: str) -> None:
    settings = MemorySettings(
        create_if_missing=True, uri=db_uri, dim=SMALL_DIM, index_threshold_rows=10, auto_index=False
    )
    with MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM)) as store:
        with pytest.raises(InvalidRecordError, match="empty table"):
            store.build_index()
        store.add(items(0, 40))
        assert not store.index_status().has_index
        assert store.index_status().side_unindexed_rows == 40  # created empty, never updated
        assert store.maintain_index() is IndexAction.BUILD
        after = store.index_status()
        assert after.indexed_rows == 40
        assert after.side_unindexed_rows == 0  # the scalar and text indices cover every row
        assert store.maintain_index() is IndexAction.NONE


def test_lagging_scalar_indices_are_folded_in_without_a_vector_index(db_uri: str) -> None:
    settings = MemorySettings(
        create_if_missing=True,
        uri=db_uri,
        dim=SMALL_DIM,
        index_threshold_rows=10_000,
        reindex_unindexed_rows=30,
        auto_index=False,
    )
    with MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM)) as store:
        store.add(items(0, 40))
        assert store.maintain_index() is IndexAction.OPTIMIZE  # below the vector threshold
        status_ = store.index_status()
        assert not status_.has_index and status_.side_unindexed_rows == 0
        assert store.maintain_index() is IndexAction.NONE
        assert store.search("log line 3: service 3 returned error 3", k=1)[0].record.id == "r3"


def status(rows: int, indexed: int, deltas: int = 1, has: bool = True) -> IndexStatus:
    return IndexStatus(rows, "IVF_HNSW_FLAT" if has else None, indexed, rows - indexed, deltas)


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (status(9_999, 0, 0, has=False), IndexAction.NONE),
        (status(10_000, 0, 0, has=False), IndexAction.BUILD),
        (status(50_000, 40_000), IndexAction.NONE),
        (status(70_000, 40_000), IndexAction.OPTIMIZE),
        (status(70_000, 40_000, deltas=4), IndexAction.REBUILD),
        (status(90_000, 40_000), IndexAction.REBUILD),
        (replace(status(9_999, 0, 0, has=False), side_unindexed_rows=25_000), IndexAction.OPTIMIZE),
        (replace(status(50_000, 40_000), side_unindexed_rows=25_000), IndexAction.OPTIMIZE),
        (replace(status(50_000, 40_000), side_unindexed_rows=5_000), IndexAction.NONE),
    ],
)
def test_maintenance_policy(state: IndexStatus, action: IndexAction) -> None:
    assert plan_maintenance(state, MemorySettings()) is action


@pytest.mark.parametrize(
    ("state", "headroom"),
    [
        (status(9_000, 0, 0, has=False), 1_000),  # the build threshold comes first
        (replace(status(9_000, 0, 0, has=False), side_unindexed_rows=19_500), 500),
        (status(50_000, 40_000), 10_000),  # 10k unindexed: 10k more until an update
        (replace(status(50_000, 40_000), side_unindexed_rows=15_000), 5_000),
        (status(70_000, 40_000), 1),  # already due: look again at the next write
        (status(10_000, 0, 0, has=False), 1),
    ],
)
def test_maintenance_headroom_counts_rows_to_the_nearest_threshold(
    state: IndexStatus, headroom: int
) -> None:
    settings = MemorySettings()
    assert maintenance_headroom(state, settings) == headroom
    if headroom > 1:  # writing one row less than the headroom never makes the policy act
        grown = replace(
            state,
            rows=state.rows + headroom - 1,
            side_unindexed_rows=state.side_unindexed_rows + headroom - 1,
        )
        if state.has_index:
            grown = replace(grown, unindexed_rows=state.unindexed_rows + headroom - 1)
        assert plan_maintenance(grown, settings) is IndexAction.NONE


def test_small_writes_read_the_index_statistics_only_when_a_threshold_can_be_reached(
    db_uri: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with MemoryStore(indexing(db_uri), HashingEmbedder(dim=SMALL_DIM), clock=clock) as store:
        store.add(items(0, THRESHOLD))  # built
        looks: list[int] = []
        real = store.index_status

        def counted() -> IndexStatus:
            looks.append(1)
            return real()

        monkeypatch.setattr(store, "index_status", counted)
        for i in range(9):  # 90 rows: under reindex_unindexed_rows, no look at all
            store.add(items(THRESHOLD + 10 * i, 10))
        assert looks == []
        store.add(items(THRESHOLD + 90, 10))  # the 100th row: the policy runs and folds them in
        assert len(looks) >= 1
        monkeypatch.undo()
        assert store.index_status().unindexed_rows == 0


def test_index_parameters_scale_partitions_with_rows() -> None:
    settings = MemorySettings()
    small, large = vector_index_config(100_000, settings), vector_index_config(2_500_000, settings)
    assert (small.num_partitions, large.num_partitions) == (1, 3)
    assert (small.m, small.ef_construction, small.distance_type) == (16, 150, "cosine")


def test_working_set_and_lancedb_agree(db_uri: str, clock: Clock) -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((500, SMALL_DIM)).astype(np.float32)
    emb = HashingEmbedder(dim=SMALL_DIM)
    fast = MemorySettings(create_if_missing=True, uri=db_uri, dim=SMALL_DIM)
    slow = MemorySettings(create_if_missing=True, uri=db_uri, dim=SMALL_DIM, working_set_rows=0)
    with MemoryStore(fast, emb, clock=clock) as a, MemoryStore(slow, emb, clock=clock) as b:
        a.add(
            MemoryItem(text=f"v{i}", id=f"v{i}", namespace=("x", "y")[i % 2], vector=v)
            for i, v in enumerate(vectors)
        )
        for q in rng.standard_normal((5, SMALL_DIM)):
            ha, hb = a.search(q, k=8, namespace="y"), b.search(q, k=8, namespace="y")
            assert [h.record.id for h in ha] == [h.record.id for h in hb]
            np.testing.assert_allclose(
                [h.similarity for h in ha], [h.similarity for h in hb], atol=1e-5
            )
