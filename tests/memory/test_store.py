"""MemoryStore behaviour on a real embedded LanceDB directory, through both search paths."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from patterns.core.exceptions import ConfigError, PermanentError
from patterns.memory import HashingEmbedder, MemoryItem, MemorySettings, MemoryStore, SearchMode
from patterns.memory.exceptions import (
    DimensionMismatchError,
    InvalidRecordError,
    RecordNotFoundError,
    UnknownNamespaceError,
)
from tests.memory.conftest import SMALL_DIM, T0, Clock

NOTES = {
    "oom": "pod api crashed: container killed by the OOM killer, memory limit too low",
    "disk": "node worker-3 disk pressure; kubelet evicted pods to free disk space",
    "pull": "image pull backoff on deployment web: registry credentials expired",
    "rollout": "payments rollout stuck on a failing readiness probe; rolled back",
    "dns": "coredns latency spike caused service discovery timeouts",
}


def ids_of(hits: list) -> list[str]:
    return [h.record.id for h in hits]


def test_round_trip_keeps_every_field(store: MemoryStore, clock: Clock) -> None:
    expires = T0 + timedelta(days=1)
    created = T0 - timedelta(hours=2)
    [rid] = store.add(
        [
            MemoryItem(
                text="a remembered note",
                namespace="ops",
                kind="incident",
                id="note-1",
                metadata={"severity": 3, "tags": ["a", "b"], "nested": {"ok": True}},
                created_at=created,
                expires_at=expires,
                score=0.25,
            )
        ]
    )
    assert rid == "note-1"
    rec = store.get("note-1")
    assert rec is not None
    assert (rec.namespace, rec.kind, rec.text, rec.score) == (
        "ops",
        "incident",
        "a remembered note",
        0.25,
    )
    assert rec.metadata == {"severity": 3, "tags": ["a", "b"], "nested": {"ok": True}}
    assert rec.created_at == created and rec.expires_at == expires
    expected = store.embedder.embed_one("a remembered note")
    np.testing.assert_allclose(np.asarray(rec.vector), expected, rtol=1e-6, atol=1e-6)
    assert store.get("nope") is None


def test_add_assigns_unique_ids_and_defaults(store: MemoryStore, clock: Clock) -> None:
    ids = store.add(MemoryItem(text=t) for t in NOTES.values())
    assert len(set(ids)) == len(NOTES)
    recs = store.get_many([*reversed(ids), "missing"])
    assert [r.id for r in recs] == list(reversed(ids))
    assert {(r.namespace, r.kind, r.created_at, r.expires_at) for r in recs} == {
        ("default", "note", T0, None)
    }


def test_ids_with_quotes_and_backslashes_round_trip(store: MemoryStore) -> None:
    odd = ["it's", "a\\b", "x' OR '1'='1", "naïve"]
    store.add(MemoryItem(text=f"odd id {i}", id=rid) for i, rid in enumerate(odd))
    assert [r.id for r in store.get_many(odd)] == odd
    store.update_score("it's", 2.0)
    assert store.delete(["x' OR '1'='1"]) == 1
    assert store.count() == 3


def test_precomputed_vectors_are_stored_normalized(store: MemoryStore) -> None:
    vec = np.arange(1, SMALL_DIM + 1, dtype=np.float32)
    store.add([MemoryItem(text="given vector", id="v", vector=vec)])
    rec = store.get("v")
    assert rec is not None
    np.testing.assert_allclose(rec.vector, vec / np.linalg.norm(vec), rtol=1e-6)
    [hit] = store.search(vec * 7, k=1)
    assert hit.record.id == "v" and hit.similarity == pytest.approx(1.0, abs=1e-5)


def test_a_bad_batch_writes_nothing(store: MemoryStore) -> None:
    store.add([MemoryItem(text="first", id="a")])
    version = store.version()
    bad_batches = [
        ([MemoryItem(text="x", id="b"), MemoryItem(text="y", id="b")], "twice"),
        ([MemoryItem(text="x", id="c"), MemoryItem(text="y", id="a")], "already exist"),
        ([MemoryItem(text="")], "non-empty"),
        ([MemoryItem(text="x", namespace="bad name!")], "namespace"),
        ([MemoryItem(text="x", metadata={"f": object()})], "JSON"),
        ([MemoryItem(text="x", created_at=T0.replace(tzinfo=None))], "timezone-aware"),
        ([MemoryItem(text="x", created_at=T0, expires_at=T0)], "not after"),
        ([MemoryItem(text="x", score=float("nan"))], "finite"),
        ([MemoryItem(text="x", vector=np.zeros(SMALL_DIM))], "zero"),
    ]
    for batch, message in bad_batches:
        with pytest.raises(InvalidRecordError, match=message):
            store.add(batch)
    assert store.count() == 1 and store.version() == version


def test_upsert_replaces_by_id_and_inserts_new(store: MemoryStore) -> None:
    store.add(MemoryItem(text=t, id=k) for k, t in NOTES.items())
    store.upsert(
        [
            MemoryItem(text="dns resolution failures from ndots settings", id="dns", kind="fixed"),
            MemoryItem(text="a brand new note about etcd fsync latency", id="etcd"),
        ]
    )
    assert store.count() == len(NOTES) + 1
    rec = store.get("dns")
    assert rec is not None and rec.kind == "fixed" and rec.text.startswith("dns resolution")
    assert store.search("etcd fsync latency", k=1)[0].record.id == "etcd"
    assert store.search("dns resolution ndots", k=1)[0].record.id == "dns"


def test_vector_search_ranks_the_closest_text_first(store: MemoryStore) -> None:
    store.add(MemoryItem(text=t, id=k) for k, t in NOTES.items())
    hits = store.search("container killed by the OOM killer", k=3)
    assert ids_of(hits)[0] == "oom"
    assert len(hits) == 3
    sims = [h.similarity for h in hits]
    assert sims == sorted(sims, reverse=True) and -1.0 <= sims[-1] <= sims[0] <= 1.0 + 1e-6
    exact = store.search("container killed by the OOM killer", k=3, exact=True)
    assert ids_of(exact) == ids_of(hits)


def test_filters_by_namespace_kind_and_time(store: MemoryStore, clock: Clock) -> None:
    items = []
    for i in range(24):
        items.append(
            MemoryItem(
                text=f"incident {i} pods restarting after deploy",
                id=f"r{i}",
                namespace=("alpha", "beta")[i % 2],
                kind=("incident", "fix", "note")[i % 3],
                created_at=T0 + timedelta(hours=i),
            )
        )
    store.add(items)
    q = "pods restarting after deploy"
    assert {h.record.namespace for h in store.search(q, k=50, namespace="alpha")} == {"alpha"}
    assert len(store.search(q, k=50, namespace="alpha")) == 12
    hits = store.search(q, k=50, namespace="beta", kind="fix")
    assert sorted(ids_of(hits)) == sorted(f"r{i}" for i in range(24) if i % 2 == 1 and i % 3 == 1)
    window = store.search(
        q, k=50, created_after=T0 + timedelta(hours=5), created_before=T0 + timedelta(hours=9)
    )
    assert sorted(ids_of(window)) == ["r5", "r6", "r7", "r8"]
    assert (
        store.search(q, k=50, namespace="alpha", kind="fix", created_after=T0 + timedelta(days=9))
        == []
    )
    assert store.count(namespace="beta") == 12 and store.count(kind="note") == 8
    assert store.namespaces() == ["alpha", "beta"]


def test_unknown_namespace_is_an_error(store: MemoryStore) -> None:
    store.add([MemoryItem(text="something", namespace="known")])
    with pytest.raises(UnknownNamespaceError, match="'missing'") as info:
        store.search("something", namespace="missing")
    assert isinstance(info.value, ConfigError)
    with pytest.raises(UnknownNamespaceError):
        store.search("something", namespace="missing", mode=SearchMode.TEXT)
    with pytest.raises(UnknownNamespaceError):
        store.delete_namespace("missing")
    assert store.count() == 1


def test_wrong_dimension_is_an_error(store: MemoryStore) -> None:
    with pytest.raises(
        DimensionMismatchError, match=rf"has 3 dimensions .* {SMALL_DIM}-dimensional"
    ):
        store.add([MemoryItem(text="x", vector=[1.0, 2.0, 3.0])])
    with pytest.raises(DimensionMismatchError, match="query vector has 10 dimensions"):
        store.search(np.ones(10))
    with pytest.raises(DimensionMismatchError) as info:
        store.search(np.ones((2, SMALL_DIM)))
    assert isinstance(info.value, PermanentError) and info.value.expected == SMALL_DIM
    assert store.count() == 0


def test_bad_search_arguments_are_errors(store: MemoryStore) -> None:
    store.add([MemoryItem(text="x")])
    for kwargs, message in [
        ({"k": 0}, "k=0"),
        ({"mode": "fuzzy"}, "unknown search mode"),
        ({"created_after": T0, "created_before": T0}, "earlier"),
        ({"kind": "no spaces allowed"}, "kind"),
    ]:
        with pytest.raises(InvalidRecordError, match=message):
            store.search("x", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecordError, match="query text"):
        store.search(np.ones(SMALL_DIM), mode="text")


def test_whitespace_only_queries_are_refused_in_every_mode(store: MemoryStore) -> None:
    store.add([MemoryItem(text="disk pressure on node-3")])
    for query in ("", " ", "   ", "\t\n", "\u3000"):
        for mode in ("vector", "text", "hybrid"):
            with pytest.raises(InvalidRecordError, match="query text"):
                store.search(query, mode=mode)


def test_remember_without_ids_is_idempotent(store: MemoryStore, clock: Clock) -> None:
    texts = ["etcd leader flapped: slow disks", "ingress cert expired"]
    first = store.remember(texts, namespace="ops", kind="incident")
    clock.advance(5)
    again = store.remember(texts, namespace="ops", kind="incident", metadata=[{"n": 2}] * 2)
    assert first == again and store.count() == 2
    assert store.get(first[0]).metadata == {"n": 2}  # type: ignore[union-attr]
    other = store.remember(texts[:1], namespace="ops", kind="postmortem")  # another kind
    assert other != first[:1] and store.count() == 3
    dup = store.remember(["same", "same"], namespace="ops")  # repeated in one call: one record
    assert dup[0] == dup[1] and store.count() == 4
    with pytest.raises(InvalidRecordError, match="text 1 must be a non-empty string"):
        store.remember(["fine", "  "], namespace="ops")
    assert store.count() == 4


def test_full_text_and_hybrid_search(store: MemoryStore) -> None:
    store.add(MemoryItem(text=t, id=k) for k, t in NOTES.items())
    store.add([MemoryItem(text="kubelet restarted after the credentials rotation", id="kubelet")])
    text_hits = store.search("kubelet", mode=SearchMode.TEXT, k=10)
    assert sorted(ids_of(text_hits)) == ["disk", "kubelet"]  # only records containing the word
    assert all(h.similarity > 0 for h in text_hits)
    hybrid = store.search("registry credentials expired", mode="hybrid", k=3)
    assert ids_of(hybrid)[0] == "pull"  # best in both rankings
    assert len(hybrid) == 3
    scoped = store.search("kubelet", mode=SearchMode.TEXT, namespace="default", kind="note")
    assert len(scoped) == 2


def test_score_updates(store: MemoryStore) -> None:
    store.add(MemoryItem(text=t, id=k) for k, t in NOTES.items())
    store.search("warm the working set", k=1)
    store.update_score("oom", 2.5)
    store.adjust_score("oom", -1.0)
    store.adjust_score("oom", 0.25)
    rec = store.get("oom")
    assert rec is not None and rec.score == pytest.approx(1.75)
    [hit] = store.search(NOTES["oom"], k=1)
    assert hit.record.score == pytest.approx(1.75)
    store.update_score("disk", -3)
    [hit] = store.search(NOTES["disk"], k=1)
    assert hit.record.score == -3
    with pytest.raises(RecordNotFoundError, match="'ghost'"):
        store.update_score("ghost", 1.0)
    with pytest.raises(RecordNotFoundError):
        store.adjust_score("ghost", 1.0)
    with pytest.raises(InvalidRecordError, match="finite"):
        store.update_score("oom", float("inf"))


def test_delete_by_id_and_namespace(store: MemoryStore) -> None:
    store.add(MemoryItem(text=t, id=k, namespace="a") for k, t in NOTES.items())
    store.add([MemoryItem(text="other namespace", id="b1", namespace="b")])
    assert store.delete(["oom", "disk", "not-there"]) == 2
    assert store.get("oom") is None and store.count(namespace="a") == len(NOTES) - 2
    assert "oom" not in ids_of(store.search(NOTES["oom"], k=10))
    assert store.delete_namespace("a") == len(NOTES) - 2
    assert store.namespaces() == ["b"]
    with pytest.raises(UnknownNamespaceError):
        store.search("x", namespace="a")


def test_expired_records_are_hidden_then_deleted(store: MemoryStore, clock: Clock) -> None:
    store.add(
        [
            MemoryItem(text="short lived note", id="short", expires_at=T0 + timedelta(minutes=5)),
            MemoryItem(text="long lived note", id="long", expires_at=T0 + timedelta(days=5)),
            MemoryItem(text="eternal note", id="eternal"),
        ]
    )
    assert sorted(ids_of(store.search("note", k=10))) == ["eternal", "long", "short"]
    clock.advance(600)
    assert sorted(ids_of(store.search("note", k=10))) == ["eternal", "long"]
    assert sorted(ids_of(store.search("note", k=10, mode="text"))) == ["eternal", "long"]
    assert len(store.search("note", k=10, include_expired=True)) == 3
    assert store.expire() == 1
    assert store.get("short") is None and store.count() == 2
    assert store.expire(T0 + timedelta(days=10)) == 1
    assert ids_of(store.search("note", k=10)) == ["eternal"]


@pytest.mark.filterwarnings("ignore:optimize.cleanup_older_than=0:UserWarning")
def test_compaction_merges_fragments_and_keeps_data(db_uri: str, clock: Clock) -> None:
    settings = MemorySettings(create_if_missing=True, uri=db_uri, dim=SMALL_DIM, keep_versions_s=0)
    with MemoryStore(settings, HashingEmbedder(dim=SMALL_DIM), clock=clock) as store:
        for i in range(12):
            store.add([MemoryItem(text=f"note number {i} on compaction", id=f"n{i}")])
        store.delete(["n3"])
        before = ids_of(store.search("note number 7", k=5))
        report = store.compact()
        # 12 one-row fragments, less the one the delete emptied, become one.
        assert (report.fragments_removed, report.fragments_added) == (11, 1)
        assert report.versions_removed > 0
        assert store.count() == 11
        assert ids_of(store.search("note number 7", k=5)) == before
        assert {r.id for r in store.get_many([f"n{i}" for i in range(12)])} == {
            f"n{i}" for i in range(12) if i != 3
        }


def test_two_stores_on_one_table_see_each_others_writes(db_uri: str, clock: Clock) -> None:
    settings = MemorySettings(create_if_missing=True, uri=db_uri, dim=SMALL_DIM)
    emb = HashingEmbedder(dim=SMALL_DIM)
    with MemoryStore(settings, emb, clock=clock) as a, MemoryStore(settings, emb, clock=clock) as b:
        a.add([MemoryItem(text="written by a", id="a1")])
        assert ids_of(b.search("written by a", k=1)) == ["a1"]  # b's working set loads
        b.add([MemoryItem(text="written by b", id="b1")])
        a.update_score("a1", 9.0)
        assert ids_of(a.search("written by b", k=1)) == ["b1"]
        [hit] = b.search("written by a", k=1)
        assert hit.record.score == 9.0  # b's working set was stale and reloaded


def test_remember_upserts_with_ttl(store: MemoryStore, clock: Clock) -> None:
    ids = store.remember(
        ["alpha note", "beta note"], namespace="ns", kind="k", ids=["x", "y"], ttl_s=60
    )
    assert ids == ["x", "y"]
    store.remember(
        ["alpha note, revised"], namespace="ns", kind="k", ids=["x"], metadata=[{"v": 2}]
    )
    rec = store.get("x")
    assert rec is not None and rec.text == "alpha note, revised" and rec.metadata == {"v": 2}
    assert rec.expires_at is None
    clock.advance(61)
    assert ids_of(store.search("note", k=5, namespace="ns")) == ["x"]
    with pytest.raises(InvalidRecordError, match="2 entries for 1 texts"):
        store.remember(["a"], ids=["p", "q"])
