"""Per-residue consensus of the agents' lowest-energy folds, in the form that fits a lattice.

Folds of one chain differ by rotations, reflections and translations, so sites
cannot be compared; contacts can. For each residue, the agreement is the share
of the agents' folds in which that residue has exactly the same set of
topological contacts as in the final fold (a contact-map consensus).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from apps.folding.lattice import all_contacts


@dataclass(frozen=True, slots=True)
class ContactConsensus:
    """The contact-map consensus of ``folds`` folds against the final one.

    Attributes:
        per_residue: for each residue, the share of folds agreeing on its contacts.
        contact_share: for each contact of the final fold, the share of folds that have it.
        folds: how many folds were compared.
    """

    per_residue: list[float]
    contact_share: dict[tuple[int, int], float]
    folds: int

    @property
    def mean(self) -> float:
        """Mean per-residue agreement."""
        return sum(self.per_residue) / len(self.per_residue) if self.per_residue else 0.0


def _by_residue(n: int, contacts: set[tuple[int, int]]) -> list[frozenset[int]]:
    out: list[set[int]] = [set() for _ in range(n)]
    for i, j in contacts:
        out[i].add(j)
        out[j].add(i)
    return [frozenset(s) for s in out]


def contact_consensus(
    final: Sequence[Sequence[int]], folds: Sequence[Sequence[Sequence[int]]]
) -> ContactConsensus:
    """Compare every fold's contacts with the final fold's, residue by residue (folds must be valid)."""
    n = len(final)
    ref_contacts = all_contacts(final)
    ref = _by_residue(n, ref_contacts)
    agree = [0] * n
    have: dict[tuple[int, int], int] = dict.fromkeys(ref_contacts, 0)
    for fold in folds:
        cs = all_contacts(fold)
        mine = _by_residue(n, cs)
        for i in range(n):
            agree[i] += mine[i] == ref[i]
        for c in cs & ref_contacts:
            have[c] += 1
    k = max(len(folds), 1)
    return ContactConsensus(
        per_residue=[a / k for a in agree],
        contact_share={c: v / k for c, v in sorted(have.items())},
        folds=len(folds),
    )
