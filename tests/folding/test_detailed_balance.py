"""REMC samples the Boltzmann distribution: energies at each temperature match exact enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from apps.folding import kernel as K
from apps.folding.exact import boltzmann, density_of_states
from apps.folding.exceptions import SequenceError
from apps.folding.search import h_mask, straight

HP = "HPHPPHHPHH"  # 10 residues: its 16,268 folds (up to translation) are enumerated exactly
TEMPS = (0.5, 0.8, 1.2, 2.0)
TOLERANCE_TV = 0.02  # total variation distance allowed (measured ~0.002 at this sample size)


def _sample(
    hp: str, temps: tuple[float, ...], rounds: int, seed: int, p_local: float
) -> np.ndarray:
    n, dim, reps = len(hp), 2, len(temps)
    shift, cells = K.grid_shape(n, dim)
    coords = np.repeat(straight(n)[None], reps, axis=0)
    grid = np.zeros((reps, cells), dtype=np.int32)
    for r in range(reps):
        K.fill_grid(coords[r], grid[r], shift)
    args = (
        h_mask(hp), dim, K.offsets(dim), shift, coords, grid, np.zeros(reps, dtype=np.int64),
        np.arange(reps, dtype=np.int64), 1.0 / np.asarray(temps), 100,
    )  # fmt: skip
    tail = (
        np.zeros(1, dtype=np.int64),
        straight(n),
        np.zeros((reps, K.N_CLASSES, 3), dtype=np.int64),
        np.zeros((reps, 2), dtype=np.int64),
    )
    K.remc(*args, 500, p_local, seed, *tail, np.zeros((reps, 40), dtype=np.int64))  # burn-in
    hist = np.zeros((reps, 40), dtype=np.int64)
    K.remc(*args, rounds, p_local, seed + 1, *tail, hist)
    return hist


def _tv(hist_row: np.ndarray, exact: dict[int, float]) -> float:
    tot = hist_row.sum()
    return 0.5 * sum(abs(hist_row[-e] / tot - p) for e, p in exact.items()) + 0.5 * (
        hist_row[[b for b in range(len(hist_row)) if -b not in exact]].sum() / tot
    )


@pytest.mark.parametrize("p_local", [0.0, 0.1])
def test_sampled_energies_match_exact_enumeration(p_local: float) -> None:
    dos = density_of_states(HP)
    assert sum(dos.values()) == 16_268  # c_9 of the square lattice: the enumeration is complete
    hist = _sample(HP, TEMPS, 12_000, seed=11, p_local=p_local)
    for t, temp in enumerate(TEMPS):
        tv = _tv(hist[t], boltzmann(dos, temp))
        assert tv < TOLERANCE_TV, f"T={temp}: total variation {tv:.4f}"


def test_the_comparison_can_fail_at_the_wrong_temperature() -> None:
    dos = density_of_states(HP)
    hist = _sample(HP, TEMPS, 5_000, seed=3, p_local=0.1)
    assert _tv(hist[0], boltzmann(dos, 0.7)) > 3 * TOLERANCE_TV


def test_exact_enumeration_counts_and_limits() -> None:
    assert sum(density_of_states("HPPH", 3).values()) == 150  # c_3 of the cubic lattice
    assert density_of_states("HPPH", 2) == {0: 28, -1: 8}  # 36 walks, 8 close the square
    p = boltzmann({0: 3, -1: 1}, 1.0)
    assert abs(sum(p.values()) - 1) < 1e-12 and p[-1] > 0.25
    with pytest.raises(SequenceError, match="1 to 14 residues in 2D, got 15"):
        density_of_states("H" * 15, 2)
