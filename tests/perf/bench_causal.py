"""Causal benchmark (`make bench NAME=causal`): consensus vs each method on known graphs.

30 simulated markets (fixed seeds 1..30) over six shapes from 5 to 30 series and 500 to
5,000 steps, densities 1.0-3.0 expected parents per series. Each shape is calibrated
on 4 markets of its own shape with seeds from 900000 on (never an evaluation seed);
the calibration is cached under a temporary directory. TE uses 400 samples and 16
pooled permutations per target; do-effect intervals use 50 bootstrap refits.
``wall_s_20x2000`` times one analysis (all five methods one after another, consensus,
interventions with 100 bootstrap refits) after its calibration (not timed).
``f1_consensus_scm_graph`` is the F1 of the consensus's SCM graph (the links the vote finds
more likely than not, which the do-effects use; ``f1_consensus`` scores the discovery
graph). ``consensus_stack_share`` is the share of markets whose links the consensus' continuous
stack decided (1 with the default calibration; with ``calibrate(select=True)`` the rest
defer to the one method that beat it in the calibration's cross-validation; see
:func:`apps.causal.calibrate.fit_calibration`). ``f1_pcmci`` is the plain PCMCI-ParCorr
baseline; ``f1_pcmci_robust`` the fifth voter (PCMCI-ParCorr on normal scores).
``intervention_mae_rel`` is the issue's metric: per market ``sum_k |est_k - true_k| /
sum_k |true_k|`` (k over the non-origin assets), averaged over markets; a market whose
first hit has only weak out-links has a small denominator and weighs as much as any
other. ``intervention_mae_rel_pooled`` (reported beside it, not a replacement) divides
the summed absolute errors of all markets by their summed absolute true effects.
Floors of the do-effect error, report-only (they read the ground truth):
``intervention_mae_rel_true_graph`` fits the SCM on the true graph and
``intervention_mae_rel_true_scm`` uses the true coefficients; the *oracle-tested* floors
fit it on the true links that pass a test when only the true links are tested (no
false link can enter; :func:`apps.causal.analysis.oracle_tested_graph`):
``intervention_mae_rel_oracle_tested_z2`` at ``|t| > 1.96`` and
``intervention_mae_rel_oracle_tested_bonferroni`` at the two-sided Bonferroni critical
value for alpha 0.05 over the market's ``n (n - 1) L`` candidate links (z 3.3 at 5
series to 4.3 at 30), the threshold a method that searches every candidate link needs
to keep its false links in check. Writes ``bench-results/causal.json`` (through
tests/perf/run.py) and the per-method table ``bench-results/causal.md``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from apps.causal.analysis import (
    analyze,
    bonferroni_z,
    market_runner,
    oracle_tested_error,
    score,
    true_target,
)
from apps.causal.calibrate import calibrate
from apps.causal.records import METHODS, cross_mask
from apps.causal.simulate import MarketSpec, simulate_market
from apps.causal.stats import f1_score
from tests.perf.run import OUT_DIR, tracked

SHAPES: tuple[tuple[int, int, int], ...] = (  # (series, steps, markets)
    (5, 500, 5),
    (5, 5000, 5),
    (10, 1000, 6),
    (15, 2000, 4),
    (20, 500, 5),
    (30, 500, 5),
)
DENSITIES = (1.0, 1.5, 2.0, 2.5, 3.0)
CALIBRATION_MARKETS = 4
MAX_LAG, ALPHA, BOOTSTRAP = 3, 0.05, 50
ORACLE_Z = 1.96  # the oracle-tested floor's per-link test (no multiple-testing correction)


def _table(rows: list[dict[str, float]]) -> str:
    cols = ["consensus", *METHODS]
    lines = [
        "| series | steps | density | seed | "
        + " | ".join(f"F1 {c}" for c in cols)
        + " | F1 SCM graph | do-effect rel. err | root cause top-1 | wall s |",
        "|---|---|---|---|" + "---|" * len(cols) + "---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {int(r['n'])} | {int(r['t'])} | {r['density']} | {int(r['seed'])} | "
            + " | ".join(f"{r[c]:.3f}" for c in cols)
            + f" | {r['f1_scm']:.3f} | {r['mae_rel']:.3f} | {int(r['top1'])} | {r['wall']:.1f} |"
        )
    means = {c: statistics.mean(r[c] for r in rows) for c in cols}
    lines.append(
        "| **mean** | | | | "
        + " | ".join(f"**{means[c]:.3f}**" for c in cols)
        + f" | **{statistics.mean(r['f1_scm'] for r in rows):.3f}** | | | |"
    )
    return "\n".join(lines) + "\n"


def run_causal_bench() -> dict[str, float]:
    rows: list[dict[str, float]] = []
    vs_raw, vs_std = [], []
    total = sum(m for _, _, m in SHAPES)
    with tempfile.TemporaryDirectory() as tmp, tracked("causal markets", total) as advance:
        cache = Path(tmp)
        seed = 0
        for n, steps, count in SHAPES:
            cal = calibrate(
                n, steps, MAX_LAG, ALPHA, market_runner(MAX_LAG, ALPHA), CALIBRATION_MARKETS, cache
            )
            for k in range(count):
                seed += 1
                density = DENSITIES[k % len(DENSITIES)]
                market = simulate_market(
                    MarketSpec(n_series=n, n_steps=steps, density=density, seed=seed)
                )
                t0 = time.perf_counter()
                a = analyze(
                    market.data,
                    market.names,
                    cal,
                    true_target(market),
                    MAX_LAG,
                    ALPHA,
                    crash_start=market.crash_start,
                    source=market.origin,
                    bootstrap=BOOTSTRAP,
                    seed=seed,
                )
                s = score(market, a)
                mask = cross_mask(MAX_LAG, n)
                f1_scm = f1_score(a.intervention_graph(), market.graph[:MAX_LAG], mask)[2]
                est = np.array([e.estimate for e in a.effects])
                others = np.arange(market.n) != market.origin
                rows.append(
                    {
                        "n": n,
                        "t": steps,
                        "density": density,
                        "seed": seed,
                        **s.f1,
                        "f1_scm": f1_scm,
                        "mae_rel": s.intervention_mae_rel,
                        "mae_true_graph": s.mae_rel_true_graph,
                        "mae_true_scm": s.mae_rel_true_scm,
                        "mae_oracle_z2": oracle_tested_error(market, ORACLE_Z, MAX_LAG),
                        "mae_oracle_bonf": oracle_tested_error(
                            market, bonferroni_z(n, MAX_LAG, ALPHA), MAX_LAG
                        ),
                        "top1": float(s.root_cause_top1),
                        "abs_err": float(np.abs(est - market.true_effects)[others].sum()),
                        "abs_true": float(np.abs(market.true_effects)[others].sum()),
                        "stack": float(a.consensus.rule == "stack"),
                        "wall": time.perf_counter() - t0,
                    }
                )
                vs_raw.append(market.varsortability_raw)
                vs_std.append(market.varsortability)
                advance()
        # one 20-series, 2,000-step analysis with every method (calibration done before timing)
        cal = calibrate(
            20, 2000, MAX_LAG, ALPHA, market_runner(MAX_LAG, ALPHA), CALIBRATION_MARKETS, cache
        )
        market = simulate_market(MarketSpec(n_series=20, n_steps=2000, density=2.0, seed=999))
        t0 = time.perf_counter()
        analyze(market.data, market.names, cal, true_target(market), MAX_LAG, ALPHA, bootstrap=100)
        wall_20x2000 = time.perf_counter() - t0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "causal.md").write_text(_table(rows))
    f1 = {c: float(np.mean([r[c] for r in rows])) for c in ["consensus", *METHODS]}
    best = max(f1[m] for m in METHODS)
    return {
        "markets": float(len(rows)),
        "f1_consensus": f1["consensus"],
        "f1_pcmci": f1["pcmci"],
        "f1_granger": f1["granger"],
        "f1_te": f1["te"],
        "f1_varlingam": f1["varlingam"],
        "f1_pcmci_robust": f1["pcmci_robust"],
        "f1_consensus_scm_graph": float(np.mean([r["f1_scm"] for r in rows])),
        "consensus_minus_best_single": f1["consensus"] - best,
        "consensus_minus_pcmci": f1["consensus"] - f1["pcmci"],
        "intervention_mae_rel": float(np.mean([r["mae_rel"] for r in rows])),
        "intervention_mae_rel_pooled": float(
            sum(r["abs_err"] for r in rows) / max(1e-12, sum(r["abs_true"] for r in rows))
        ),
        "intervention_mae_rel_true_graph": float(np.mean([r["mae_true_graph"] for r in rows])),
        "intervention_mae_rel_true_scm": float(np.mean([r["mae_true_scm"] for r in rows])),
        "intervention_mae_rel_oracle_tested_z2": float(np.mean([r["mae_oracle_z2"] for r in rows])),
        "intervention_mae_rel_oracle_tested_bonferroni": float(
            np.mean([r["mae_oracle_bonf"] for r in rows])
        ),
        "root_cause_top1": float(np.mean([r["top1"] for r in rows])),
        "consensus_stack_share": float(np.mean([r["stack"] for r in rows])),
        "varsortability_mean": float(np.mean(vs_std)),
        "varsortability_raw_mean": float(np.mean(vs_raw)),
        "wall_s_20x2000": wall_20x2000,
    }
