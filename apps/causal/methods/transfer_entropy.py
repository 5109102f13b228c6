"""Lag-specific conditional transfer entropy with a KSG (kNN) estimator and a permutation null.

TE from series j at lag tau to series i is the conditional mutual information
``I(X_i(t); X_j(t-tau) | X_i(t-1..t-L))`` (Schreiber 2000), estimated with the
Frenzel-Pompe / KSG conditional-MI estimator (Kraskov, Stögbauer & Grassberger 2004;
Frenzel & Pompe 2007): ``psi(k) - <psi(n_sz+1) + psi(n_yz+1) - psi(n_z+1)>`` with max-norm
neighbourhoods. A second pass conditions each candidate link also on the strongest
other candidate sources of the same target (a greedy multivariate TE in the spirit of
IDTxl, Wollstadt et al. 2019), which removes most indirect and common-driver links.

Series are rank-transformed first (a copula transform, so every source has the same
uniform marginal); the permutation null is then the same for every source of a target,
and one pooled null per target (sources shuffled in time) serves all its links, its
upper tail extrapolated by a normal fit (see :func:`_pvalues`). All
neighbour counts are vectorized ``cKDTree`` queries.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma
from scipy.stats import norm, rankdata

from apps.causal.records import FloatArray, MethodResult, cross_mask
from apps.causal.stats import benjamini_hochberg

K_NEIGHBOURS = 5
MAX_SAMPLES = 400  # time points used by the kNN estimates (a seeded random subset)
PERMUTATIONS = (
    16  # pooled null draws per target (pass two uses half); a normal tail is fitted to them
)
CONDITION_ON = 2  # other candidate sources added to the conditioning set in pass two
P_FLOOR = 1e-300


def cmi_ksg(s: FloatArray, y: FloatArray, z: FloatArray | None, k: int = K_NEIGHBOURS) -> float:
    """KSG estimate of I(S; Y | Z) in nats (each argument (N, d)); I(S; Y) when ``z`` is None."""
    if z is None or z.shape[1] == 0:
        z = np.zeros((len(s), 0))
    joint = np.hstack([s, y, z])
    return _cmi_from_parts(joint, np.hstack([s, z]), np.hstack([y, z]), z, k)


def _cmi_from_parts(
    joint: FloatArray,
    sz: FloatArray,
    yz: FloatArray,
    z: FloatArray,
    k: int,
    yz_tree: cKDTree | None = None,
    z_tree: cKDTree | None = None,
) -> float:
    n = len(joint)
    dist, _ = cKDTree(joint).query(joint, k=k + 1, p=np.inf)
    eps = np.nextafter(dist[:, -1], 0)  # strictly inside the k-th neighbour's distance
    n_sz = _counts(cKDTree(sz), sz, eps)
    n_yz = _counts(yz_tree if yz_tree is not None else cKDTree(yz), yz, eps)
    if z.shape[1] == 0:
        return float(digamma(k) + digamma(n) - np.mean(digamma(n_sz + 1) + digamma(n_yz + 1)))
    n_z = _counts(z_tree if z_tree is not None else cKDTree(z), z, eps)
    return float(digamma(k) - np.mean(digamma(n_sz + 1) + digamma(n_yz + 1) - digamma(n_z + 1)))


def _counts(tree: cKDTree, points: FloatArray, radius: FloatArray) -> FloatArray:
    """Neighbours within ``radius`` of each point, itself excluded."""
    got = tree.query_ball_point(points, r=radius, p=np.inf, return_length=True)
    return np.asarray(got, dtype=float) - 1.0


class _Target:
    """The fixed parts of every estimate about one target: Y, its past Z, and their trees."""

    def __init__(self, y: FloatArray, z: FloatArray) -> None:
        self.y = y
        self.z = z
        self.yz = np.hstack([y, z])
        self.yz_tree = cKDTree(self.yz)
        self.z_tree = cKDTree(z) if z.shape[1] else None

    def cmi(self, s: FloatArray, k: int) -> float:
        sz = np.hstack([s, self.z])
        joint = np.hstack([s, self.yz])
        return _cmi_from_parts(joint, sz, self.yz, self.z, k, self.yz_tree, self.z_tree)


def _copula(data: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Ranks scaled to (0, 1), ties broken by a tiny seeded jitter."""
    jitter = data + 1e-10 * rng.standard_normal(data.shape)
    ranks = np.apply_along_axis(rankdata, 0, jitter)
    out: FloatArray = ranks / (len(data) + 1)
    return out


