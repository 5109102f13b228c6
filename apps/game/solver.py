"""The solver: breadth-first search over (position, keys held) proves a level solvable and rates it.

States are ``(cell, key mask)``; a move goes to one of the four neighbours unless it
is a wall, a hazard or a door whose key is not held; stepping on a key adds it to the
mask. BFS gives the shortest solution (Russell & Norvig, AIMA §3.4.1); the number of
states is at most ``cells * 2**MAX_KEYS``. Difficulty combines what the search finds:
the solution's length against the grid, the doors it must open, the detour the keys
force (shortest path with every door open vs. the real one), and hazard exposure
(solution steps next to a hazard).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from apps.game.exceptions import LevelFormatError
from apps.game.level import DOOR_TILES, KEY_TILES, MAX_KEYS, Grid, Tile, find

# Weights of the difficulty score's four terms (they sum to 1).
W_LENGTH = 0.30
W_DOORS = 0.30
W_HAZARD = 0.20
W_DETOUR = 0.20
LENGTH_SCALE = 1.0  # a solution of LENGTH_SCALE * (width + height) steps counts as long


@dataclass(frozen=True, slots=True)
class Solution:
    """What the solver found.

    Attributes:
        solvable: the exit is reachable from the start.
        length: steps of the shortest solution (0 if unsolvable).
        path: the cells ``(row, col)`` of that solution, start to exit.
        states_explored: BFS states visited.
        doors_opened: doors the solution walks through.
        keys_collected: keys picked up along the solution.
        branching: mean open neighbours (other than where it came from) along the path.
        hazard_exposure: share of solution steps next to a hazard, 0..1.
        detour: 1 - (shortest path with every door open) / length, 0..1.
        difficulty: the combined score, 0..1.
        reason: why it is unsolvable (empty if solvable).
    """

    solvable: bool
    length: int = 0
    path: tuple[tuple[int, int], ...] = field(default=(), repr=False)
    states_explored: int = 0
    doors_opened: int = 0
    keys_collected: int = 0
    branching: float = 0.0
    hazard_exposure: float = 0.0
    detour: float = 0.0
    difficulty: float = 0.0
    reason: str = ""

    def metrics(self) -> dict[str, float | int | bool]:
        """The numbers, for the world document and tables."""
        return {
            "solvable": self.solvable,
            "length": self.length,
            "states": self.states_explored,
            "doors": self.doors_opened,
            "keys": self.keys_collected,
            "branching": round(self.branching, 3),
            "hazard_exposure": round(self.hazard_exposure, 3),
            "detour": round(self.detour, 3),
            "difficulty": round(self.difficulty, 4),
        }


def _endpoints(grid: Grid) -> tuple[int, int]:
    starts, exits = find(grid, Tile.START), find(grid, Tile.EXIT)
    if len(starts) != 1:
        raise LevelFormatError(f"a level needs exactly one start 'S', found {len(starts)}")
    if len(exits) != 1:
        raise LevelFormatError(f"a level needs exactly one exit 'E', found {len(exits)}")
    w = grid.shape[1]
    return starts[0][0] * w + starts[0][1], exits[0][0] * w + exits[0][1]


def _neighbours(h: int, w: int) -> list[list[int]]:
    out: list[list[int]] = []
    for y in range(h):
        for x in range(w):
            n = []
            if y > 0:
                n.append((y - 1) * w + x)
            if y < h - 1:
                n.append((y + 1) * w + x)
            if x > 0:
                n.append(y * w + x - 1)
            if x < w - 1:
                n.append(y * w + x + 1)
            out.append(n)
    return out


def shortest_open_path(grid: Grid) -> int:
    """Steps from start to exit with every door open (-1 if even that is impossible)."""
    h, w = grid.shape
    start, goal = _endpoints(grid)
    flat = grid.ravel()
    blocked = (flat == Tile.WALL) | (flat == Tile.HAZARD)
    nbrs = _neighbours(h, w)
    dist = np.full(h * w, -1, dtype=np.int32)
    dist[start] = 0
    q = deque([start])
    while q:
        c = q.popleft()
        if c == goal:
            return int(dist[c])
        for n in nbrs[c]:
            if dist[n] < 0 and not blocked[n]:
                dist[n] = dist[c] + 1
                q.append(n)
    return -1


def solve(grid: Grid) -> Solution:
    """Solve ``grid`` by BFS over (cell, keys held).

    Raises:
        LevelFormatError: not exactly one start and one exit.
    """
    h, w = grid.shape
    start, goal = _endpoints(grid)
    flat = [int(t) for t in grid.ravel()]
    nbrs = _neighbours(h, w)
    key_bit = {int(t): 1 << i for i, t in enumerate(KEY_TILES)}
    door_bit = {int(t): 1 << i for i, t in enumerate(DOOR_TILES)}
    wall, hazard = int(Tile.WALL), int(Tile.HAZARD)
    n_masks = 1 << MAX_KEYS
    parent = np.full(h * w * n_masks, -2, dtype=np.int64)  # -2 unseen, -1 root
    s0 = start * n_masks + key_bit.get(flat[start], 0)
    parent[s0] = -1
    q = deque([s0])
    explored = 0
    found = -1
    while q:
        s = q.popleft()
        explored += 1
        cell, mask = divmod(s, n_masks)
        if cell == goal:
            found = s
            break
        for n in nbrs[cell]:
            t = flat[n]
            if t in (wall, hazard):
                continue
            bit = door_bit.get(t)
            if bit is not None and not mask & bit:
                continue
            m2 = mask | key_bit.get(t, 0)
            s2 = n * n_masks + m2
            if parent[s2] == -2:
                parent[s2] = s
                q.append(s2)
    if found < 0:
        return Solution(False, states_explored=explored, reason="the exit is unreachable")
    states = []
    s = found
    while s >= 0:
        states.append(s)
        s = int(parent[s])
    states.reverse()
    cells = [st // n_masks for st in states]
    path = tuple(divmod(c, w) for c in cells)
    length = len(cells) - 1
    doors = sum(1 for c in cells if flat[c] in door_bit)
    keys = bin(found % n_masks).count("1")
    near_hazard = np.zeros(h * w, dtype=bool)
    for c in range(h * w):
        if flat[c] == hazard:
            for n in nbrs[c]:
                near_hazard[n] = True
    exposure = float(np.mean([near_hazard[c] for c in cells[1:]])) if length else 0.0
    open_moves = []
    for i, c in enumerate(cells[:-1]):
        prev = cells[i - 1] if i else -1
        open_moves.append(
            sum(1 for n in nbrs[c] if n != prev and flat[n] != wall and flat[n] != hazard)
        )
    branching = float(np.mean(open_moves)) if open_moves else 0.0
    direct = shortest_open_path(grid)
    detour = 1.0 - direct / length if length and direct > 0 else 0.0
    return Solution(
        True,
        length=length,
        path=path,
        states_explored=explored,
        doors_opened=doors,
        keys_collected=keys,
        branching=branching,
        hazard_exposure=exposure,
        detour=detour,
        difficulty=difficulty_score(length, h, w, doors, exposure, detour),
    )


def difficulty_score(
    length: int, height: int, width: int, doors: int, exposure: float, detour: float
) -> float:
    """The combined difficulty in 0..1 (see the module docstring)."""
    a = min(1.0, length / (LENGTH_SCALE * (width + height)))
    b = min(1.0, doors / MAX_KEYS)
    c = min(1.0, 2.0 * exposure)
    d = min(1.0, max(0.0, detour) * 2.5)
    return W_LENGTH * a + W_DOORS * b + W_HAZARD * c + W_DETOUR * d
