"""Byzantine proposers: peers that propose bad content on purpose (for tests and the benchmark).

Kinds of bad proposal, each a :class:`~apps.game.vote.Proposal` that must be refused:

* ``unsolvable``: a good level with its exit walled in, a key removed, or hazards
  across every route;
* ``oversized``: a solvable level larger than the size limit;
* ``malformed``: two exits, an unknown tile, ragged rows, a missing field;
* ``duplicate``: an exact copy of a level already in the world.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from apps.game.generators import generate
from apps.game.level import GeneratorKind, GenParams, Level, Tile, find
from apps.game.records import Proposal
from apps.game.solver import solve

BAD_KINDS = ("unsolvable", "oversized", "malformed", "duplicate")


def _unsolvable(rng: random.Random) -> dict[str, Any]:
    while True:
        p = GenParams(
            kind=rng.choice(list(GeneratorKind)), difficulty=rng.random(), style=rng.random()
        )
        lv = generate(p, rng.getrandbits(32), author="byzantine")
        grid = lv.grid.copy()
        how = rng.randrange(3)
        (ey, ex) = find(grid, Tile.EXIT)[0]
        if how == 0:  # wall the exit in
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                grid[ey + dy, ex + dx] = Tile.WALL
        elif how == 1:  # remove every key (a door stays locked) or hazard the exit's ring
            keys = np.isin(grid, (Tile.KEY_A, Tile.KEY_B, Tile.KEY_C))
            if keys.any():
                grid[keys] = Tile.FLOOR
            else:
                for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                    if grid[ey + dy, ex + dx] != Tile.WALL:
                        grid[ey + dy, ex + dx] = Tile.HAZARD
        else:  # hazards across the whole solution
            for y, x in solve(grid).path[1:-1]:
                grid[y, x] = Tile.HAZARD
        grid[lv.grid == Tile.START] = Tile.START  # the walls must not bury the start
        if not solve(grid).solvable:
            bad = Level(grid, p, lv.seed, "byzantine")
            return {**bad.to_dict(), "metrics": {"solvable": True, "difficulty": p.difficulty}}


def _oversized(rng: random.Random, max_side: int) -> dict[str, Any]:
    side = rng.randint(max_side + 1, max_side * 2)
    p = GenParams(kind=rng.choice(list(GeneratorKind)), width=side, height=max(16, side // 2))
    return generate(p, rng.getrandbits(32), author="byzantine").to_dict()


def _malformed(rng: random.Random) -> dict[str, Any]:
    lv = generate(
        GenParams(difficulty=rng.random()), rng.getrandbits(32), author="byzantine"
    ).to_dict()
    rows = list(lv["rows"])
    how = rng.randrange(4)
    if how == 0:  # a second exit
        y = rng.randrange(1, len(rows) - 1)
        rows[y] = rows[y][:1] + "E" + rows[y][2:]
    elif how == 1:  # an unknown tile
        y = rng.randrange(len(rows))
        rows[y] = rows[y][:3] + "?" + rows[y][4:]
    elif how == 2:  # ragged rows
        rows[rng.randrange(len(rows))] += "#"
    else:  # no rows at all
        return {k: v for k, v in lv.items() if k != "rows"}
    return {**lv, "rows": rows}


def bad_proposals(
    n: int,
    seed: int = 0,
    *,
    max_side: int = 48,
    memory_levels: Sequence[Mapping[str, Any]] = (),
) -> list[Proposal]:
    """``n`` bad proposals, cycling through :data:`BAD_KINDS` (duplicates of ``memory_levels``)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = BAD_KINDS[i % len(BAD_KINDS)]
        if kind == "duplicate" and not memory_levels:
            kind = "unsolvable"
        if kind == "unsolvable":
            level = _unsolvable(rng)
        elif kind == "oversized":
            level = _oversized(rng, max_side)
        elif kind == "malformed":
            level = _malformed(rng)
        else:
            level = dict(memory_levels[i % len(memory_levels)])
        out.append(Proposal(level, rng.random(), f"byzantine-{i % 3}"))
    return out
