"""The shared world: one pycrdt document of accepted levels, votes, ratings and player progress.

Roots (all Yjs maps, so Python peers and browser peers open the same names; values
are JSON strings so both sides read them with one parse):

* ``levels``: level id -> the level (rows, params, author, metrics).
* ``votes``: level id -> the vote (ballots, approvals, accepted).
* ``ratings``: ``"<level>|<player>"`` -> ``{level, player, stars, at}``: one entry per
  player and level, so concurrent ratings by different players never conflict.
* ``progress``: player -> ``{level, solved, moves, at}``.

Readers skip entries that do not parse (a buggy peer cannot break the page) and
report them; nothing is deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Map

from apps.game.exceptions import RatingError
from apps.game.memory import check_player
from patterns.gossip import RootKind

log = logging.getLogger(__name__)
ROOTS: dict[str, RootKind] = {
    "levels": RootKind.MAP,
    "votes": RootKind.MAP,
    "ratings": RootKind.MAP,
    "progress": RootKind.MAP,
}


def ensure_roots(doc: Doc[Any]) -> None:
    """Create the world's map roots on a bare document (idempotent)."""
    for name in ROOTS:
        doc[name] = Map()


def _map(doc: Doc[Any], name: str) -> Map[Any]:
    root: Map[Any] = doc.get(name, type=Map)
    return root


def put_level(doc: Doc[Any], record: Mapping[str, Any], vote: Mapping[str, Any]) -> None:
    """Write an accepted level and its vote (call inside one transaction for atomicity)."""
    _map(doc, "levels")[str(record["id"])] = json.dumps(record, sort_keys=True)
    _map(doc, "votes")[str(record["id"])] = json.dumps(vote, sort_keys=True)


def put_vote(doc: Doc[Any], key: str, vote: Mapping[str, Any]) -> None:
    """Record a vote (also rejected ones, keyed by proposal)."""
    _map(doc, "votes")[key] = json.dumps(vote, sort_keys=True)


def rating_key(level: str, player: str) -> str:
    """The ratings map key of ``player``'s rating of ``level``."""
    return f"{level}|{player}"


def put_rating(doc: Doc[Any], level: str, player: str, stars: int, at: float) -> None:
    """Record ``player``'s rating of ``level``.

    Raises:
        RatingError: stars not an integer 1..5, a bad player id, or an unknown level.
    """
    check_player(player)
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise RatingError(f"stars must be an integer 1..5, got {stars!r}")
    if level not in _map(doc, "levels"):
        raise RatingError(f"level {level!r} is not in the world")
    value = {"level": level, "player": player, "stars": stars, "at": round(at, 3)}
    _map(doc, "ratings")[rating_key(level, player)] = json.dumps(value, sort_keys=True)


def put_progress(
    doc: Doc[Any], player: str, level: str, solved: bool, moves: int, at: float
) -> None:
    """Record where ``player`` is."""
    check_player(player)
    value = {"level": level, "solved": solved, "moves": moves, "at": round(at, 3)}
    _map(doc, "progress")[player] = json.dumps(value, sort_keys=True)


@dataclass
class WorldView:
    """The world as plain Python, read from one replica."""

    levels: dict[str, dict[str, Any]] = field(default_factory=dict)
    votes: dict[str, dict[str, Any]] = field(default_factory=dict)
    ratings: dict[str, dict[str, Any]] = field(default_factory=dict)
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def mean_rating(self, level: str) -> float | None:
        """Mean stars of ``level`` (None if unrated)."""
        stars = [r["stars"] for r in self.ratings.values() if r.get("level") == level]
        return sum(stars) / len(stars) if stars else None


def read_world(snapshot: Mapping[str, Any]) -> WorldView:
    """Parse a document snapshot (``{root: {key: json}}``), skipping unreadable entries."""
    view = WorldView()
    for root in ROOTS:
        target: dict[str, dict[str, Any]] = getattr(view, root)
        for key, raw in dict(snapshot.get(root) or {}).items():
            try:
                value = json.loads(raw) if isinstance(raw, str) else raw
                if not isinstance(value, dict):
                    raise ValueError("not an object")
            except ValueError as err:
                view.unreadable.append(f"{root}[{key!r}]: {err}")
                continue
            target[str(key)] = value
    if view.unreadable:
        log.warning(
            "world: %d unreadable entries, first: %s", len(view.unreadable), view.unreadable[0]
        )
    return view


def doc_snapshot(doc: Doc[Any]) -> dict[str, Any]:
    """``{root: plain dict}`` of a bare pycrdt document."""
    return {name: _map(doc, name).to_py() or {} for name in ROOTS}
