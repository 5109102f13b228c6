"""Prefect tasks of the causal app: thin wrappers over :mod:`apps.causal`.

Every task is CPU-bound and deterministic given its inputs; none retries (a bad input
or a failing method fails the same way twice). Methods run as one task each so the
flow can submit them in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from apps.causal.analysis import Analysis, OnsetParams, interventions, market_runner
from apps.causal.calibrate import calibrate
from apps.causal.consensus import (
    Calibration,
    Consensus,
    apply_live,
    consensus,
    contested_links,
    live_posteriors,
)
from apps.causal.data import macro_returns, read_table, validate
from apps.causal.methods import preload_dependencies, run_method
from apps.causal.records import FloatArray, MethodResult
from apps.causal.report import consensus_table, draw_graph, intervention_table, method_table
from apps.causal.settings import CausalSettings
from apps.causal.simulate import Market, MarketSpec, simulate_market

_COMMON: dict[str, Any] = {"retries": 0, "cache_policy": NO_CACHE, "persist_result": False}
LIVE_LINKS_MAX = 400  # contested links put to the live router one by one


@dataclass(slots=True)
class Input:
    """What is analysed: standardized data, names, and the truth when simulated."""

    data: FloatArray
    names: list[str]
    label: str
    market: Market | None = None
    times: list[str] | None = None  # the time label of each row (None: simulated steps)


@task(name="causal-load", timeout_seconds=300, **_COMMON)
def load_input(
    source: str,
    n_series: int = 10,
    n_steps: int = 1000,
    density: float = 1.5,
    seed: int = 0,
    time_column: str | None = None,
    kind: str = "auto",
    max_lag: int = 3,
) -> Input:
    """``simulate`` (a seeded market), ``macro`` (statsmodels' US macro data) or a CSV/Parquet path."""
    preload_dependencies()  # before the methods fan out over threads
    if source == "simulate":
        market = simulate_market(
            MarketSpec(
                n_series=n_series, n_steps=n_steps, density=density, seed=seed, max_lag=max_lag
            )
        )
        return Input(market.data, market.names, f"simulated market seed={seed}", market)
    frame = macro_returns() if source == "macro" else read_table(source, time_column)
    panel = validate(frame, "returns" if source == "macro" else kind)
    return Input(
        panel.data,
        panel.names,
        "statsmodels macrodata" if source == "macro" else str(source),
        times=panel.index,
    )


@task(
    name="causal-method", **_COMMON
)  # runs in a worker thread, where a timeout cannot interrupt it
def discover(method: str, data: FloatArray, max_lag: int, alpha: float, seed: int) -> MethodResult:
    """One discovery method on the data (one voter's evidence)."""
    return run_method(method, data, max_lag, alpha, seed)


@task(name="causal-calibrate", timeout_seconds=7200, **_COMMON)
def calibrate_shape(n_series: int, n_steps: int, settings: CausalSettings) -> Calibration:
    """The consensus calibration for this shape (cached on disk under the output directory)."""
    log = get_run_logger()
    return calibrate(
        n_series,
        n_steps,
        settings.max_lag,
        settings.alpha,
        market_runner(settings.max_lag, settings.alpha),
        settings.calibration_markets,
        settings.output_dir / "calibration",
        progress=log.info,
    )


@task(name="causal-vote", timeout_seconds=600, **_COMMON)
def vote(
    results: list[MethodResult], calibration: Calibration, names: list[str], live: bool
) -> Consensus:
    """Edge-by-edge consensus (pattern 5); contested links go to the live callable voters."""
    cons = consensus(results, calibration, names)
    if live:
        links = contested_links(cons, LIVE_LINKS_MAX)
        changed = apply_live(cons, links, live_posteriors(cons.votes, calibration, names, links))
        get_run_logger().info(
            "%d contested links decided by the router's live voters (%d differ from the bulk tally)",
            len(links),
            changed,
        )
    return cons


@task(name="causal-intervene", timeout_seconds=1800, **_COMMON)
def intervene(
    data: FloatArray,
    names: list[str],
    results: list[MethodResult],
    cons: Consensus,
    target: int,
    crash_start: int | None,
    source: int | None,
    settings: CausalSettings,
    rise_is_fall: tuple[int, ...] = (),
    given_by: str = "the user",
) -> Analysis:
    """Fit the lagged SCM on the consensus graph; do-effects with intervals; root causes.

    ``crash_start`` and ``source`` (onset, first hit) are detected from the returns when
    None (:func:`apps.causal.analysis.detect_onset`); ``given_by`` names who gave them.
    """
    return interventions(
        data,
        names,
        results,
        cons,
        target,
        crash_start,
        source,
        settings.horizon,
        settings.bootstrap,
        settings.seed,
        settings.root_cause_onset,
        detector=OnsetParams.from_settings(settings),
        rise_is_fall=rise_is_fall,
        given_by=given_by,
    )


@task(name="causal-report", timeout_seconds=300, **_COMMON)
def write_report(
    analysis: Analysis,
    out_dir: Path,
    label: str,
    market: Market | None,
    times: list[str] | None = None,
) -> dict[str, str]:
    """Write the graph PNG and the three tables under ``out_dir``; return their markdown and paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = draw_graph(analysis, out_dir / "graph.png", f"consensus graph: {label}")
    tables = {
        "methods": method_table(analysis),
        "consensus": consensus_table(analysis),
        "interventions": intervention_table(
            analysis, None if market is None else list(market.true_effects), times
        ),
    }
    for name, text in tables.items():
        (out_dir / f"{name}.md").write_text(text)
    return {**tables, "graph": str(png)}
