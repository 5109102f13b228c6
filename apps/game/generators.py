"""Seeded procedural level generators: cellular-automata caves, BSP rooms, a room grammar.

Each family carves a layout of walls and floor; :func:`furnish` then places the start,
the exit, locked doors with their keys, and hazards according to the difficulty. The
same ``(params, seed)`` always gives the same level (one ``numpy`` generator seeded
from both). References: caves after Johnson, Yannakakis & Togelius, *Cellular
automata for real-time generation of infinite cave levels* (PCGames 2010); rooms by
binary space partitioning (Shaker, Togelius & Nelson, *Procedural Content Generation
in Games*, ch. 3); the grammar grows a mission graph by the rule ``Room -> Room --
Room`` on a lattice (Dormans, *Adventures in level design*, 2010), with extra cycles.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from apps.game.exceptions import LevelFormatError
from apps.game.level import (
    DOOR_TILES,
    HARD_MAX_SIDE,
    KEY_TILES,
    MAX_KEYS,
    MIN_SIDE,
    GeneratorKind,
    GenParams,
    Grid,
    Level,
    Tile,
)
from apps.game.solver import solve

CAVE_STEPS = 4  # cellular-automaton smoothing iterations
HAZARD_RETRIES = 3  # times the hazard density is halved when hazards cut every route
MIN_FLOOR_CELLS = 12  # a layout with fewer reachable floor cells is re-carved

Rng = np.random.Generator


def _rng(params: GenParams, seed: int) -> Rng:
    digest = hashlib.sha256(f"{sorted(params.to_dict().items())}|{seed}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


# ---------------------------------------------------------------------------- layouts


def carve_caves(h: int, w: int, style: float, rng: Rng) -> Grid:
    """Cellular-automaton caves: random fill, then the 4-5 rule, keep the largest cave."""
    fill = 0.48 - 0.12 * style  # style 0: tight tunnels, 1: open caverns
    walls = rng.random((h, w)) < fill
    kernel = np.ones((3, 3), dtype=np.int16)
    for _ in range(CAVE_STEPS):
        n = ndimage.convolve(walls.astype(np.int16), kernel, mode="constant", cval=1)
        walls = n >= 5
    walls[0, :] = walls[-1, :] = True
    walls[:, 0] = walls[:, -1] = True
    return _largest_region(~walls)


def carve_rooms(h: int, w: int, style: float, rng: Rng) -> Grid:
    """Binary space partition: split until leaves are small, a room per leaf, corridors."""
    min_leaf = 5 + round(3 * style)  # style 1: fewer, larger rooms
    grid = np.zeros((h, w), dtype=bool)
    centers: list[tuple[int, int]] = []

    def split(y0: int, x0: int, y1: int, x1: int, depth: int) -> tuple[int, int]:
        hh, ww = y1 - y0, x1 - x0
        can_h, can_w = hh >= 2 * min_leaf, ww >= 2 * min_leaf
        if depth > 6 or not (can_h or can_w):
            ry0 = y0 + int(rng.integers(0, max(1, hh - 3) // 2 + 1))
            rx0 = x0 + int(rng.integers(0, max(1, ww - 3) // 2 + 1))
            ry1 = min(y1 - 1, ry0 + max(2, int(rng.integers(hh // 2, hh))))
            rx1 = min(x1 - 1, rx0 + max(2, int(rng.integers(ww // 2, ww))))
            grid[max(1, ry0) : min(h - 1, ry1), max(1, rx0) : min(w - 1, rx1)] = True
            c = ((max(1, ry0) + min(h - 1, ry1) - 1) // 2, (max(1, rx0) + min(w - 1, rx1) - 1) // 2)
            centers.append(c)
            return c
        horizontal = can_h and (not can_w or rng.random() < hh / (hh + ww))
        if horizontal:
            cut = int(rng.integers(y0 + min_leaf, y1 - min_leaf + 1))
            a = split(y0, x0, cut, x1, depth + 1)
            b = split(cut, x0, y1, x1, depth + 1)
        else:
            cut = int(rng.integers(x0 + min_leaf, x1 - min_leaf + 1))
            a = split(y0, x0, y1, cut, depth + 1)
            b = split(y0, cut, y1, x1, depth + 1)
        _corridor(grid, a, b, rng)
        return a if rng.random() < 0.5 else b

    split(0, 0, h, w, 0)
    grid[0, :] = grid[-1, :] = False
    grid[:, 0] = grid[:, -1] = False
    return _largest_region(grid)


def carve_grammar(h: int, w: int, style: float, rng: Rng) -> Grid:
    """A room lattice grown by ``Room -> Room -- Room``; style adds cycles and room size."""
    cell = 5 if style < 0.5 else 6
    rows, cols = max(1, (h - 1) // cell), max(1, (w - 1) // cell)
    grid = np.zeros((h, w), dtype=bool)
    placed = {(int(rng.integers(rows)), int(rng.integers(cols)))}
    frontier = list(placed)
    edges: set[tuple[tuple[int, int], tuple[int, int]]] = set()
    target = max(2, int(rows * cols * (0.75 + 0.25 * style)))
    while frontier and len(placed) < target:
        here = frontier[int(rng.integers(len(frontier)))]
        options = [
            (here[0] + dy, here[1] + dx)
            for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0))
            if 0 <= here[0] + dy < rows and 0 <= here[1] + dx < cols
        ]
        fresh = [o for o in options if o not in placed]
        if not fresh:
            frontier.remove(here)
            continue
        nxt = fresh[int(rng.integers(len(fresh)))]
        placed.add(nxt)
        frontier.append(nxt)
        edges.add((here, nxt))
    for a in placed:  # extra cycles: a second rule Room -- Room between neighbours
        for b in ((a[0] + 1, a[1]), (a[0], a[1] + 1)):
            new_edge = b in placed and (a, b) not in edges and (b, a) not in edges
            if new_edge and rng.random() < 0.35 * style:
                edges.add((a, b))
    centre: dict[tuple[int, int], tuple[int, int]] = {}
    for r, c in placed:
        y0, x0 = 1 + r * cell, 1 + c * cell
        size = cell - 1 - int(rng.integers(0, 2))
        grid[y0 : min(h - 1, y0 + size), x0 : min(w - 1, x0 + size)] = True
        centre[(r, c)] = (min(h - 2, y0 + size // 2), min(w - 2, x0 + size // 2))
    for a, b in edges:
        _corridor(grid, centre[a], centre[b], rng)
    grid[0, :] = grid[-1, :] = False
    grid[:, 0] = grid[:, -1] = False
    return _largest_region(grid)


def _corridor(grid: NDArrayBool, a: tuple[int, int], b: tuple[int, int], rng: Rng) -> None:
    (y0, x0), (y1, x1) = a, b
    if rng.random() < 0.5:
        grid[min(y0, y1) : max(y0, y1) + 1, x0] = True
        grid[y1, min(x0, x1) : max(x0, x1) + 1] = True
    else:
        grid[y0, min(x0, x1) : max(x0, x1) + 1] = True
        grid[min(y0, y1) : max(y0, y1) + 1, x1] = True


NDArrayBool = np.ndarray  # a boolean layout: True is floor


def _largest_region(floor: NDArrayBool) -> Grid:
    labels, count = ndimage.label(floor)
    out = np.zeros(floor.shape, dtype=np.uint8)
    if count:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        out[labels == int(np.argmax(sizes))] = Tile.FLOOR
    return out


CARVERS: dict[GeneratorKind, Callable[[int, int, float, Rng], Grid]] = {
    GeneratorKind.CAVES: carve_caves,
    GeneratorKind.ROOMS: carve_rooms,
    GeneratorKind.GRAMMAR: carve_grammar,
}

# ---------------------------------------------------------------------------- furnishing


def _bfs(grid: Grid, start: int, blocked: NDArrayBool) -> tuple[np.ndarray, np.ndarray]:
    h, w = grid.shape
    flat_blocked = blocked.ravel()
    dist = np.full(h * w, -1, dtype=np.int32)
    parent = np.full(h * w, -1, dtype=np.int32)
    dist[start] = 0
    q = deque([start])
    while q:
        c = q.popleft()
        y, x = divmod(c, w)
        for n in (
            c - w if y else -1,
            c + w if y < h - 1 else -1,
            c - 1 if x else -1,
            c + 1 if x < w - 1 else -1,
        ):
            if n >= 0 and dist[n] < 0 and not flat_blocked[n]:
                dist[n] = dist[c] + 1
                parent[n] = c
                q.append(n)
    return dist, parent


def _pick_at_quantile(cells: np.ndarray, dist: np.ndarray, q: float, rng: Rng) -> int:
    order = cells[np.argsort(dist[cells], kind="stable")]
    lo = int(np.clip(q - 0.15, 0.0, 1.0) * (len(order) - 1))
    hi = int(np.clip(q + 0.05, 0.0, 1.0) * (len(order) - 1))
    return int(order[int(rng.integers(lo, hi + 1))])


def furnish(layout: Grid, difficulty: float, rng: Rng) -> Grid:
    """Place start, exit, doors and keys (solvable by construction), then hazards.

    Doors go on the start-exit route, preferring corridor cells (walls on both sides)
    so they cannot be walked around; door ``i``'s key goes where it is reachable with
    doors ``0..i-1`` open and ``i..`` closed, at a distance that grows with difficulty.
    Hazards are then sprinkled on floor; if they cut every route their density is
    halved (up to ``HAZARD_RETRIES`` times) and finally dropped, so the result is
    solvable (the solver is the proof, run by the caller).
    """
    grid = layout.copy()
    h, w = grid.shape
    floor = np.flatnonzero(grid.ravel() == Tile.FLOOR)
    walls = grid == Tile.WALL
    start = int(floor[int(rng.integers(len(floor)))])
    dist, parent = _bfs(grid, start, walls)
    reach = floor[dist[floor] > 0]
    exit_ = _pick_at_quantile(reach, dist, 0.45 + 0.55 * difficulty, rng)
    route = [exit_]
    while route[-1] != start:
        route.append(int(parent[route[-1]]))
    route.reverse()
    flat = grid.ravel()
    flat[start], flat[exit_] = Tile.START, Tile.EXIT
    n_doors = int(np.clip(round(difficulty * MAX_KEYS + rng.uniform(-0.5, 0.5)), 0, MAX_KEYS))
    inner = route[2:-2]
    doors: list[int] = []
    if n_doors and len(inner) >= n_doors:
        choke = set(_cut_cells(walls, inner, start, exit_))
        idx = sorted({int(i) for i in np.linspace(0, len(inner) - 1, n_doors + 2)[1:-1]})
        for i in idx:
            # Nudge to a nearby cut cell; otherwise make a gate: wall the rest of the BFS
            # front through this cell (every route crosses each front, so it becomes a cut).
            near = [c for c in inner[max(0, i - 3) : i + 4] if c in choke and c not in doors]
            c = near[0] if near else inner[i]
            if c not in choke:
                front = np.flatnonzero(dist == dist[c])
                flat[front[front != c]] = Tile.WALL
            doors.append(c)
        walls = grid == Tile.WALL
        floor = np.flatnonzero(flat == Tile.FLOOR)
    blocked = walls.copy().ravel()
    for d in doors:
        blocked[d] = True
    taken = {start, exit_, *doors}
    for i, d in enumerate(doors):  # door i closes; doors < i are open
        for j, dj in enumerate(doors):
            blocked[dj] = j >= i
        kd, _ = _bfs(grid, start, blocked.reshape(h, w))
        cand = np.array([c for c in floor if kd[c] > 0 and c not in taken], dtype=np.int64)
        if cand.size == 0:
            doors = doors[:i]
            break
        key = _pick_at_quantile(cand, kd, 0.3 + 0.7 * difficulty, rng)
        flat[key] = KEY_TILES[i]
        flat[d] = DOOR_TILES[i]
        taken.add(key)
    free = np.array([c for c in floor if c not in taken], dtype=np.int64)
    density = 0.02 + 0.10 * difficulty
    for _ in range(HAZARD_RETRIES + 1):
        trial = flat.copy()
        k = int(density * free.size)
        if k:
            trial[rng.choice(free, size=k, replace=False)] = Tile.HAZARD
        candidate = trial.reshape(h, w)
        if solve(candidate).solvable:
            return candidate
        density /= 2
    return grid


def _cut_cells(walls: NDArrayBool, cells: list[int], start: int, exit_: int) -> list[int]:
    """The cells of ``cells`` whose blocking separates the start from the exit."""
    open_ = ~walls
    flat = open_.ravel()
    out = []
    for c in cells:
        flat[c] = False
        labels, _ = ndimage.label(open_)
        lab = labels.ravel()
        if lab[start] != lab[exit_]:
            out.append(c)
        flat[c] = True
    return out


# ---------------------------------------------------------------------------- entry point


def generate(params: GenParams, seed: int, author: str = "") -> Level:
    """Generate one level for ``params`` from ``seed`` (deterministic).

    Raises:
        LevelFormatError: a side outside ``MIN_SIDE + 3..HARD_MAX_SIDE``, a difficulty
            or style outside 0..1.
    """
    for name, side in (("width", params.width), ("height", params.height)):
        if not MIN_SIDE + 3 <= side <= HARD_MAX_SIDE:
            raise LevelFormatError(
                f"params.{name}: {side} is outside {MIN_SIDE + 3}..{HARD_MAX_SIDE}"
            )
    for name, value in (("difficulty", params.difficulty), ("style", params.style)):
        if not 0.0 <= value <= 1.0:  # also NaN
            raise LevelFormatError(f"params.{name}: {value} is outside 0..1")
    rng = _rng(params, seed)
    carve = CARVERS[params.kind]
    layout = carve(params.height, params.width, params.style, rng)
    for _ in range(5):
        if int((layout == Tile.FLOOR).sum()) >= MIN_FLOOR_CELLS:
            break
        layout = carve(params.height, params.width, params.style, rng)
    else:
        layout = np.zeros((params.height, params.width), dtype=np.uint8)
        layout[1:-1, 1:-1] = Tile.FLOOR
    grid = furnish(layout, params.difficulty, rng)
    return Level(grid=grid, params=params, seed=seed, author=author, meta={})
