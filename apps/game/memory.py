"""The game's LanceDB memory: accepted levels (for novelty) and player ratings (for the bandit).

Both live in one :class:`~patterns.memory.MemoryStore` with the project's default
(offline hashing) embedder: levels in namespace ``game-levels`` embedded from
:func:`~apps.game.descriptor.describe`, ratings in ``game-ratings.<player>``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apps.game.descriptor import describe
from apps.game.exceptions import GameBackendError, RatingError
from apps.game.level import Level
from patterns.core.exceptions import SwarmError
from patterns.memory import MemorySettings, MemoryStore

LEVELS_NS = "game-levels"
RATINGS_NS = "game-ratings"
MAX_RATINGS_READ = 10_000  # ratings of one player read back when a model rehydrates
_PLAYER = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def check_player(player: str) -> str:
    """``player`` itself if it is a usable id (1..64 of ``A-Za-z0-9_.-``)."""
    if not isinstance(player, str) or not _PLAYER.match(player):
        raise RatingError(f"player {player!r}: use 1..64 letters, digits, '_', '.' or '-'")
    return player


class GameMemory:
    """Levels and ratings in LanceDB under ``directory``."""

    def __init__(self, directory: str | Path, table: str = "game") -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self.store = MemoryStore(
                MemorySettings(uri=str(self.directory), table=table, create_if_missing=True)
            )
        except SwarmError as err:
            raise GameBackendError(f"cannot open game memory at {self.directory}: {err}") from err
        self._lock = threading.Lock()
        self._known: set[str] = set()

    # -- levels ---------------------------------------------------------------------------
    def max_similarity(self, level: Level) -> float:
        """Cosine similarity of ``level`` to the most similar accepted level (0 if none)."""
        if self.store.count(LEVELS_NS) == 0:
            return 0.0
        hits = self.store.search(describe(level.grid), k=1, namespace=LEVELS_NS)
        return float(hits[0].similarity) if hits else 0.0

    def add_level(self, level: Level, metrics: dict[str, Any]) -> None:
        """Remember an accepted level (idempotent by level id)."""
        with self._lock:
            self.store.remember(
                [describe(level.grid)],
                namespace=LEVELS_NS,
                kind="level",
                ids=[level.level_id],
                metadata=[{"author": level.author, **level.params.to_dict(), **metrics}],
            )

    def level_count(self) -> int:
        """Accepted levels remembered."""
        return self.store.count(LEVELS_NS)

    # -- ratings --------------------------------------------------------------------------
    def add_ratings(self, player: str, rows: Sequence[dict[str, Any]]) -> None:
        """Store ratings of one player (each row: level, stars, features) in one commit."""
        check_player(player)
        if not rows:
            return
        texts = [f"player {player} rated level {r['level']} {r['stars']} stars" for r in rows]
        with self._lock:
            self.store.remember(
                texts,
                namespace=f"{RATINGS_NS}.{player}",
                kind="rating",
                ids=[f"{player}:{r['level']}" for r in rows],
                metadata=[dict(r) for r in rows],
            )

    def ratings(self, player: str) -> list[dict[str, Any]]:
        """Every stored rating of ``player`` (empty if none)."""
        ns = f"{RATINGS_NS}.{check_player(player)}"
        n = self.store.count(ns)
        if n == 0:
            return []
        hits = self.store.search(f"player {player}", k=min(n, MAX_RATINGS_READ), namespace=ns)
        return [dict(h.record.metadata) for h in hits]

    def close(self) -> None:
        """Release the store."""
        self.store.close()
