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

from apps.causal.analysis import (
    OnsetParams,
    analyze,
    market_runner,
    resolve_crash_choice,
    resolve_target,
)
from apps.causal.calibrate import calibrate
from apps.causal.data import macro_returns, read_table, validate
from apps.causal.exceptions import InputDataError
from apps.causal.report import consensus_table, draw_graph, intervention_table, method_table
from apps.causal.settings import get_causal_settings
from apps.causal.simulate import MarketSpec, simulate_market
from patterns.core.cli import (
    SETTINGS_ERRORS,
    float_at_least,
    int_at_least,
    report_settings_error,
)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m apps.causal", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="write a simulated crash market to CSV")
    sim.add_argument("--series", type=int, default=8, help="assets (2..200)")
    sim.add_argument("--steps", type=int, default=1000, help="returns kept (at least 100)")
    sim.add_argument(
        "--density", type=float_at_least(0), default=1.5, help="lagged parents per asset"
    )
    sim.add_argument("--seed", type=int_at_least(0), default=0)
    sim.add_argument(
        "--out",
        type=Path,
        default=Path("market.csv"),
        help="CSV file to write (its directory is created); the true graph goes beside it",
    )
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
        p.add_argument(
            "--onset",
            default=None,
            help="crash onset t0: a time label of the table or a row number (default: detected)",
        )
        p.add_argument("--first-hit", default=None, help="the first-hit series (default: detected)")
        p.add_argument(
            "--rise-is-fall",
            action="append",
            default=[],
            metavar="NAME",
            help="a series whose rise is the bad move (unemployment, spreads); repeatable",
        )
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except SETTINGS_ERRORS as err:  # a SWARMKIT_CAUSAL__ variable out of its bounds
        return report_settings_error(err)


def _run(args: argparse.Namespace) -> int:
    settings = get_causal_settings()
    if args.command == "simulate":
        if args.out.is_dir():
            print(f"error: --out {args.out} is a directory; give a CSV file path", file=sys.stderr)
            return 2
        try:
            spec = MarketSpec(
                n_series=args.series, n_steps=args.steps, density=args.density, seed=args.seed
            )
        except ValueError as err:  # the spec names the bad value
            print(f"error: {err}", file=sys.stderr)
            return 2
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            print(f"error: --out {args.out}: cannot create its directory: {err}", file=sys.stderr)
            return 2
        m = simulate_market(spec)
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
        choice = resolve_crash_choice(
            panel.names, panel.index, args.onset, args.first_hit, args.rise_is_fall
        )
    except InputDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out_dir = args.out_dir or settings.output_dir / "cli"
    try:  # before the analysis, not after it
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"error: --out-dir {out_dir}: cannot create it: {err}", file=sys.stderr)
        return 2
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
        crash_start=choice.onset,
        source=choice.first_hit,
        detector=OnsetParams.from_settings(settings),
        rise_is_fall=choice.rise_is_fall,
    )
    draw_graph(a, out_dir / "graph.png")
    for name, text in (
        ("methods", method_table(a)),
        ("consensus", consensus_table(a)),
        ("interventions", intervention_table(a, times=panel.index)),
    ):
        (out_dir / f"{name}.md").write_text(text)
    print(consensus_table(a))
    print(intervention_table(a, times=panel.index))
    print(f"graph and tables in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
