"""PCMCI with partial correlation (tigramite): the practitioners' baseline.

Runge et al. (2019), "Detecting and quantifying causal associations in large nonlinear
time series datasets", Sci. Adv.: PC1 condition selection, then the momentary
conditional independence (MCI) test per lagged link; p-values corrected by
Benjamini-Hochberg (tigramite's ``fdr_bh``).
"""

from __future__ import annotations

import time

import numpy as np

from apps.causal.records import FloatArray, MethodResult, cross_mask
from apps.causal.stats import benjamini_hochberg

P_FLOOR = 1e-300
PC_ALPHA = 0.1  # significance of the condition-selection (PC1) step
MAX_CONDS_PX = 3  # conditions taken from the source's parents in the MCI step (Runge 2019 §S3)


def pcmci_parcorr(
    data: FloatArray, max_lag: int = 3, alpha: float = 0.05, seed: int = 0
) -> MethodResult:
    """Lagged links by PCMCI + ParCorr on ``data`` (T, n); BH-corrected at ``alpha``."""
    from tigramite import data_processing as pp
    from tigramite.independence_tests.parcorr import ParCorr
    from tigramite.pcmci import PCMCI

    started = time.perf_counter()
    _, n = data.shape
    frame = pp.DataFrame(np.ascontiguousarray(data))
    runner = PCMCI(dataframe=frame, cond_ind_test=ParCorr(significance="analytic"), verbosity=0)
    out = runner.run_pcmci(
        tau_min=1, tau_max=max_lag, pc_alpha=PC_ALPHA, alpha_level=alpha, max_conds_px=MAX_CONDS_PX
    )
    p = np.asarray(out["p_matrix"])  # (source, target, tau)
    pvalue = np.transpose(p[:, :, 1:], (2, 0, 1)).astype(float)  # (tau, source, target)
    mask = cross_mask(max_lag, n)
    q = benjamini_hochberg(pvalue, mask)
    return MethodResult(
        method="pcmci",
        edges=(q <= alpha) & mask,
        strength=np.where(mask, -np.log10(np.maximum(pvalue, P_FLOOR)), 0.0),
        pvalue=pvalue,
        wall_s=time.perf_counter() - started,
        note=f"PCMCI ParCorr, tau_max={max_lag}, pc_alpha={PC_ALPHA}, max_conds_px={MAX_CONDS_PX}, BH at {alpha}",
    )
