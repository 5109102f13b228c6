"""A level as text for the memory's embedder: its 3x3 tile patches as words, row by row.

Two levels share words where they share local structure (a corridor bend, a door in a
corridor, a key in a dead end), so the cosine similarity of their embeddings measures
how alike they are; a resubmitted or mirrored-by-seed level scores ~1. Uniform patches
(all wall, all floor) are left out: every level has them.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np

from apps.game.level import Grid, Tile

# One letter per tile family: the embedder's words are [a-z0-9_]+.
LETTER = {
    Tile.WALL: "w",
    Tile.FLOOR: "f",
    Tile.START: "s",
    Tile.EXIT: "e",
    Tile.HAZARD: "h",
    Tile.KEY_A: "k",
    Tile.KEY_B: "k",
    Tile.KEY_C: "k",
    Tile.DOOR_A: "d",
    Tile.DOOR_B: "d",
    Tile.DOOR_C: "d",
}
_LETTERS = np.array([ord(LETTER[Tile(i)]) for i in range(len(Tile))], dtype=np.uint8)
PATCH = 3  # patch side, tiles


@functools.lru_cache(maxsize=65536)
def _word(code: bytes) -> str:
    # An opaque word per patch: equal patches share it, others share no character n-grams
    # beyond chance (the embedder also hashes character n-grams).
    return "p" + hashlib.blake2b(code, digest_size=5).hexdigest()


def describe(grid: Grid) -> str:
    """The text the embedder reads for ``grid`` (one word per non-wall 3x3 patch)."""
    h, w = grid.shape
    letters = _LETTERS[grid]
    lines = []
    for y in range(h - PATCH + 1):
        words = []
        for x in range(w - PATCH + 1):
            code = bytes(letters[y : y + PATCH, x : x + PATCH].ravel())
            if code.count(code[0]) == len(code):
                continue  # all wall or all floor: every level has them
            words.append(_word(code))
        if words:
            lines.append(" ".join(words))
    return "\n".join(lines) or "empty"
