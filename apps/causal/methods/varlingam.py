"""VARLiNGAM (the ``lingam`` package): a VAR whose residuals follow a LiNGAM.

Hyvärinen, Zhang, Shimizu & Hoyer (2010), JMLR 11. It needs non-Gaussian, independent
shocks; when the VAR residuals look Gaussian (Jarque-Bera does not reject for most
series) its voter abstains. Lagged links are the non-zero entries of the pruned lagged
matrices (adaptive lasso, the package's ``prune=True``); the strength is |coefficient|.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from apps.causal.records import FloatArray, MethodResult, cross_mask, empty_result

NON_GAUSSIAN_SHARE = 0.5  # abstain unless this share of residual series rejects normality
JB_ALPHA = 0.01
MIN_COEF = 0.05  # standardized |coefficient| below this is not a link


def varlingam(
    data: FloatArray, max_lag: int = 3, alpha: float = 0.05, seed: int = 0
) -> MethodResult:
    """Lagged links by VARLiNGAM on ``data`` (T, n), or an abstention with the reason."""
    import lingam
    from scipy import stats

    started = time.perf_counter()
    _, n = data.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lingam.VARLiNGAM(lags=max_lag, criterion=None, prune=True, random_state=seed)
        try:
            model.fit(data)
        except (ValueError, np.linalg.LinAlgError) as err:
            return empty_result(
                "varlingam", max_lag, n, f"fit failed: {err}", time.perf_counter() - started
            )
    residuals = np.asarray(model.residuals_)
    rejects = [stats.jarque_bera(residuals[:, k]).pvalue < JB_ALPHA for k in range(n)]
    share = float(np.mean(rejects))
    if share < NON_GAUSSIAN_SHARE:
        return empty_result(
            "varlingam",
            max_lag,
            n,
            f"residuals look Gaussian ({share:.0%} of series reject normality): LiNGAM does not apply",
            time.perf_counter() - started,
        )
    mats = np.asarray(model.adjacency_matrices_)  # (lags+1, target, source)
    lagged = np.transpose(mats[1 : max_lag + 1], (0, 2, 1))  # (tau, source, target)
    mask = cross_mask(max_lag, n)
    strength = np.where(mask, np.abs(lagged), 0.0)
    return MethodResult(
        method="varlingam",
        edges=(strength >= MIN_COEF) & mask,
        strength=strength,
        wall_s=time.perf_counter() - started,
        note=f"VARLiNGAM lags={max_lag}, pruned; {share:.0%} of residual series non-Gaussian",
        info={"non_gaussian_share": share},
    )
