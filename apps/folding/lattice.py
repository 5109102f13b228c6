"""Checking a fold from scratch: connectivity, self-avoidance and energy in plain Python.

This is deliberately independent of the numba kernel (no shared code, no grid):
the PBFT replicas and the tests use it to re-score every candidate a folding agent
reports, so a bug or a lie in the search cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Coord = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class FoldCheck:
    """What an independent re-scoring found.

    Attributes:
        valid: connected, self-avoiding, on the lattice, one site per residue.
        energy: -1 per non-consecutive H-H contact (None when invalid).
        reason: why it is invalid ("" when valid), naming the residue.
    """

    valid: bool
    energy: int | None
    reason: str = ""


def _as_coords(coords: Sequence[Sequence[int]], dim: int) -> list[Coord] | str:
    out: list[Coord] = []
    for k, c in enumerate(coords):
        if len(c) not in (dim, 3):
            return f"residue {k}: {len(c)} coordinates on a {dim}D lattice"
        try:
            t = tuple(int(v) for v in c)
        except (TypeError, ValueError):
            return f"residue {k}: coordinates {list(c)!r} are not integers"
        if any(float(v) != t[j] for j, v in enumerate(c)):
            return f"residue {k}: coordinates {list(c)!r} are not lattice points"
        if len(t) == 2:
            t = (t[0], t[1], 0)
        if dim == 2 and t[2] != 0:
            return f"residue {k}: z = {t[2]} on a 2D lattice"
        out.append((t[0], t[1], t[2]))
    return out


def check_fold(hp: str, coords: Sequence[Sequence[int]], dim: int) -> FoldCheck:
    """Re-score ``coords`` as a fold of the HP string ``hp`` on the ``dim``-D lattice.

    Args:
        hp: the sequence as ``H``/``P`` letters.
        coords: one ``(x, y)`` or ``(x, y, z)`` integer site per residue.
        dim: 2 (square lattice) or 3 (cubic lattice).

    Returns:
        Validity, the energy it recomputed, and the first problem found.
    """
    if dim not in (2, 3):
        return FoldCheck(False, None, f"lattice dimension {dim} is not 2 or 3")
    if len(coords) != len(hp):
        return FoldCheck(False, None, f"{len(coords)} sites for a sequence of {len(hp)} residues")
    pts = _as_coords(coords, dim)
    if isinstance(pts, str):
        return FoldCheck(False, None, pts)
    where: dict[Coord, int] = {}
    for k, p in enumerate(pts):
        if p in where:
            return FoldCheck(False, None, f"residues {where[p]} and {k} share site {p}")
        where[p] = k
        if k and sum(abs(a - b) for a, b in zip(p, pts[k - 1], strict=True)) != 1:
            return FoldCheck(False, None, f"residues {k - 1} and {k} are not lattice neighbours")
    contacts = 0
    for k, (x, y, z) in enumerate(pts):
        if hp[k] != "H":
            continue
        for q in ((x + 1, y, z), (x, y + 1, z), (x, y, z + 1)):
            m = where.get(q)
            if m is not None and hp[m] == "H" and abs(m - k) > 1:
                contacts += 1
    return FoldCheck(True, -contacts, "")


def contact_pairs(hp: str, coords: Sequence[Sequence[int]]) -> set[tuple[int, int]]:
    """The H-H topological contacts ``(i, j)``, ``i < j - 1``, of a valid fold."""
    where = {tuple(int(v) for v in c[:3]) + (0,) * (3 - len(c)): k for k, c in enumerate(coords)}
    out: set[tuple[int, int]] = set()
    for (x, y, z), k in where.items():
        for q in ((x + 1, y, z), (x, y + 1, z), (x, y, z + 1)):
            m = where.get(q)
            if m is not None and abs(m - k) > 1 and hp[k] == "H" and hp[m] == "H":
                out.add((min(k, m), max(k, m)))
    return out


def all_contacts(coords: Sequence[Sequence[int]]) -> set[tuple[int, int]]:
    """Every topological contact ``(i, j)``, ``i < j - 1`` (any residue types) of a valid fold."""
    where = {tuple(int(v) for v in c[:3]) + (0,) * (3 - len(c)): k for k, c in enumerate(coords)}
    out: set[tuple[int, int]] = set()
    for (x, y, z), k in where.items():
        for q in ((x + 1, y, z), (x, y + 1, z), (x, y, z + 1)):
            m = where.get(q)
            if m is not None and abs(m - k) > 1:
                out.add((min(k, m), max(k, m)))
    return out
