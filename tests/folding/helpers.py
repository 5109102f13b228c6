"""Shared helpers of the folding tests."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from apps.folding import kernel as K
from apps.folding.search import h_mask

BENCH_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "hp_benchmarks.csv"


def benchmarks() -> list[dict[str, str]]:
    """The eight 2D benchmark rows (id, length, best_known_energy, sequence)."""
    with BENCH_CSV.open() as fh:
        return list(csv.DictReader(fh))


def random_fold(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """A random self-avoiding walk of ``n`` sites grown with restarts."""
    off = K.offsets(dim)
    while True:
        pos = [(0, 0, 0)]
        seen = {pos[0]}
        for _ in range(n - 1):
            x, y, z = pos[-1]
            free = [
                (x + a, y + b, z + c)
                for a, b, c in off.tolist()
                if (x + a, y + b, z + c) not in seen
            ]
            if not free:
                break
            p = free[int(rng.integers(len(free)))]
            pos.append(p)
            seen.add(p)
        if len(pos) == n:
            return np.asarray(pos, dtype=np.int64)


def kernel_energy(hp: str, coords: np.ndarray, dim: int) -> int:
    """The kernel's energy of a fold."""
    shift, cells = K.grid_shape(len(hp), dim)
    grid = np.zeros(cells, dtype=np.int32)
    assert K.fill_grid(coords, grid, shift)
    return int(K.energy_of(h_mask(hp), coords, grid, K.offsets(dim), shift))
