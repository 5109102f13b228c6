"""Exact enumeration of every fold of a short chain: the reference a sampler is checked against.

Folds are counted up to translation only (rotations and reflections are distinct
states, as they are for the Monte Carlo chain), so the Boltzmann distribution of
energies at temperature ``T`` is ``g(E) exp(-E / T) / Z`` with ``g`` from
:func:`density_of_states`.
"""

from __future__ import annotations

import math

from apps.folding.exceptions import SequenceError

MAX_EXACT_LENGTH = {2: 14, 3: 9}  # residues; beyond this enumeration takes too long here


def density_of_states(hp: str, dim: int = 2) -> dict[int, int]:
    """How many folds (self-avoiding walks from the origin) of ``hp`` have each energy.

    Raises:
        SequenceError: the chain is too long to enumerate (see ``MAX_EXACT_LENGTH``).
    """
    n = len(hp)
    if dim not in MAX_EXACT_LENGTH:
        raise SequenceError(f"lattice dimension {dim} is not 2 or 3")
    if not 1 <= n <= MAX_EXACT_LENGTH[dim]:
        raise SequenceError(
            f"exact enumeration takes 1 to {MAX_EXACT_LENGTH[dim]} residues in {dim}D, got {n}"
        )
    steps = [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)][: 2 * dim]
    h = [c == "H" for c in hp]
    where: dict[tuple[int, int, int], int] = {(0, 0, 0): 0}
    path = [(0, 0, 0)]
    counts: dict[int, int] = {}

    def grow(k: int, contacts: int) -> None:
        if k == n:
            counts[-contacts] = counts.get(-contacts, 0) + 1
            return
        x, y, z = path[-1]
        for dx, dy, dz in steps:
            p = (x + dx, y + dy, z + dz)
            if p in where:
                continue
            gained = 0
            if h[k]:
                for ex, ey, ez in steps:
                    m = where.get((p[0] + ex, p[1] + ey, p[2] + ez))
                    if m is not None and m != k - 1 and h[m]:
                        gained += 1
            where[p] = k
            path.append(p)
            grow(k + 1, contacts + gained)
            path.pop()
            del where[p]

    grow(1, 0)
    return counts


def boltzmann(dos: dict[int, int], temperature: float) -> dict[int, float]:
    """The probability of each energy at ``temperature`` given a density of states."""
    emin = min(dos)
    w = {e: g * math.exp(-(e - emin) / temperature) for e, g in dos.items()}
    z = sum(w.values())
    return {e: v / z for e, v in sorted(w.items())}
