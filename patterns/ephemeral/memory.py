"""The agents' view of the vector memory: recall on spawn, persist learned memories in batches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from patterns.ephemeral.spec import Memory

if TYPE_CHECKING:
    from patterns.memory.store import MemoryStore


class AgentMemory(Protocol):
    """The narrow interface the pool needs from a memory backend."""

    async def recall(self, namespace: str, query: str, k: int) -> list[Memory]:
        """The ``k`` memories of ``namespace`` most relevant to ``query``, best first."""
        ...

    async def persist(self, namespace: str, memories: Sequence[Memory]) -> None:
        """Write ``memories`` to ``namespace`` in one batch (all or nothing)."""
        ...


class StoreMemory:
    """:class:`AgentMemory` over a :class:`~patterns.memory.store.MemoryStore` (LanceDB).

    The store's API is synchronous; calls run in a worker thread so the pool's
    event loop keeps serving other agents meanwhile. A namespace that holds no
    records yet recalls nothing.

    Args:
        store: the memory store; shared with other users, not closed here.
    """

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def recall_sync(self, namespace: str, query: str, k: int) -> list[Memory]:
        """:meth:`recall` in the calling thread."""
        from patterns.memory.exceptions import UnknownNamespaceError

        try:
            hits = self.store.search(query, k=k, namespace=namespace)
        except UnknownNamespaceError:
            return []
        return [
            Memory(h.record.text, h.record.kind, dict(h.record.metadata), h.similarity)
            for h in hits
        ]

    def persist_sync(self, namespace: str, memories: Sequence[Memory]) -> None:
        """:meth:`persist` in the calling thread.

        Idempotent, as :meth:`MemoryStore.remember` is: a memory's id derives from its
        namespace, kind and text, so the same memory learned again (a rerun, another
        agent) replaces the stored one instead of adding a duplicate.
        """
        from patterns.memory.schema import MemoryItem
        from patterns.memory.store import content_id

        items = {  # one record per id: a memory repeated in the batch is stored once
            (rid := content_id(namespace, m.kind, m.text)): MemoryItem(
                text=m.text, namespace=namespace, kind=m.kind, metadata=m.metadata, id=rid
            )
            for m in memories
        }
        self.store.upsert(items.values())

    async def recall(self, namespace: str, query: str, k: int) -> list[Memory]:
        """The ``k`` memories of ``namespace`` most similar to ``query``, best first."""
        return await asyncio.to_thread(self.recall_sync, namespace, query, k)

    async def persist(self, namespace: str, memories: Sequence[Memory]) -> None:
        """Upsert ``memories`` into ``namespace`` in one LanceDB commit (:meth:`persist_sync`)."""
        await asyncio.to_thread(self.persist_sync, namespace, list(memories))
