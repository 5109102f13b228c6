"""The records-only mirror: LanceDB finds ids, the mirror returns the records, kept current
by our own writes (appends and upserts patched in, deletes rebuilt)."""

from __future__ import annotations

import numpy as np

from patterns.memory import HashingEmbedder, MemoryItem, MemorySettings, MemoryStore
from tests.memory.conftest import SMALL_DIM, Clock


def make(db_uri: str, clock: Clock, mirror: int) -> MemoryStore:
    settings = MemorySettings(
        create_if_missing=True,
        uri=db_uri,
        dim=SMALL_DIM,
        working_set_rows=10,  # above it: no exact in-process search
        record_mirror_rows=mirror,
    )
    return MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM), clock=clock)


def items(rng: np.random.Generator, start: int, count: int, tag: str) -> list[MemoryItem]:
    return [
        MemoryItem(
            text=f"{tag} record {i}",
            id=f"r{i}",
            namespace=("a", "b")[i % 2],
            metadata={"i": i, "tag": tag},
            vector=rng.standard_normal(SMALL_DIM).astype(np.float32),
        )
        for i in range(start, start + count)
    ]


def test_records_from_the_mirror_equal_lancedb_after_appends_upserts_scores_deletes(
    db_uri: str, clock: Clock
) -> None:
    rng = np.random.default_rng(5)
    queries = rng.standard_normal((6, SMALL_DIM))
    with make(db_uri, clock, 10_000) as fast, make(db_uri, clock, 0) as plain:

        def agree() -> None:
            for q in queries:
                for ns in (None, "b"):
                    a, b = fast.search(q, k=7, namespace=ns), plain.search(q, k=7, namespace=ns)
                    assert [h.record for h in a] == [h.record for h in b]
                    np.testing.assert_allclose(
                        [h.similarity for h in a], [h.similarity for h in b], atol=1e-6
                    )

        fast.add(items(rng, 0, 300, "first"))
        agree()
        ws = fast._working_set
        assert ws is not None and not ws.has_vectors and ws.rows == 300
        fast.add(items(rng, 300, 50, "appended"))  # patched in, not reloaded
        assert fast._working_set is ws and ws.rows == 350
        agree()
        fast.upsert(items(rng, 0, 120, "replaced"))  # same ids, new texts and vectors
        assert fast._working_set is ws and ws.rows == 350
        agree()
        assert all(
            h.record.text.startswith("replaced")
            for h in fast.search(queries[0], k=350)
            if int(h.record.id[1:]) < 120
        )
        fast.update_score("r5", 3.5)
        agree()
        fast.delete(["r1", "r2", "r300"])
        agree()
        assert {"r1", "r2", "r300"}.isdisjoint(h.record.id for h in fast.search(queries[1], k=400))


def test_replaced_rows_are_dropped_once_they_are_half_the_mirror(db_uri: str, clock: Clock) -> None:
    rng = np.random.default_rng(6)
    with make(db_uri, clock, 10_000) as store:
        store.add(items(rng, 0, 200, "v0"))
        store.search(rng.standard_normal(SMALL_DIM), k=1)
        for round_ in range(1, 12):
            store.upsert(items(rng, 0, 200, f"v{round_}"))
        ws = store._working_set
        assert ws is not None and ws.rows == 200
        assert ws._table.num_rows <= 2 * 200 + 1_000 + 200
        hit = store.search(rng.standard_normal(SMALL_DIM), k=200)
        assert {h.record.text.split()[0] for h in hit} == {"v11"}
