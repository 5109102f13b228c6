"""Records passed between the steps: one method's lagged edges, the consensus, effects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

METHODS: tuple[str, ...] = ("granger", "te", "pcmci", "varlingam", "pcmci_robust")


@dataclass(slots=True)
class MethodResult:
    """What one discovery method says about every lagged link.

    Arrays have shape (max_lag, n, n); index ``[tau-1, j, i]`` is the link from series j
    at t-tau to series i at t. Own lags (j == i) are modelled but never reported as edges.

    Attributes:
        method: the method's name.
        edges: the links the method itself accepts (its own test and threshold).
        strength: evidence for each link, higher is stronger (``-log10 p`` for tests,
            ``|coefficient|`` for VARLiNGAM); 0 where the method says nothing.
        pvalue: p-values where the method has them (None otherwise).
        wall_s: how long the method ran.
        abstained: the method did not run on this data (e.g. its assumptions fail); its
            voter abstains. ``note`` says why.
        note: details (chosen lag order, assumption checks, errors).
    """

    method: str
    edges: BoolArray
    strength: FloatArray
    pvalue: FloatArray | None = None
    wall_s: float = 0.0
    abstained: bool = False
    note: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def max_lag(self) -> int:
        """Largest lag covered."""
        return int(self.edges.shape[0])

    @property
    def n(self) -> int:
        """Number of series."""
        return int(self.edges.shape[1])


def cross_mask(max_lag: int, n: int) -> BoolArray:
    """True for every cross-series lagged link (j != i) of shape (max_lag, n, n)."""
    mask = np.ones((max_lag, n, n), dtype=bool)
    for tau in range(max_lag):
        np.fill_diagonal(mask[tau], False)
    return mask


def empty_result(method: str, max_lag: int, n: int, note: str, wall_s: float = 0.0) -> MethodResult:
    """An abstaining result: no edges, no evidence, with the reason."""
    shape = (max_lag, n, n)
    return MethodResult(
        method=method,
        edges=np.zeros(shape, dtype=bool),
        strength=np.zeros(shape),
        wall_s=wall_s,
        abstained=True,
        note=note,
    )
