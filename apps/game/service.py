"""The game host: one peer that offers personalized levels, votes on them and learns from ratings.

It owns a world document (the one the web server shares with browsers), the LanceDB
memory and the quality vote. :meth:`GameService.offer` picks generator settings with
the player's bandit model, generates a level as one of its authoring peers, puts it
to the five voters and, when accepted, returns the edit that writes it into the
world; :meth:`GameService.learn` stores ratings that arrived through the CRDT into
memory, where the bandit rehydrates from.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pycrdt import Doc

from apps.game.bandit import PlayerModel, choose, features
from apps.game.cluster import peer_kind
from apps.game.generators import generate
from apps.game.level import GeneratorKind
from apps.game.memory import GameMemory, check_player
from apps.game.settings import GameSettings
from apps.game.vote import Dishonesty, Proposal, QualityVote, Verdict
from apps.game.world import WorldView, put_level, put_vote

log = logging.getLogger(__name__)
AUTHORS = 5  # authoring peers of the host: peer i runs generator family i % 3
MAX_ATTEMPTS = 6  # proposals tried per offer before giving up


@dataclass
class Offer:
    """The result of one level request."""

    player: str
    accepted: bool
    record: dict[str, Any] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)

    def apply(self, doc: Doc[Any]) -> None:
        """Write the accepted level and every vote into ``doc`` (one transaction)."""
        with doc.transaction():
            for i, v in enumerate(self.verdicts):
                if v.accepted and self.record:
                    put_level(doc, self.record, v.to_dict())
                else:
                    put_vote(doc, f"rejected:{v.level_id or i}", v.to_dict())


class GameService:
    """The host peer's logic (thread-safe; the caller owns the document and its thread).

    Args:
        settings: the game settings (``data_dir`` holds the memory).
        known_ids: returns the ids of the levels already in the world (never re-accepted).
        dishonest: voters that lie (demo and tests).
        seed: seeds the bandit and the level seeds.
    """

    def __init__(
        self,
        settings: GameSettings,
        known_ids: Callable[[], Collection[str]] | None = None,
        *,
        dishonest: dict[str, Dishonesty] | None = None,
        seed: int = 0,
    ) -> None:
        self.settings = settings
        self.memory = GameMemory(Path(settings.data_dir) / "memory")
        self.vote = QualityVote(
            settings, self.memory, accepted_ids=known_ids or (lambda: ()), dishonest=dishonest
        )
        self._rng = np.random.default_rng(seed)
        self._seeds = itertools.count(seed * 1_000_003)
        self._lock = threading.Lock()
        self._learned: dict[str, int] = {}

    def offer(self, player: str, difficulty: float | None = None) -> Offer:
        """Generate, vote on and return a level for ``player`` (bandit-chosen settings)."""
        check_player(player)
        s = self.settings
        with self._lock:
            model = PlayerModel.from_ratings(player, self.memory.ratings(player), s.bandit_noise)
            out = Offer(player, False)
            for attempt in range(MAX_ATTEMPTS):
                params = choose(model, self._rng, s.bandit_candidates, s.width, s.height)
                if difficulty is not None:
                    params = type(params)(
                        params.kind, params.width, params.height, difficulty, params.style
                    )
                author = self._author(params.kind, attempt)
                level = generate(params, next(self._seeds), author=author)
                verdict = self.vote.admit(Proposal(level.to_dict(), params.difficulty, author))
                out.verdicts.append(verdict)
                if verdict.accepted:
                    out.accepted = True
                    out.record = {**level.to_dict(), "metrics": verdict.metrics, "for": player}
                    return out
            return out

    def _author(self, kind: GeneratorKind, attempt: int) -> str:
        peers = [p for p in range(AUTHORS) if peer_kind(p) == kind]
        return f"peer-{peers[attempt % len(peers)]}"

    def learn(self, view: WorldView) -> int:
        """Store ratings from the world that memory has not seen yet; how many were new."""
        by_player: dict[str, list[dict[str, Any]]] = {}
        for key, r in view.ratings.items():
            level = view.levels.get(str(r.get("level")))
            stars = r.get("stars")
            player = r.get("player")
            if level is None or not isinstance(stars, int) or not isinstance(player, str):
                continue
            if self._learned.get(key) == stars:
                continue
            params = level.get("params", {})
            metrics = level.get("metrics", {})
            try:
                x = features(
                    GeneratorKind(params.get("kind", "rooms")),
                    float(metrics.get("difficulty", params.get("difficulty", 0.5))),
                    float(params.get("style", 0.5)),
                )
                check_player(player)
            except (ValueError, TypeError) as err:
                log.warning("skipping rating %s: %s", key, err)
                self._learned[key] = stars
                continue
            by_player.setdefault(player, []).append(
                {"level": level["id"], "stars": stars, "features": x.tolist()}
            )
            self._learned[key] = stars
        with self._lock:
            for player, rows in by_player.items():
                self.memory.add_ratings(player, rows)
        return sum(len(r) for r in by_player.values())

    def close(self) -> None:
        """Stop the vote's event loop and release memory."""
        self.vote.close()
        self.memory.close()
