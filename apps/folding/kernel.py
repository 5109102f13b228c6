"""The numba inner loop: replica-exchange Monte Carlo over HP lattice folds.

A fold is an ``(n, 3)`` int64 array of lattice coordinates (``z = 0`` in 2D); the
2D square and 3D cubic lattices share every function through ``dim`` and the
neighbour-offset table :func:`offsets`. Occupancy lives in a dense periodic grid
per replica (``L`` cells a side, ``L`` a power of two above ``n + 2``, so two
residues of one chain can never alias), holding residue index + 1 or 0.

Move set (each class is its own inverse with a state-independent proposal
probability, so Metropolis acceptance keeps detailed balance):

* pull moves (Lesh, Mitzenmacher & Whitesides 2003; Thachuk, Shmygelska & Hoos
  2007): residue ``i`` goes to a free site ``L`` next to its anchor ``i - s`` and
  diagonal to itself, ``i + s`` to the fourth corner ``C`` of that square, and the
  followers ``i + 2s, ...`` each take the old site two places ahead until the
  chain is connected again. At a chain end with no anchor (the end pull) the end
  goes to any free ``L`` two steps away through a free ``C``. The reverse of an
  internal pull that ran to the chain end is an end pull and vice versa; the
  proposal counts differ (``2d - 2`` against ``(2d)^2``), so those moves carry the
  Hastings ratio.
* local (VSHD) moves: end rotation, corner flip and crankshaft.

Energies are kept doubled (``2 *`` contacts) inside the kernel so a move's local
recount needs no division; every function here returns or stores the real energy
(-1 per non-consecutive H-H contact).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from numba import njit

# move classes, the rows of a stats table (attempted, feasible, accepted)
PULL, END_PULL, END, CORNER, CRANKSHAFT = 0, 1, 2, 3, 4
MOVE_CLASSES = ("pull", "end_pull", "end", "corner", "crankshaft")
N_CLASSES = len(MOVE_CLASSES)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def offsets(dim: int) -> IntArray:
    """The ``2 * dim`` unit steps of the lattice as rows of ``(dx, dy, dz)``: +x, -x, +y, -y(, +z, -z)."""
    if dim not in (2, 3):
        raise ValueError(f"lattice dimension {dim} is not 2 or 3")
    out = np.zeros((2 * dim, 3), dtype=np.int64)
    for a in range(dim):
        out[2 * a, a] = 1
        out[2 * a + 1, a] = -1
    return out


def grid_shape(n: int, dim: int) -> tuple[int, int]:
    """``(shift, cells)``: the grid is ``2**shift`` cells a side, ``cells`` in all."""
    shift = max(3, math.ceil(math.log2(n + 3)))
    return shift, 1 << (shift * dim)


@njit(cache=True, inline="always")
def _cell(x: int, y: int, z: int, mask: int, shift: int) -> int:
    return (x & mask) | ((y & mask) << shift) | ((z & mask) << (2 * shift))


@njit(cache=True)
def fill_grid(coords: IntArray, grid: npt.NDArray[np.int32], shift: int) -> bool:
    """Clear ``grid`` and mark every residue of ``coords``; False when two residues share a site."""
    grid[:] = 0
    mask = (1 << shift) - 1
    for k in range(coords.shape[0]):
        c = _cell(coords[k, 0], coords[k, 1], coords[k, 2], mask, shift)
        if grid[c] != 0:
            return False
        grid[c] = k + 1
    return True


@njit(cache=True)
def energy_of(
    h: npt.NDArray[np.int8],
    coords: IntArray,
    grid: npt.NDArray[np.int32],
    off: IntArray,
    shift: int,
) -> int:
    """Energy of a fold whose residues are marked in ``grid``: -1 per non-consecutive H-H contact."""
    mask = (1 << shift) - 1
    n = coords.shape[0]
    twice = 0
    for k in range(n):
        if h[k] == 0:
            continue
        for d in range(off.shape[0]):
            m = (
                grid[
                    _cell(
                        coords[k, 0] + off[d, 0],
                        coords[k, 1] + off[d, 1],
                        coords[k, 2] + off[d, 2],
                        mask,
                        shift,
                    )
                ]
                - 1
            )
            if m >= 0 and h[m] != 0 and (m > k + 1 or m < k - 1):
                twice += 1
    return -(twice // 2)


@njit(cache=True)
def _local_twice(
    h: npt.NDArray[np.int8],
    coords: IntArray,
    grid: npt.NDArray[np.int32],
    off: IntArray,
    lo: int,
    hi: int,
    mask: int,
    shift: int,
) -> int:
    """Twice the H-H contacts that involve residues ``lo..hi`` (pairs inside the range count once each way)."""
    twice = 0
    for k in range(lo, hi + 1):
        if h[k] == 0:
            continue
        x, y, z = coords[k, 0], coords[k, 1], coords[k, 2]
        for d in range(off.shape[0]):
            m = grid[_cell(x + off[d, 0], y + off[d, 1], z + off[d, 2], mask, shift)] - 1
            if m < 0 or h[m] == 0 or m == k + 1 or m == k - 1:
                continue
            twice += 1 if lo <= m <= hi else 2
    return twice


@njit(cache=True, inline="always")
def _free(grid: npt.NDArray[np.int32], x: int, y: int, z: int, mask: int, shift: int) -> bool:
    return bool(grid[_cell(x, y, z, mask, shift)] == 0)


@njit(cache=True, inline="always")
def _adjacent(p: IntArray, q: IntArray) -> bool:
    return bool(abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2]) == 1)


@njit(cache=True, inline="always")
def _axis(dx: int, dy: int, dz: int) -> int:
    if dx != 0:
        return 0
    if dy != 0:
        return 1
    return 2


@njit(cache=True)
def _follow(pos: IntArray, new: IntArray, i: int, s: int) -> tuple[int, int, bool]:
    """Pull the followers of ``i`` (``new[i]``, ``new[i + s]`` set): each takes the old site two ahead.

    Returns ``(lo, hi, ran_to_end)``, or ``lo = -1`` when the move has no valid
    reverse: the reverse pull would stop early where a moved residue lands next
    to the old site of its neighbour (checking this keeps every accepted pull
    paired with its reverse, so detailed balance holds exactly).
    """
    n = pos.shape[0]
    f = i + s
    last = f
    j = f + s
    while 0 <= j < n:
        if _adjacent(pos[j], new[j - s]):
            break
        new[j, 0], new[j, 1], new[j, 2] = pos[j - 2 * s, 0], pos[j - 2 * s, 1], pos[j - 2 * s, 2]
        last = j
        j += s
    m = last - 2 * s
    while (m - i) * s >= 0:  # the reverse pull walks back from `last` to i; it must not stop early
        if _adjacent(new[m], pos[m + s]):
            return -1, -1, False
        m -= s
    lo, hi = (i, last) if i < last else (last, i)
    return lo, hi, not (0 <= j < n)


@njit(cache=True)
def pull_move(
    pos: IntArray,
    grid: npt.NDArray[np.int32],
    off: IntArray,
    dim: int,
    new: IntArray,
    shift: int,
    i: int,
    s: int,
    k: int,
    e: int,
) -> tuple[int, int, float, int]:
    """The pull move of residue ``i`` with followers on side ``s`` (+1/-1) and choices ``k``, ``e``.

    With an anchor ``i - s`` (an internal pull), ``k`` in ``0..2d-3`` picks the
    perpendicular direction of ``L`` from the anchor (``e`` unused). At a chain end
    with no anchor (the end pull), ``k`` in ``0..2d-1`` picks ``C`` next to ``i`` and
    ``e`` in ``0..2d-1`` picks ``L`` next to ``C``. Fills ``new[lo..hi]``.

    Returns:
        ``(lo, hi, log_hastings, move_class)``; ``lo = -1`` when infeasible.
    """
    n = pos.shape[0]
    nd = 2 * dim
    mask = (1 << shift) - 1
    a = i - s
    if 0 <= a < n:  # Lesh et al. 2003: anchor a stays, i moves to L next to it and diagonal to i
        ax = _axis(pos[i, 0] - pos[a, 0], pos[i, 1] - pos[a, 1], pos[i, 2] - pos[a, 2])
        d = k if k < 2 * ax else k + 2  # a direction perpendicular to the bond a -> i
        lx, ly, lz = pos[a, 0] + off[d, 0], pos[a, 1] + off[d, 1], pos[a, 2] + off[d, 2]
        if not _free(grid, lx, ly, lz, mask, shift):
            return -1, -1, 0.0, PULL
        cx, cy, cz = pos[i, 0] + off[d, 0], pos[i, 1] + off[d, 1], pos[i, 2] + off[d, 2]
        new[i, 0], new[i, 1], new[i, 2] = lx, ly, lz
        f = i + s
        if f < 0 or f >= n or (pos[f, 0] == cx and pos[f, 1] == cy and pos[f, 2] == cz):
            return i, i, 0.0, PULL  # an end rotation or a corner flip: i alone moves
        if not _free(grid, cx, cy, cz, mask, shift):
            return -1, -1, 0.0, PULL
        new[f, 0], new[f, 1], new[f, 2] = cx, cy, cz
        lo, hi, to_end = _follow(pos, new, i, s)
        if to_end and lo >= 0:  # ran to the chain end: the reverse move is an end pull
            return lo, hi, math.log((nd - 2) / (nd * nd)), PULL
        return lo, hi, 0.0, PULL
    # the end pull: i is a chain end and its neighbour follows
    cx, cy, cz = pos[i, 0] + off[k, 0], pos[i, 1] + off[k, 1], pos[i, 2] + off[k, 2]
    if not _free(grid, cx, cy, cz, mask, shift):
        return -1, -1, 0.0, END_PULL
    lx, ly, lz = cx + off[e, 0], cy + off[e, 1], cz + off[e, 2]
    if not _free(grid, lx, ly, lz, mask, shift):
        return -1, -1, 0.0, END_PULL
    new[i, 0], new[i, 1], new[i, 2] = lx, ly, lz
    f = i + s
    new[f, 0], new[f, 1], new[f, 2] = cx, cy, cz
    lo, hi, to_end = _follow(pos, new, i, s)
    if to_end or lo < 0:  # the whole chain moved: the reverse is an end pull from the other end
        return lo, hi, 0.0, END_PULL
    return lo, hi, math.log((nd * nd) / (nd - 2)), END_PULL


@njit(cache=True)
def _propose_pull(
    pos: IntArray,
    grid: npt.NDArray[np.int32],
    off: IntArray,
    dim: int,
    new: IntArray,
    shift: int,
) -> tuple[int, int, float, int]:
    """A uniformly random pull move: residue, side, then the choices of :func:`pull_move`."""
    n = pos.shape[0]
    nd = 2 * dim
    i = np.random.randint(0, n)
    s = 1 if np.random.random() < 0.5 else -1
    if 0 <= i - s < n:
        return pull_move(pos, grid, off, dim, new, shift, i, s, np.random.randint(0, nd - 2), 0)
    k = np.random.randint(0, nd)
    return pull_move(pos, grid, off, dim, new, shift, i, s, k, np.random.randint(0, nd))


@njit(cache=True)
def _propose_local(
    pos: IntArray,
    grid: npt.NDArray[np.int32],
    off: IntArray,
    dim: int,
    new: IntArray,
    mask: int,
    shift: int,
) -> tuple[int, int, float, int]:
    """Fill ``new[lo..hi]`` with a random end, corner or crankshaft move (lo = -1 when infeasible)."""
    n = pos.shape[0]
    nd = 2 * dim
    i = np.random.randint(0, n)
    if i == 0 or i == n - 1:  # end rotation: to any free neighbour of the next residue
        b = 1 if i == 0 else n - 2
        d = np.random.randint(0, nd)
        x, y, z = pos[b, 0] + off[d, 0], pos[b, 1] + off[d, 1], pos[b, 2] + off[d, 2]
        if not _free(grid, x, y, z, mask, shift):
            return -1, -1, 0.0, END
        new[i, 0], new[i, 1], new[i, 2] = x, y, z
        return i, i, 0.0, END
    if np.random.random() < 0.5:  # corner flip to the opposite corner of the square
        x = pos[i - 1, 0] + pos[i + 1, 0] - pos[i, 0]
        y = pos[i - 1, 1] + pos[i + 1, 1] - pos[i, 1]
        z = pos[i - 1, 2] + pos[i + 1, 2] - pos[i, 2]
        if not _free(grid, x, y, z, mask, shift):  # straight (x == pos[i]) or taken
            return -1, -1, 0.0, CORNER
        new[i, 0], new[i, 1], new[i, 2] = x, y, z
        return i, i, 0.0, CORNER
    # crankshaft: i, i + 1 rotate about the axis i - 1 -> i + 2 of a U
    if i + 2 >= n or not _adjacent(pos[i - 1], pos[i + 2]):
        return -1, -1, 0.0, CRANKSHAFT
    ax = _axis(
        pos[i + 2, 0] - pos[i - 1, 0], pos[i + 2, 1] - pos[i - 1, 1], pos[i + 2, 2] - pos[i - 1, 2]
    )
    k = np.random.randint(0, nd - 2)
    d = k if k < 2 * ax else k + 2
    x, y, z = pos[i - 1, 0] + off[d, 0], pos[i - 1, 1] + off[d, 1], pos[i - 1, 2] + off[d, 2]
    u, v, w = pos[i + 2, 0] + off[d, 0], pos[i + 2, 1] + off[d, 1], pos[i + 2, 2] + off[d, 2]
    if not _free(grid, x, y, z, mask, shift) or not _free(grid, u, v, w, mask, shift):
        return -1, -1, 0.0, CRANKSHAFT
    new[i, 0], new[i, 1], new[i, 2] = x, y, z
    new[i + 1, 0], new[i + 1, 1], new[i + 1, 2] = u, v, w
    return i, i + 1, 0.0, CRANKSHAFT


@njit(cache=True)
def _place(
    pos: IntArray,
    src: IntArray,
    grid: npt.NDArray[np.int32],
    lo: int,
    hi: int,
    mask: int,
    shift: int,
) -> None:
    """Move residues ``lo..hi`` of ``pos`` to ``src[lo..hi]`` and update the grid (all clears, then all sets)."""
    for k in range(lo, hi + 1):
        grid[_cell(pos[k, 0], pos[k, 1], pos[k, 2], mask, shift)] = 0
    for k in range(lo, hi + 1):
        pos[k, 0], pos[k, 1], pos[k, 2] = src[k, 0], src[k, 1], src[k, 2]
        grid[_cell(pos[k, 0], pos[k, 1], pos[k, 2], mask, shift)] = k + 1


@njit(cache=True)
def remc(
    h: npt.NDArray[np.int8],
    dim: int,
    off: IntArray,
    shift: int,
    coords: IntArray,
    grid: npt.NDArray[np.int32],
    energy: IntArray,
    slot_of: IntArray,
    betas: FloatArray,
    steps_per_exchange: int,
    rounds: int,
    p_local: float,
    seed: int,
    best_e: IntArray,
    best_coords: IntArray,
    stats: IntArray,
    exchanges: IntArray,
    hist: IntArray,
) -> int:
    """Run ``rounds`` of (``steps_per_exchange`` moves per replica, then one exchange sweep).

    Args:
        h: 1 for H, 0 for P, per residue.
        dim: 2 or 3.
        off: :func:`offsets` of ``dim``.
        shift: log2 of the grid side (:func:`grid_shape`).
        coords: ``(R, n, 3)`` replica folds, updated in place.
        grid: ``(R, cells)`` occupancy, updated in place.
        energy: ``(R,)`` current energies, updated in place.
        slot_of: ``(R,)`` the replica at each temperature slot (slot 0 is the coldest), updated.
        betas: ``(R,)`` inverse temperature of each slot.
        steps_per_exchange: moves per replica between two exchange sweeps.
        rounds: exchange sweeps.
        p_local: share of local (end, corner, crankshaft) moves; the rest are pull moves.
        seed: seeds numba's generator for this call.
        best_e: ``(1,)`` the lowest energy seen, updated.
        best_coords: ``(n, 3)`` the fold of ``best_e``, updated.
        stats: ``(R, N_CLASSES, 3)`` per slot and move class: attempted, feasible, accepted.
        exchanges: ``(R, 2)`` per adjacent slot pair (t, t+1): attempted, accepted.
        hist: ``(R, bins)`` visits per slot of each energy ``-E`` (clamped to the last bin).

    Returns:
        The number of moves attempted.
    """
    np.random.seed(seed)
    n = coords.shape[1]
    nr = coords.shape[0]
    mask = (1 << shift) - 1
    new = np.zeros((n, 3), dtype=np.int64)
    old = np.zeros((n, 3), dtype=np.int64)
    bins = hist.shape[1]
    moves = 0
    for rnd in range(rounds):
        for t in range(nr):
            r = slot_of[t]
            pos = coords[r]
            g = grid[r]
            beta = betas[t]
            e = energy[r]
            for _ in range(steps_per_exchange):
                moves += 1
                if p_local > 0.0 and np.random.random() < p_local:
                    lo, hi, logq, cls = _propose_local(pos, g, off, dim, new, mask, shift)
                else:
                    lo, hi, logq, cls = _propose_pull(pos, g, off, dim, new, shift)
                stats[t, cls, 0] += 1
                if lo >= 0:
                    stats[t, cls, 1] += 1
                    before = _local_twice(h, pos, g, off, lo, hi, mask, shift)
                    for k in range(lo, hi + 1):
                        old[k, 0], old[k, 1], old[k, 2] = pos[k, 0], pos[k, 1], pos[k, 2]
                    _place(pos, new, g, lo, hi, mask, shift)
                    after = _local_twice(h, pos, g, off, lo, hi, mask, shift)
                    de = (before - after) // 2  # energy change (energy = -contacts)
                    x = logq - beta * de
                    if x >= 0.0 or np.random.random() < math.exp(x):
                        e += de
                        stats[t, cls, 2] += 1
                        if e < best_e[0]:
                            best_e[0] = e
                            best_coords[:, :] = pos
                    else:
                        _place(pos, old, g, lo, hi, mask, shift)
                b = -e
                hist[t, b if b < bins else bins - 1] += 1
            energy[r] = e
        # replica exchange between neighbouring temperatures, even pairs then odd pairs
        for t in range(rnd % 2, nr - 1, 2):
            ra, rb = slot_of[t], slot_of[t + 1]
            exchanges[t, 0] += 1
            x = (betas[t] - betas[t + 1]) * (energy[ra] - energy[rb])
            if x >= 0.0 or np.random.random() < math.exp(x):
                slot_of[t], slot_of[t + 1] = rb, ra
                exchanges[t, 1] += 1
    return moves
