"""The move set keeps folds valid (property tests, 2D and 3D) and pairs every pull with its reverse."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.folding import kernel as K
from apps.folding.lattice import check_fold
from apps.folding.search import h_mask
from tests.folding.helpers import random_fold


def _run(
    hp: str, dim: int, coords: np.ndarray, seed: int, moves: int, p_local: float
) -> tuple[np.ndarray, int]:
    n = len(hp)
    shift, cells = K.grid_shape(n, dim)
    c = coords[None].copy()
    grid = np.zeros((1, cells), dtype=np.int32)
    assert K.fill_grid(c[0], grid[0], shift)
    off = K.offsets(dim)
    h = h_mask(hp)
    energy = np.array([K.energy_of(h, c[0], grid[0], off, shift)], dtype=np.int64)
    K.remc(
        h, dim, off, shift, c, grid, energy, np.zeros(1, dtype=np.int64), np.array([1.0 / 0.6]),
        moves, 1, p_local, seed, np.zeros(1, dtype=np.int64), c[0].copy(),
        np.zeros((1, K.N_CLASSES, 3), dtype=np.int64), np.zeros((1, 2), dtype=np.int64),
        np.zeros((1, 64), dtype=np.int64),
    )  # fmt: skip
    # the grid must still mark exactly the chain
    check = np.zeros_like(grid[0])
    assert K.fill_grid(c[0], check, shift)
    assert np.array_equal(check, grid[0])
    return c[0], int(energy[0])


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 40),
    dim=st.sampled_from([2, 3]),
    seed=st.integers(0, 2**31 - 2),
    p_local=st.sampled_from([0.0, 0.3, 1.0]),
    moves=st.integers(1, 3000),
    hp_bits=st.integers(0, 2**40 - 1),
)
def test_random_move_sequences_keep_chains_valid(
    n: int, dim: int, seed: int, p_local: float, moves: int, hp_bits: int
) -> None:
    hp = "".join("H" if hp_bits >> k & 1 else "P" for k in range(n))
    start = random_fold(n, dim, np.random.default_rng(seed))
    coords, energy = _run(hp, dim, start, seed, moves, p_local)
    chk = check_fold(hp, coords.tolist(), dim)
    assert chk.valid, chk.reason
    assert chk.energy == energy  # the kernel's incremental energy never drifts
    if dim == 2:
        assert not coords[:, 2].any()


def _walks(n: int, dim: int) -> list[tuple[tuple[int, int, int], ...]]:
    off = [tuple(r) for r in K.offsets(dim).tolist()]
    out = []

    def grow(path: list[tuple[int, int, int]]) -> None:
        if len(path) == n:
            out.append(tuple(path))
            return
        x, y, z = path[-1]
        for a, b, c in off:
            p = (x + a, y + b, z + c)
            if p not in path:
                grow([*path, p])

    grow([(0, 0, 0)])
    return out


def _norm(c: np.ndarray) -> tuple[tuple[int, int, int], ...]:
    c = c - c[0]
    return tuple((int(a), int(b), int(d)) for a, b, d in c.tolist())


def _pull_transitions(n: int, dim: int) -> dict[tuple[object, object], float]:
    """Every pull proposal from every fold: transition probability at a flat energy (beta = 0)."""
    nd = 2 * dim
    shift, cells = K.grid_shape(n, dim)
    off = K.offsets(dim)
    trans: dict[tuple[object, object], float] = defaultdict(float)
    for walk in _walks(n, dim):
        pos = np.asarray(walk, dtype=np.int64)
        grid = np.zeros(cells, dtype=np.int32)
        K.fill_grid(pos, grid, shift)
        for i in range(n):
            for s in (1, -1):
                internal = 0 <= i - s < n
                choices = (
                    [(k, 0) for k in range(nd - 2)]
                    if internal
                    else [(k, e) for k in range(nd) for e in range(nd)]
                )
                for k, e in choices:
                    new = pos.copy()
                    lo, hi, logq, _ = K.pull_move(pos, grid, off, dim, new, shift, i, s, k, e)
                    if lo < 0:
                        continue
                    y = pos.copy()
                    y[lo : hi + 1] = new[lo : hi + 1]
                    assert check_fold("P" * n, y.tolist(), dim).valid
                    q = 1.0 / (2 * n) / len(choices)
                    trans[(walk, _norm(y))] += q * min(1.0, math.exp(logq))
    return trans


def test_pull_moves_satisfy_detailed_balance_exhaustively_2d() -> None:
    trans = _pull_transitions(6, 2)
    assert len(trans) > 1000
    for (x, y), p in trans.items():
        if x != y:
            assert math.isclose(trans.get((y, x), 0.0), p, rel_tol=1e-9), (x, y)


def test_pull_moves_satisfy_detailed_balance_exhaustively_3d() -> None:
    trans = _pull_transitions(5, 3)
    assert len(trans) > 1000
    for (x, y), p in trans.items():
        if x != y:
            assert math.isclose(trans.get((y, x), 0.0), p, rel_tol=1e-9), (x, y)


def test_pull_moves_reach_every_fold_of_a_short_chain() -> None:
    # ergodicity on a 6-mer: the pull-move graph over folds (mod translation) is connected
    trans = _pull_transitions(6, 2)
    graph: dict[object, set[object]] = defaultdict(set)
    for x, y in trans:
        graph[x].add(y)
    start = next(iter(graph))
    seen = {start}
    todo = [start]
    while todo:
        for y in graph[todo.pop()]:
            if y not in seen:
                seen.add(y)
                todo.append(y)
    assert len(seen) == len(_walks(6, 2))
