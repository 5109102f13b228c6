"""The Prefect layer: task bodies through ``.fn`` and the demo flow run for real."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client

from flows.demo_memory import DEMO_NOTES, memory_demo
from patterns.core.exceptions import RetryableError
from patterns.memory import MemorySettings, MemoryStore, SearchMode
from patterns.memory.exceptions import (
    InvalidRecordError,
    StoreUnavailableError,
    TableNotFoundError,
    UnknownNamespaceError,
)
from tasks.memory import recall, remember, retry_if_retryable


def test_remember_and_recall_task_bodies(tmp_path: Path) -> None:
    settings = MemorySettings(uri=str(tmp_path), table="task_test")  # remember creates the table
    ids = remember.fn(
        ["the etcd leader flapped because of slow disks", "ingress certificate expired"],
        namespace="ops",
        kind="incident",
        metadata=[{"sev": 1}, {"sev": 2}],
        settings=settings,
    )
    assert len(ids) == 2
    hits = recall.fn("etcd leader election flapping", k=1, namespace="ops", settings=settings)
    assert [h.record.id for h in hits] == [ids[0]]
    assert hits[0].record.metadata == {"sev": 1} and hits[0].record.kind == "incident"
    text_hits = recall.fn("certificate", namespace="ops", mode=SearchMode.TEXT, settings=settings)
    assert [h.record.id for h in text_hits] == [ids[1]]
    with pytest.raises(UnknownNamespaceError):
        recall.fn("anything", namespace="nobody", settings=settings)


def test_remember_task_is_idempotent_without_ids(tmp_path: Path) -> None:
    # The README example reruns remember() without ids: it must not pile up duplicates.
    settings = MemorySettings(uri=str(tmp_path), table="rerun")
    notes = ["etcd leader flapped: slow disks", "ingress cert expired"]
    first = remember.fn(notes, namespace="ops", kind="incident", settings=settings)
    second = remember.fn(notes, namespace="ops", kind="incident", settings=settings)
    assert first == second
    assert [h.record.text for h in recall.fn("etcd", k=5, namespace="ops", settings=settings)][
        :2
    ] == [notes[0], notes[1]]
    with MemoryStore(settings) as store:
        assert store.count(namespace="ops") == 2


def test_recall_task_on_a_missing_table_is_a_clear_error_and_creates_nothing(
    tmp_path: Path,
) -> None:
    settings = MemorySettings(uri=str(tmp_path / "typo"), table="memories")
    with pytest.raises(TableNotFoundError, match=r"'memories' does not exist.*create_if_missing"):
        recall.fn("anything", settings=settings)
    assert not (tmp_path / "typo").exists()
    with pytest.raises(TableNotFoundError):
        remember.fn(["a note"], settings=settings, create=False)
    assert not (tmp_path / "typo").exists()


def test_recall_task_refuses_a_whitespace_query(tmp_path: Path) -> None:
    settings = MemorySettings(uri=str(tmp_path), table="ws")
    remember.fn(["a note"], settings=settings)
    for query in ("   ", "\n\t"):
        with pytest.raises(InvalidRecordError, match="empty or only whitespace"):
            recall.fn(query, settings=settings)


class _State:
    def __init__(self, data: BaseException) -> None:
        self.data = data


def test_retry_condition_follows_the_error_split() -> None:
    assert issubclass(StoreUnavailableError, RetryableError)
    retry = retry_if_retryable(None, None, _State(StoreUnavailableError("commit conflict")))  # type: ignore[arg-type]
    permanent = retry_if_retryable(None, None, _State(UnknownNamespaceError("x", "t")))  # type: ignore[arg-type]
    assert (retry, permanent) == (True, False)


def test_demo_flow_runs_and_publishes_a_table_artifact(tmp_path: Path) -> None:
    results = memory_demo(uri=str(tmp_path), table="demo")
    top = {query: hits[0].record.text for query, hits in results.items()}
    assert top["vector: container out of memory crash"] in DEMO_NOTES[:2]  # the two OOM notes
    assert top["vector: disk full on a node"] == DEMO_NOTES[2]
    assert top["vector: bad deploy, undo the rollout"] == DEMO_NOTES[5]
    assert top["hybrid: bad deploy, undo the rollout"] == DEMO_NOTES[5]
    assert all(len(hits) == 3 for hits in results.values())
    memory_demo(uri=str(tmp_path), table="demo")  # re-running upserts the same ids
    with MemoryStore(MemorySettings(uri=str(tmp_path), table="demo")) as store:
        assert store.count(namespace="demo") == len(DEMO_NOTES)

    async def artifact() -> list[dict[str, object]]:
        async with get_client() as client:
            arts = await client.read_artifacts()
        found = [a for a in arts if a.key == "memory-demo-recall"]
        assert found, "no memory-demo-recall artifact"
        data = found[-1].data
        return json.loads(data) if isinstance(data, str) else data  # type: ignore[no-any-return]

    rows = asyncio.run(artifact())
    assert {"query", "mode", "rank", "similarity", "kind", "text"} <= set(rows[0])
    assert len(rows) == 3 * 2 * 3  # queries x modes x k
