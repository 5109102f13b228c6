"""App 9: causal analysis of a market crash by a consensus of causal-discovery methods.

``causal`` loads a simulated market (with its true graph and do-effects), a CSV/Parquet
table, or statsmodels' macro data; runs Granger, transfer entropy, PCMCI, VARLiNGAM and
PCMCI on normal scores (robust partial correlation) as parallel tasks; combines them link
by link through the pattern-5 consensus router, calibrated on simulated markets of the
same shape; fits the lagged SCM on the consensus graph and answers the do-question about
the first hit; publishes the graph, the per-method, consensus and intervention tables as
artifacts.
``python -m flows.causal`` runs a short demo on a simulated market.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from apps.causal.analysis import resolve_crash_choice, resolve_target, true_target
from apps.causal.records import METHODS, cross_mask
from apps.causal.settings import get_causal_settings
from apps.causal.stats import f1_score
from tasks.causal import calibrate_shape, discover, intervene, load_input, vote, write_report

METHOD_WORKERS = 5  # the methods run side by side on a thread pool


@flow(
    name="causal",
    log_prints=True,
    task_runner=ThreadPoolTaskRunner(max_workers=METHOD_WORKERS),  # type: ignore[arg-type]
)
def causal(
    source: str = "simulate",
    target: str | None = None,
    n_series: int = 10,
    n_steps: int = 1000,
    density: float = 1.5,
    seed: int = 0,
    time_column: str | None = None,
    kind: str = "auto",
    output_dir: str | None = None,
    onset: str | int | None = None,
    first_hit: str | None = None,
    rise_is_fall: list[str] | None = None,
) -> dict[str, Any]:
    """Analyse a market crash: discover the lagged graph by consensus, then intervene on it.

    Args:
        source: ``simulate``, ``macro`` (statsmodels' US macro data) or a CSV/Parquet path
            (a wide table, time in the first column or ``time_column``).
        target: the series whose fall is explained (name); default: the one the first
            hit moves most on a simulated market, else the last column.
        n_series, n_steps, density, seed: the simulated market (``source="simulate"``).
        time_column: the time column of a file.
        kind: ``returns``, ``prices`` or ``auto`` for a file.
        output_dir: where outputs go (default ``SWARMKIT_CAUSAL__OUTPUT_DIR``, ``.data/causal``).
        onset: the crash onset t0, a time label of the table or a row number; default:
            detected from the returns (on a simulated market: the simulator's truth).
        first_hit: the first-hit series (name); default: detected likewise.
        rise_is_fall: series whose rise is the bad move (unemployment, spreads), negated
            for the onset detection.

    Returns:
        Per-method and consensus edge counts (and F1 on a simulated market), the do-effects
        of the first hit, the root causes, and the paths of the written files.
    """
    settings = get_causal_settings()
    if output_dir is not None:
        settings = settings.model_copy(update={"output_dir": Path(output_dir)})
    log = get_run_logger()
    inp = load_input(source, n_series, n_steps, density, seed, time_column, kind, settings.max_lag)
    steps, n = inp.data.shape
    futures = [
        discover.submit(m, inp.data, settings.max_lag, settings.alpha, settings.seed)
        for m in METHODS
    ]
    calibration = calibrate_shape(n, steps, settings)
    results = [f.result() for f in futures]
    cons = vote(results, calibration, inp.names, settings.live_router)
    market = inp.market
    steps_index = inp.times or [str(k) for k in range(steps)]
    choice = resolve_crash_choice(inp.names, steps_index, onset, first_hit, rise_is_fall or ())
    start, src, given_by = choice.onset, choice.first_hit, "the user"
    if market is not None:
        tgt = resolve_target(inp.names, target) if target else true_target(market)
        if start is None and src is None:
            start, src, given_by = market.crash_start, market.origin, "the simulator's truth"
    else:
        tgt = resolve_target(inp.names, target)
    analysis = intervene(
        inp.data, inp.names, results, cons, tgt, start, src, settings, choice.rise_is_fall, given_by
    )
    slug = "simulated" if market is not None else Path(source).stem
    out_dir = settings.output_dir / f"{slug}-{seed}"
    files = write_report(analysis, out_dir, inp.label, market, inp.times)
    summary: dict[str, Any] = {
        "label": inp.label,
        "edges": {r.method: int(r.edges.sum()) for r in results}
        | {"consensus": int(cons.edges.sum())},
        "scm_edges": int(analysis.intervention_graph().sum()),
        "abstained": [r.method for r in results if r.abstained],
        "rule": cons.rule,
        "rule_cv_f1": {k: round(v, 3) for k, v in calibration.rule_f1.items()},
        "threshold": round(cons.theta, 6),
        "quorum": cons.quorum,
        "reliability": {k: round(v, 3) for k, v in calibration.reliability.items()},
        "first_hit": None if analysis.source is None else inp.names[analysis.source],
        "crash_start": analysis.crash_start,
        "onset_how": analysis.onset.how if analysis.onset is not None else "",
        "target": inp.names[tgt],
        "root_causes": [inp.names[k] for k, _ in analysis.causes[:5]],
        "effects": {inp.names[e.target]: round(e.estimate, 4) for e in analysis.effects},
        "files": files["graph"],
    }
    if market is not None:
        mask = cross_mask(settings.max_lag, n)
        summary["f1"] = {
            r.method: round(f1_score(r.edges, market.graph, mask)[2], 4) for r in results
        }
        summary["f1"]["consensus"] = round(f1_score(cons.edges, market.graph, mask)[2], 4)
        summary["f1"]["scm_graph"] = round(
            f1_score(analysis.intervention_graph(), market.graph, mask)[2], 4
        )
        summary["true_origin"] = inp.names[market.origin]
        summary["varsortability"] = market.varsortability
    _artifacts(files, summary, results)
    log.info("consensus: %s", summary["edges"])
    return summary


def _artifacts(files: dict[str, str], summary: dict[str, Any], results: list[Any]) -> None:
    create_table_artifact(
        key="causal-methods-summary",
        table=[
            {
                "method": r.method,
                "edges": int(r.edges.sum()),
                "abstained": r.abstained,
                "wall_s": round(r.wall_s, 2),
                "f1": summary.get("f1", {}).get(r.method),
                "note": r.note,
            }
            for r in results
        ]
        + [
            {
                "method": "consensus",
                "edges": summary["edges"]["consensus"],
                "f1": summary.get("f1", {}).get("consensus"),
                "note": "discovery graph (F1 operating point)",
            },
            {
                "method": "consensus (SCM graph)",
                "edges": summary["scm_edges"],
                "f1": summary.get("f1", {}).get("scm_graph"),
                "note": "links the vote finds more likely than not; the do-effects use it",
            },
        ],
        description="Per-method edge counts (F1 against truth on a simulated market); the "
        "consensus's discovery graph and the SCM graph of the interventions",
    )
    create_markdown_artifact(
        key="causal-method-edges", markdown=files["methods"], description="Per-method lagged edges"
    )
    create_markdown_artifact(
        key="causal-consensus",
        markdown=files["consensus"],
        description="Consensus per link: votes, quorum, posterior, stack probability, confidence",
    )
    create_markdown_artifact(
        key="causal-interventions",
        markdown=files["interventions"],
        description="do-effects and root causes",
    )
    path = Path(files["graph"]).resolve()
    create_image_artifact(
        image_url=path.as_uri(), key="causal-graph", description=f"Consensus graph ({path})"
    )


if __name__ == "__main__":
    import json

    print(json.dumps(causal(n_series=8, n_steps=800, seed=3), indent=2, default=str))
