"""Energy and validity of hand-made folds, re-scored independently; the kernel agrees on random folds."""

from __future__ import annotations

import numpy as np
import pytest

from apps.folding.lattice import all_contacts, check_fold, contact_pairs
from tests.folding.helpers import kernel_energy, random_fold


def test_square_of_four_h_has_one_contact() -> None:
    chk = check_fold("HHHH", [(0, 0), (1, 0), (1, 1), (0, 1)], 2)
    assert chk.valid and chk.energy == -1


def test_consecutive_neighbours_never_count() -> None:
    chk = check_fold("HHH", [(0, 0), (1, 0), (2, 0)], 2)
    assert chk.valid and chk.energy == 0


def test_p_residues_never_count() -> None:
    assert check_fold("HPPP", [(0, 0), (1, 0), (1, 1), (0, 1)], 2).energy == 0
    assert check_fold("PHHP", [(0, 0), (1, 0), (1, 1), (0, 1)], 2).energy == 0


def test_u_turn_six_mer_two_contacts() -> None:
    # H H H / H H H folded as a 2x3 block: contacts (0,5) and (1,4)... and (2,3) is a bond
    coords = [(0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (0, 1)]
    chk = check_fold("HHHHHH", coords, 2)
    assert chk.valid and chk.energy == -2
    assert contact_pairs("HHHHHH", coords) == {(0, 5), (1, 4)}


def test_self_crossing_is_invalid_and_names_residues() -> None:
    chk = check_fold("HHHHH", [(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)], 2)
    assert not chk.valid and chk.energy is None
    assert "residues 0 and 4 share site" in chk.reason


def test_revisiting_the_previous_site_is_a_crossing() -> None:
    chk = check_fold("HPH", [(0, 0), (1, 0), (0, 0)], 2)
    assert not chk.valid and "share site" in chk.reason


def test_diagonal_step_is_disconnected() -> None:
    chk = check_fold("HPH", [(0, 0), (1, 1), (2, 1)], 2)
    assert not chk.valid and "residues 0 and 1 are not lattice neighbours" in chk.reason


def test_long_jump_is_disconnected() -> None:
    chk = check_fold("HPHP", [(0, 0), (1, 0), (3, 0), (4, 0)], 2)
    assert not chk.valid and "residues 1 and 2" in chk.reason


def test_z_on_a_square_lattice_is_rejected() -> None:
    chk = check_fold("HPH", [(0, 0, 0), (1, 0, 0), (1, 0, 1)], 2)
    assert not chk.valid and "z = 1" in chk.reason


def test_3d_contact_across_layers() -> None:
    # a 2x2x2 cube walk: H at every corner
    coords = [
        (0, 0, 0),
        (1, 0, 0),
        (1, 1, 0),
        (0, 1, 0),
        (0, 1, 1),
        (1, 1, 1),
        (1, 0, 1),
        (0, 0, 1),
    ]
    chk = check_fold("H" * 8, coords, 3)
    # 12 cube edges, 7 are bonds: 5 contacts
    assert chk.valid and chk.energy == -5
    assert len(all_contacts(coords)) == 5


def test_wrong_length_and_non_integers() -> None:
    assert "3 sites for a sequence of 4" in check_fold("HHHH", [(0, 0), (1, 0), (2, 0)], 2).reason
    assert "not lattice points" in check_fold("HHH", [(0, 0), (1, 0), (1.5, 0)], 2).reason
    assert "not integers" in check_fold("HHH", [(0, 0), (1, 0), ("a", 0)], 2).reason  # type: ignore[list-item]


@pytest.mark.parametrize("dim", [2, 3])
def test_kernel_energy_matches_independent_rescoring(dim: int) -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(4, 40))
        hp = "".join(rng.choice(["H", "P"], size=n))
        coords = random_fold(n, dim, rng)
        chk = check_fold(hp, coords.tolist(), dim)
        assert chk.valid
        assert kernel_energy(hp, coords, dim) == chk.energy
