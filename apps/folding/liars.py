"""Byzantine folding agents: what a lying agent reports (for injection in runs, tests and the bench).

Three kinds of lie, each tempting (it claims an energy below the honest best):
a real fold with a false energy, a self-crossing walk, and a fold of another
sequence. They are rejected by the replicas' own re-scoring, never by trusting
who sent them.
"""

from __future__ import annotations

import random
from enum import StrEnum

from apps.folding.agree import Candidate
from apps.folding.lattice import check_fold

STEPS = {
    2: [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0)],
    3: [(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)],
}


class Lie(StrEnum):
    """The kinds of lie a Byzantine agent tells."""

    FALSE_ENERGY = "false_energy"
    SELF_CROSSING = "self_crossing"
    OTHER_SEQUENCE = "other_sequence"


LIES = tuple(Lie)


def crossing_walk(n: int, dim: int, rng: random.Random) -> list[list[int]]:
    """A connected walk of ``n`` sites that visits some site twice (n >= 3)."""
    while True:
        pos = [(0, 0, 0)]
        for _ in range(n - 1):
            dx, dy, dz = rng.choice(STEPS[dim])
            x, y, z = pos[-1]
            pos.append((x + dx, y + dy, z + dz))
        if len(set(pos)) < n:
            return [list(p) for p in pos]


def lie(
    kind: Lie | str,
    agent: str,
    hp: str,
    dim: int,
    honest: list[list[int]],
    honest_energy: int,
    rng: random.Random,
) -> Candidate:
    """A lying candidate of ``kind`` that claims to beat ``honest_energy``.

    Args:
        kind: which lie.
        agent: the liar's name.
        hp: the run's sequence.
        dim: 2 or 3.
        honest: a valid fold of ``hp`` (the liar starts from a real fold).
        honest_energy: its true energy.
        rng: the liar's generator.
    """
    k = Lie(kind)
    better = honest_energy - rng.randint(1, 3)
    if k is Lie.FALSE_ENERGY:
        return Candidate(agent, [list(c) for c in honest], better, hp)
    if k is Lie.SELF_CROSSING:
        return Candidate(agent, crossing_walk(len(hp), dim, rng), better, hp)
    # a valid fold of another sequence, with that sequence's true energy
    other = "".join("H" if c == "P" else "P" for c in hp) if rng.random() < 0.5 else "H" * len(hp)
    chk = check_fold(other, honest, dim)
    energy = chk.energy if chk.energy is not None else better
    return Candidate(agent, [list(c) for c in honest], min(energy, better), other)
