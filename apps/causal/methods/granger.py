"""Conditional Granger causality per lagged link from a VAR (statsmodels), BH-corrected.

The VAR order is chosen by an information criterion (BIC by default; Lütkepohl 2005
§4.3) up to ``max_lag``; every cross coefficient gets its t-test in the full VAR, i.e.
"j Granger-causes i at lag tau given every other series' past" (conditional Granger,
Geweke 1984), and the p-values of all cross links are corrected together by
Benjamini-Hochberg at ``alpha``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from apps.causal.records import FloatArray, MethodResult, cross_mask, empty_result
from apps.causal.stats import benjamini_hochberg

P_FLOOR = 1e-300  # p-values are floored here before taking logs


def granger(
    data: FloatArray, max_lag: int = 3, alpha: float = 0.05, seed: int = 0, ic: str = "aic"
) -> MethodResult:
    """Lagged links by conditional Granger tests on a VAR fitted to ``data`` (T, n)."""
    from statsmodels.tsa.api import VAR  # heavy import, loaded on first use

    started = time.perf_counter()
    _, n = data.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = VAR(data)
        order = model.select_order(maxlags=max_lag)
        lag = int(order.selected_orders.get(ic, max_lag) or 1)
        lag = max(1, min(lag, max_lag))
        try:
            fit = model.fit(lag, trend="c")
        except np.linalg.LinAlgError as err:
            return empty_result(
                "granger", max_lag, n, f"VAR fit failed: {err}", time.perf_counter() - started
            )
    raw = np.asarray(fit.pvalues)  # rows: const, lag1 x n, lag2 x n ...; columns: targets
    pvalue = np.ones((max_lag, n, n))
    for tau in range(lag):
        pvalue[tau] = raw[1 + tau * n : 1 + (tau + 1) * n, :]
    mask = cross_mask(max_lag, n)
    mask[lag:] = False
    q = benjamini_hochberg(pvalue, mask)
    return MethodResult(
        method="granger",
        edges=(q <= alpha) & mask,
        strength=np.where(mask, -np.log10(np.maximum(pvalue, P_FLOOR)), 0.0),
        pvalue=pvalue,
        wall_s=time.perf_counter() - started,
        note=f"VAR({lag}) by {ic.upper()}, BH at {alpha}",
        info={"lag_order": lag},
    )
