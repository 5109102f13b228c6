"""CLI: ``python -m apps.causal simulate|analyze|macro`` (the pure path, without Prefect).

    python -m apps.causal simulate --series 8 --steps 1000 --seed 3 --out market.csv
    python -m apps.causal analyze market.csv --target A05
    python -m apps.causal macro --target realgdp

``simulate`` writes a simulated market (standardized returns) as CSV and its true graph
beside it; ``analyze`` runs the methods, the consensus (calibrated on simulated markets
of the file's shape, cached) and the interventions, writes the graph and tables to
``--out-dir`` and prints the consensus links and root causes. Exit status 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from apps.causal.analysis import analyze, market_runner, resolve_target
from apps.causal.calibrate import calibrate
from apps.causal.data import macro_returns, read_table, validate
from apps.causal.exceptions import InputDataError
from apps.causal.report import consensus_table, draw_graph, intervention_table, method_table
from apps.causal.settings import get_causal_settings
from apps.causal.simulate import MarketSpec, simulate_market


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m apps.causal", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="write a simulated crash market to CSV")
    sim.add_argument("--series", type=int, default=8)
    sim.add_argument("--steps", type=int, default=1000)
    sim.add_argument("--density", type=float, default=1.5)
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", type=Path, default=Path("market.csv"))
    for name in ("analyze", "macro"):
        p = sub.add_parser(
            name,
            help="analyse a CSV/Parquet file"
            if name == "analyze"
            else "analyse statsmodels' macro data",
        )
        if name == "analyze":
            p.add_argument("path", type=Path)
            p.add_argument("--time-column", default=None)
            p.add_argument("--kind", choices=("auto", "returns", "prices"), default="auto")
        p.add_argument(
            "--target", default=None, help="the series whose fall is explained (default: last)"
        )
        p.add_argument("--out-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = get_causal_settings()
    if args.command == "simulate":
        m = simulate_market(
            MarketSpec(
                n_series=args.series, n_steps=args.steps, density=args.density, seed=args.seed
            )
        )
        pd.DataFrame(m.data, columns=m.names).rename_axis("t").to_csv(args.out)
        links = [
            f"{m.names[j]} -> {m.names[i]} @ lag {tau + 1}"
            for tau, j, i in zip(*np.nonzero(m.graph), strict=True)
        ]
        args.out.with_suffix(".truth.txt").write_text(
            f"first hit: {m.names[m.origin]} at t={m.crash_start}\n" + "\n".join(links) + "\n"
        )
        print(
            f"wrote {args.out} ({m.n} series x {len(m.data)} steps) and {args.out.with_suffix('.truth.txt')}"
        )
        return 0
    try:
        if args.command == "macro":
            panel = validate(macro_returns(), "returns")
        else:
            panel = validate(read_table(args.path, args.time_column), args.kind)
        target = resolve_target(panel.names, args.target)
    except InputDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out_dir = args.out_dir or settings.output_dir / "cli"
    steps, n = panel.data.shape
    cal = calibrate(
        n,
        steps,
        settings.max_lag,
        settings.alpha,
        market_runner(settings.max_lag, settings.alpha),
        settings.calibration_markets,
        settings.output_dir / "calibration",
        progress=lambda msg: print(msg, file=sys.stderr),
    )
    a = analyze(
        panel.data,
        panel.names,
        cal,
        target,
        settings.max_lag,
        settings.alpha,
        horizon=settings.horizon,
        bootstrap=settings.bootstrap,
        seed=settings.seed,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    draw_graph(a, out_dir / "graph.png")
    for name, text in (
        ("methods", method_table(a)),
        ("consensus", consensus_table(a)),
        ("interventions", intervention_table(a)),
    ):
        (out_dir / f"{name}.md").write_text(text)
    print(consensus_table(a))
    print(intervention_table(a))
    print(f"graph and tables in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
