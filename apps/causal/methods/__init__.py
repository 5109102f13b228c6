"""The discovery methods (five voters); each returns a :class:`~apps.causal.records.MethodResult`."""

from __future__ import annotations

from collections.abc import Callable

from apps.causal.methods.granger import granger
from apps.causal.methods.pcmci import pcmci_parcorr, pcmci_robust
from apps.causal.methods.transfer_entropy import transfer_entropy
from apps.causal.methods.varlingam import varlingam
from apps.causal.records import FloatArray, MethodResult

MethodFn = Callable[..., MethodResult]

METHOD_FUNCTIONS: dict[str, MethodFn] = {
    "granger": granger,
    "te": transfer_entropy,
    "pcmci": pcmci_parcorr,
    "varlingam": varlingam,
    "pcmci_robust": pcmci_robust,
}


def preload_dependencies() -> None:
    """Import every method's heavy dependency once, in the calling thread.

    Methods run on parallel threads; first imports of statsmodels, tigramite and lingam
    (which share scikit-learn and narwhals) racing in two threads can deadlock on
    Python's module locks, so a caller that fans out imports them first.
    """
    import lingam  # noqa: F401
    import statsmodels.tsa.api  # noqa: F401
    import tigramite.independence_tests.parcorr
    import tigramite.pcmci  # noqa: F401


def run_method(
    name: str, data: FloatArray, max_lag: int, alpha: float, seed: int = 0
) -> MethodResult:
    """Run the method ``name`` on standardized ``data`` (T, n).

    Raises:
        KeyError: an unknown method.
    """
    return METHOD_FUNCTIONS[name](data, max_lag=max_lag, alpha=alpha, seed=seed)


__all__ = [
    "METHOD_FUNCTIONS",
    "granger",
    "pcmci_parcorr",
    "pcmci_robust",
    "preload_dependencies",
    "run_method",
    "transfer_entropy",
    "varlingam",
]
