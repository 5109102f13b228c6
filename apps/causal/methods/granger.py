"""Conditional Granger causality per lagged link, robust to volatility clustering, BH-corrected.

Each series' equation of the VAR is fitted on its own (equation-by-equation least
squares is how a VAR is estimated, Lütkepohl 2005 §3.2), with its lag order chosen by
an information criterion (AIC by default) of the weighted fits below, up to
``max_lag``. Market returns are
conditionally heteroskedastic (GARCH volatility, a crash), so ordinary t-tests lose
most of their power to the few high-volatility weeks and misstate their size. The
equation is therefore fitted by weighted least squares with weights ``1/v(t)``, where
``v(t)`` is a RiskMetrics EWMA (lambda 0.94) of the residual variance of the largest
order's OLS fit, built from past residuals only (feasible GLS, Greene *Econometric Analysis* §9.4), and every cross
coefficient gets a heteroskedasticity-consistent (HC1) t-test (White 1980): "j
Granger-causes i at lag tau given every other series' past" (conditional Granger,
Geweke 1984). The p-values of all cross links are corrected together by
Benjamini-Hochberg at ``alpha``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from apps.causal.records import FloatArray, MethodResult, cross_mask, empty_result
from apps.causal.stats import benjamini_hochberg, trailing_ewma

P_FLOOR = 1e-300  # p-values are floored here before taking logs
EWMA_LAMBDA = 0.94  # RiskMetrics (1996) decay of the residual variance
VAR_FLOOR = 1e-3  # the EWMA variance is floored at this share of the residual variance


def ewma_variance(residuals: FloatArray, lam: float = EWMA_LAMBDA) -> FloatArray:
    """``v[t] = lam * v[t-1] + (1 - lam) * e[t-1]**2`` (past residuals only), ``v[0] = mean(e**2)``."""
    e2 = residuals**2
    mean = float(e2.mean()) or 1.0
    out: FloatArray = np.maximum(trailing_ewma(e2, lam, mean), VAR_FLOOR * mean)
    return out


def _lagged(data: FloatArray, max_lag: int) -> FloatArray:
    """Regressors ``[x(t-1), ..., x(t-max_lag)]`` for t = max_lag..T-1 (column tau*n + j)."""
    steps = data.shape[0]
    return np.hstack([data[max_lag - tau : steps - tau] for tau in range(1, max_lag + 1)])


def granger(
    data: FloatArray,
    max_lag: int = 3,
    alpha: float = 0.05,
    seed: int = 0,
    ic: str = "aic",
    weighted: bool = True,
) -> MethodResult:
    """Lagged links by conditional Granger tests on ``data`` (T, n), one equation per target.

    Args:
        ic: ``"aic"`` or ``"bic"``: the criterion choosing each equation's lag order.
        weighted: WLS on an EWMA variance with HC1 tests (default); False gives plain
            OLS t-tests.
    """
    import statsmodels.api as sm  # heavy import, loaded on first use

    started = time.perf_counter()
    steps, n = data.shape
    if steps <= max_lag * n + 10:
        return empty_result(
            "granger",
            max_lag,
            n,
            f"{steps} rows are too few for a VAR({max_lag}) of {n} series",
            time.perf_counter() - started,
        )
    x_all = _lagged(data, max_lag)
    y_all = data[max_lag:]
    const = np.ones((len(x_all), 1))
    pvalue = np.ones((max_lag, n, n))
    orders = np.zeros(n, dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            # one set of weights for every candidate order (from the largest model's residuals),
            # so the criteria compare likelihoods of the same weighted problem
            full = sm.OLS(y_all[:, i], np.hstack([const, x_all])).fit()
            weights = (
                1.0 / ewma_variance(np.asarray(full.resid)) if weighted else np.ones(len(x_all))
            )
            best: tuple[float, int, Any] = (np.inf, 1, None)
            for lag in range(1, max_lag + 1):
                design = np.hstack([const, x_all[:, : lag * n]])
                fit = sm.WLS(y_all[:, i], design, weights=weights).fit(
                    cov_type="HC1" if weighted else "nonrobust"
                )
                crit = fit.aic if ic == "aic" else fit.bic
                if crit < best[0]:
                    best = (crit, lag, fit)
            _, lag, fit = best
            orders[i] = lag
            pvalue[:lag, :, i] = np.asarray(fit.pvalues)[1:].reshape(lag, n)
    mask = cross_mask(max_lag, n)
    tested = mask & (np.arange(max_lag)[:, None, None] < orders[None, None, :])
    q = benjamini_hochberg(pvalue, tested)
    how = f"WLS (EWMA {EWMA_LAMBDA}) + HC1" if weighted else "OLS"
    return MethodResult(
        method="granger",
        edges=(q <= alpha) & tested,
        strength=np.where(tested, -np.log10(np.maximum(pvalue, P_FLOOR)), 0.0),
        pvalue=pvalue,
        wall_s=time.perf_counter() - started,
        note=(
            f"per-equation lag by {ic.upper()} (orders {int(orders.min())}-{int(orders.max())}), "
            f"{how} t-tests, BH at {alpha}"
        ),
        info={"lag_order": int(orders.max()), "lag_orders": orders.tolist()},
    )