def _pvalues(observed: FloatArray, null: FloatArray) -> FloatArray:
    """Upper-tail p-values of ``observed`` under a normal fitted to the permutation draws.

    A raw permutation p-value cannot fall below ``1/(1+draws)``, too coarse to survive a
    Benjamini-Hochberg correction over hundreds of links with tens of draws; the KSG
    estimate under the null is close to normal, so its tail is extrapolated from the
    draws' mean and standard deviation.
    """
    mu = float(np.mean(null))
    sd = max(float(np.std(null, ddof=1)), 1e-6)
    out: FloatArray = norm.sf((observed - mu) / sd)
    return out


def transfer_entropy(
    data: FloatArray,
    max_lag: int = 3,
    alpha: float = 0.05,
    seed: int = 0,
    k: int = K_NEIGHBOURS,
    max_samples: int = MAX_SAMPLES,
    permutations: int = PERMUTATIONS,
    condition_on: int = CONDITION_ON,
) -> MethodResult:
    """Lagged links by conditional transfer entropy on ``data`` (T, n), BH-corrected at ``alpha``."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    steps, n = data.shape
    u = _copula(data, rng)
    rows = np.arange(max_lag, steps)
    if len(rows) > max_samples:
        rows = np.sort(rng.choice(rows, size=max_samples, replace=False))
    lagged = np.stack([u[rows - tau] for tau in range(1, max_lag + 1)])  # (tau, N, n)
    te = np.zeros((max_lag, n, n))
    pvalue = np.ones((max_lag, n, n))
    mask = cross_mask(max_lag, n)
    for i in range(n):
        y = u[rows, i : i + 1]
        own = lagged[:, :, i].T  # (N, L): the target's own past
        target = _Target(y, own)
        sources = [(tau, j) for tau in range(max_lag) for j in range(n) if j != i]
        obs = np.array([target.cmi(lagged[tau, :, j : j + 1], k) for tau, j in sources])
        null = np.array(
            [
                target.cmi(rng.permutation(u[:, rng.integers(n)])[rows, None], k)
                for _ in range(permutations)
            ]
        )
        p1 = _pvalues(obs, null)
        candidates = [idx for idx in np.argsort(-obs) if p1[idx] <= alpha]
        for idx, (tau, j) in enumerate(sources):
            te[tau, j, i], pvalue[tau, j, i] = obs[idx], p1[idx]
        if len(candidates) < 2 or condition_on == 0:
            continue
        # pass two: condition each candidate on the strongest other candidates (other sources)
        null2_cache: dict[int, FloatArray] = {}
        for idx in candidates:
            tau, j = sources[idx]
            others = [c for c in candidates if sources[c][1] != j][:condition_on]
            if not others:
                continue
            extra = np.hstack(
                [lagged[sources[c][0], :, sources[c][1] : sources[c][1] + 1] for c in others]
            )
            cond = _Target(y, np.hstack([own, extra]))
            value = cond.cmi(lagged[tau, :, j : j + 1], k)
            width = extra.shape[1]
            if width not in null2_cache:
                null2_cache[width] = np.array(
                    [
                        cond.cmi(rng.permutation(u[:, rng.integers(n)])[rows, None], k)
                        for _ in range(permutations // 2)
                    ]
                )
            p2 = float(_pvalues(np.array([value]), null2_cache[width])[0])
            te[tau, j, i] = value
            pvalue[tau, j, i] = max(p1[idx], p2)
    q = benjamini_hochberg(pvalue, mask)
    return MethodResult(
        method="te",
        edges=(q <= alpha) & mask,
        strength=np.where(mask, -np.log10(np.maximum(pvalue, P_FLOOR)), 0.0),
        pvalue=pvalue,
        wall_s=time.perf_counter() - started,
        note=(
            f"KSG k={k} on {len(rows)} samples, {permutations} pooled permutations per target, "
            f"conditioned on own past + {condition_on} other candidates, BH at {alpha}"
        ),
        info={"te_nats": te},
    )
