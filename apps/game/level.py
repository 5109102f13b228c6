"""The tile level: its grid, the tiles' meaning, and the checked conversion to and from plain data.

A level is a rectangular grid of tiles stored as ``uint8``; on the wire (the CRDT
world, the web page, JSON) it is a list of strings, one character per tile:

====  ==========  =============================================================
char  tile        rule
====  ==========  =============================================================
``#`` wall        never passable
``.`` floor       passable
``S`` start       where the player begins (exactly one)
``E`` exit        reaching it solves the level (exactly one)
``a`` key a       picked up by stepping on it (also ``b``, ``c``)
``A`` door A      passable once key ``a`` is held (also ``B``, ``C``)
``^`` hazard      stepping on it kills the player: never on a solution
====  ==========  =============================================================
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.game.exceptions import LevelFormatError

MAX_KEYS = 3  # key colours a..c, doors A..C
MIN_SIDE = 5  # tiles; smaller grids cannot hold walls, a start and an exit
HARD_MAX_SIDE = 256  # tiles; anything larger is refused before any work is done


class Tile(enum.IntEnum):
    """One tile of the grid."""

    WALL = 0
    FLOOR = 1
    START = 2
    EXIT = 3
    HAZARD = 4
    KEY_A = 5
    KEY_B = 6
    KEY_C = 7
    DOOR_A = 8
    DOOR_B = 9
    DOOR_C = 10


CHAR_OF: dict[Tile, str] = {
    Tile.WALL: "#",
    Tile.FLOOR: ".",
    Tile.START: "S",
    Tile.EXIT: "E",
    Tile.HAZARD: "^",
    Tile.KEY_A: "a",
    Tile.KEY_B: "b",
    Tile.KEY_C: "c",
    Tile.DOOR_A: "A",
    Tile.DOOR_B: "B",
    Tile.DOOR_C: "C",
}
TILE_OF: dict[str, Tile] = {c: t for t, c in CHAR_OF.items()}
KEY_TILES = (Tile.KEY_A, Tile.KEY_B, Tile.KEY_C)
DOOR_TILES = (Tile.DOOR_A, Tile.DOOR_B, Tile.DOOR_C)

Grid = NDArray[np.uint8]


class GeneratorKind(enum.StrEnum):
    """The generator families; peers run different ones so their content differs."""

    CAVES = "caves"  # cellular automata
    ROOMS = "rooms"  # binary space partition rooms and corridors
    GRAMMAR = "grammar"  # a mission grammar of lock-and-key rooms on a lattice


@dataclass(frozen=True, slots=True)
class GenParams:
    """What a generator is asked for.

    Attributes:
        kind: the generator family.
        width: tiles across.
        height: tiles down.
        difficulty: 0 (trivial) .. 1 (hard): doors, hazards, how far the exit is.
        style: 0 .. 1, the family's own look: cave openness, room size, branchiness.
    """

    kind: GeneratorKind = GeneratorKind.ROOMS
    width: int = 24
    height: int = 16
    difficulty: float = 0.5
    style: float = 0.5

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able)."""
        return {
            "kind": self.kind.value,
            "width": self.width,
            "height": self.height,
            "difficulty": round(self.difficulty, 4),
            "style": round(self.style, 4),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenParams:
        """Parse plain data; raises :class:`LevelFormatError` naming the bad field."""
        try:
            kind = GeneratorKind(str(data.get("kind", GeneratorKind.ROOMS.value)))
        except ValueError as err:
            known = [k.value for k in GeneratorKind]
            raise LevelFormatError(
                f"params.kind: {data.get('kind')!r} is not one of {known}"
            ) from err
        out: dict[str, Any] = {"kind": kind}
        for name, typ, lo, hi in (
            ("width", int, MIN_SIDE, HARD_MAX_SIDE),
            ("height", int, MIN_SIDE, HARD_MAX_SIDE),
            ("difficulty", float, 0.0, 1.0),
            ("style", float, 0.0, 1.0),
        ):
            if name not in data:
                continue
            raw = data[name]
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                raise LevelFormatError(f"params.{name}: expected a number, got {raw!r}")
            if typ is int and not float(raw).is_integer():
                raise LevelFormatError(f"params.{name}: expected a whole number, got {raw!r}")
            value = typ(raw)
            if not lo <= value <= hi:
                raise LevelFormatError(f"params.{name}: {value} is outside {lo}..{hi}")
            out[name] = value
        return cls(**out)


@dataclass(slots=True)
class Level:
    """A generated level with its provenance.

    Attributes:
        grid: ``(height, width)`` tiles.
        params: what it was generated for.
        seed: the generator seed (with ``params`` it reproduces the grid).
        author: the peer that proposed it.
        meta: extra provenance (free-form, JSON-able).
    """

    grid: Grid
    params: GenParams
    seed: int = 0
    author: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.grid.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.grid.shape[1])

    @property
    def level_id(self) -> str:
        """A content address: the first 16 hex digits of the SHA-256 of the rows."""
        return hashlib.sha256("\n".join(self.rows()).encode()).hexdigest()[:16]

    def rows(self) -> list[str]:
        """The grid as strings, one character per tile."""
        return grid_to_rows(self.grid)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-able) for the CRDT world and the web page."""
        return {
            "id": self.level_id,
            "rows": self.rows(),
            "params": self.params.to_dict(),
            "seed": self.seed,
            "author": self.author,
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, max_side: int = HARD_MAX_SIDE) -> Level:
        """Parse plain data (as :meth:`to_dict` writes it).

        Raises:
            LevelFormatError: a missing or malformed field, naming it (and the row and
                column of a bad tile).
        """
        if not isinstance(data, Mapping):
            raise LevelFormatError(f"a level must be an object, got {type(data).__name__}")
        if "rows" not in data:
            raise LevelFormatError("level.rows is missing")
        grid = rows_to_grid(data["rows"], max_side=max_side)
        params_raw = data.get("params", {})
        if not isinstance(params_raw, Mapping):
            raise LevelFormatError("level.params must be an object")
        params = GenParams.from_dict(params_raw)
        seed = data.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise LevelFormatError(f"level.seed: expected an integer, got {seed!r}")
        author = data.get("author", "")
        if not isinstance(author, str) or len(author) > 128:
            raise LevelFormatError("level.author must be a string of at most 128 characters")
        meta = data.get("meta", {})
        if not isinstance(meta, Mapping):
            raise LevelFormatError("level.meta must be an object")
        return cls(grid=grid, params=params, seed=seed, author=author, meta=dict(meta))


_LUT = np.array([ord(CHAR_OF[Tile(i)]) for i in range(len(Tile))], dtype=np.uint8)
_REVERSE = np.full(256, 255, dtype=np.uint8)
for _t, _c in CHAR_OF.items():
    _REVERSE[ord(_c)] = int(_t)


def grid_to_rows(grid: Grid) -> list[str]:
    """Tiles to strings (vectorized)."""
    chars = _LUT[grid]
    return [bytes(row).decode("ascii") for row in chars]


def rows_to_grid(rows: object, *, max_side: int = HARD_MAX_SIDE) -> Grid:
    """Strings to tiles.

    Raises:
        LevelFormatError: not a list of equal-length strings of known tiles, or a side
            outside ``MIN_SIDE..max_side``; the message names the row and column.
    """
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        raise LevelFormatError("level.rows must be a list of strings")
    if not MIN_SIDE <= len(rows) <= max_side:
        raise LevelFormatError(f"level.rows: height {len(rows)} is outside {MIN_SIDE}..{max_side}")
    width = None
    out = np.empty((len(rows), 0), dtype=np.uint8)
    for r, row in enumerate(rows):
        if not isinstance(row, str):
            raise LevelFormatError(f"level.rows[{r}] must be a string, got {type(row).__name__}")
        if width is None:
            width = len(row)
            if not MIN_SIDE <= width <= max_side:
                raise LevelFormatError(
                    f"level.rows[0]: width {width} is outside {MIN_SIDE}..{max_side}"
                )
            out = np.empty((len(rows), width), dtype=np.uint8)
        elif len(row) != width:
            raise LevelFormatError(f"level.rows[{r}]: length {len(row)}, expected {width}")
        try:
            raw = np.frombuffer(row.encode("ascii"), dtype=np.uint8)
        except UnicodeEncodeError as err:
            raise LevelFormatError(
                f"level.rows[{r}]: non-ASCII tile at column {err.start}"
            ) from err
        tiles = _REVERSE[raw]
        bad = np.flatnonzero(tiles == 255)
        if bad.size:
            c = int(bad[0])
            raise LevelFormatError(f"level.rows[{r}][{c}]: unknown tile {row[c]!r}")
        out[r] = tiles
    return out


def count_tiles(grid: Grid) -> dict[Tile, int]:
    """How many of each tile the grid holds."""
    counts = np.bincount(grid.ravel(), minlength=len(Tile))
    return {Tile(i): int(counts[i]) for i in range(len(Tile))}


def find(grid: Grid, tile: Tile) -> list[tuple[int, int]]:
    """Positions ``(row, col)`` of every ``tile``."""
    ys, xs = np.nonzero(grid == tile)
    return [(int(y), int(x)) for y, x in zip(ys, xs, strict=True)]
