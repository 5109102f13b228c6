"""Vector memory on LanceDB: typed records, pluggable embedders, automatic ANN indexing.

Names are imported lazily, so ``patterns.memory.settings`` (pydantic only) loads
without LanceDB or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patterns.memory.embedders import Embedder, HashingEmbedder, SentenceTransformerEmbedder
    from patterns.memory.index import IndexAction, IndexStatus
    from patterns.memory.schema import MemoryItem, MemoryRecord, MemoryRow, SearchHit
    from patterns.memory.settings import MemorySettings
    from patterns.memory.store import CompactionReport, MemoryStore, SearchMode, get_store

_EXPORTS = {
    "CompactionReport": "patterns.memory.store",
    "Embedder": "patterns.memory.embedders",
    "HashingEmbedder": "patterns.memory.embedders",
    "IndexAction": "patterns.memory.index",
    "IndexStatus": "patterns.memory.index",
    "MemoryItem": "patterns.memory.schema",
    "MemoryRecord": "patterns.memory.schema",
    "MemoryRow": "patterns.memory.schema",
    "MemorySettings": "patterns.memory.settings",
    "MemoryStore": "patterns.memory.store",
    "SearchHit": "patterns.memory.schema",
    "SearchMode": "patterns.memory.store",
    "SentenceTransformerEmbedder": "patterns.memory.embedders",
    "get_store": "patterns.memory.store",
}

__all__ = [
    "CompactionReport",
    "Embedder",
    "HashingEmbedder",
    "IndexAction",
    "IndexStatus",
    "MemoryItem",
    "MemoryRecord",
    "MemoryRow",
    "MemorySettings",
    "MemoryStore",
    "SearchHit",
    "SearchMode",
    "SentenceTransformerEmbedder",
    "get_store",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'patterns.memory' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
