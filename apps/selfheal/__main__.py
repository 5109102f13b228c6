"""Command line: ``python -m apps.selfheal run --scenario path/to.yaml`` (no Prefect needed).

``run`` heals the simulated cluster a scenario describes and prints what the loop did;
the loop never reads the scenario's ground truth. ``judge`` runs the same loop under the
judge, which does read it, and prints the verdict (healed, recovery time, root cause).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from apps.k8s.exceptions import ScenarioError
from apps.k8s.scenario import load_scenario
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal.loop import Healer
from apps.selfheal.report import incident_markdown, incident_rows, summary_lines
from patterns.core.cli import (
    SETTINGS_ERRORS,
    float_at_least,
    int_at_least,
    report_settings_error,
)

DEFAULT_HORIZON_S = 900.0


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m apps.selfheal", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "heal a scenario's simulated cluster"),
        ("judge", "heal it and score the result"),
    ):
        p = sub.add_parser(name, help=text)
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--scenario", help="a scenario YAML file or a catalog name")
        if name == "judge":
            where.add_argument(
                "--dir", type=Path, help="judge every *.yaml scenario in this folder"
            )
        p.add_argument(
            "--seed",
            type=int_at_least(0),
            default=0,
            help="seed of the simulated cluster (default 0)",
        )
        p.add_argument(
            "--memory", type=Path, default=None, help="memory directory (default: settings)"
        )
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        if name == "run":
            p.add_argument(
                "--max-incidents",
                type=int_at_least(1),
                default=1,
                help="stop after this many (default 1)",
            )
            p.add_argument(
                "--horizon",
                type=float_at_least(0, strict=True),
                default=DEFAULT_HORIZON_S,
                help="seconds to watch after the last fault (default 900)",
            )
            p.add_argument(
                "--details", action="store_true", help="print each incident's full record"
            )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for a bad scenario file or setting)."""
    args = _args(argv)
    try:
        return _main(args)
    except SETTINGS_ERRORS as err:  # a SWARMKIT_SELFHEAL__ / SWARMKIT_K8S__ ... variable
        return report_settings_error(err)


def _main(args: argparse.Namespace) -> int:
    if args.command == "judge" and args.dir is not None:
        return _judge_dir(args.dir, args.seed, args.json)
    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.command == "judge":
        from apps.selfheal.evaluation import case_row, full_loop_runner, judge_case, temp_memory

        result = judge_case(
            sc, args.seed, "full", full_loop_runner(args.memory or temp_memory(), seed=args.seed)
        )
        row = case_row(result)
        print(
            json.dumps(row, indent=2)
            if args.json
            else "\n".join(f"{k}: {v}" for k, v in row.items())
        )
        return 0 if result.healed else 1
    sim = SimCluster.from_scenario(sc, args.seed)
    last_fault = max((f.at_s for f in sc.faults), default=0.0)
    healer = Healer(sim, memory_dir=args.memory, seed=args.seed)
    try:
        trajs = healer.run(
            healer.now_s() + last_fault + args.horizon, max_incidents=args.max_incidents
        )
    finally:
        healer.close()
    if args.json:
        print(json.dumps([t.to_dict() for t in trajs], indent=2, default=str))
    else:
        print(f"{len(trajs)} incident(s) in {sim.now:.0f} simulated seconds")
        for line in summary_lines(trajs):
            print("  " + line)
        if args.details:
            for t in trajs:
                print(incident_markdown(t))
    return 0 if all(r["outcome"] == "healed" for r in incident_rows(trajs)) else 1


def _judge_dir(directory: Path, seed: int, as_json: bool) -> int:
    """Judge every scenario file of a folder, with a progress bar and a summary."""
    from rich.progress import Progress

    from apps.selfheal.evaluation import (
        case_row,
        full_loop_runner,
        judge_case,
        summarize,
        temp_memory,
    )

    if not directory.is_dir():
        what = "is not a directory" if directory.exists() else "does not exist"
        print(f"error: --dir {directory} {what}", file=sys.stderr)
        return 2
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        print(f"error: no *.yaml scenario files in {directory}", file=sys.stderr)
        return 2
    scenarios, bad = [], 0
    for f in files:  # validate every file before running any; name every bad one
        try:
            scenarios.append(load_scenario(f))
        except ScenarioError as err:
            print(f"error: {err}", file=sys.stderr)
            bad += 1
    if bad:
        print(f"error: {bad} of {len(files)} scenario files are invalid", file=sys.stderr)
        return 2
    results = []
    with Progress(transient=True) as progress:
        bar = progress.add_task("judging scenarios", total=len(scenarios))
        for sc in scenarios:
            progress.update(bar, description=f"judging {sc.name}")
            results.append(judge_case(sc, seed, "full", full_loop_runner(temp_memory(), seed=seed)))
            progress.advance(bar)
    rows = [case_row(r) for r in results]
    summary = summarize(results)
    if as_json:
        print(json.dumps({"cases": rows, "summary": summary}, indent=2, default=str))
    else:
        for r in rows:
            mttr = f"{r['mttr_s']:.0f}s" if r["mttr_s"] is not None else "-"
            print(
                f"{'healed' if r['healed'] else 'FAILED':7s} {r['scenario']:32s} mttr={mttr:6s} cause={r['root_cause'] or '-'}"
            )
        print(", ".join(f"{k}={v}" for k, v in summary.items()))
    return 0 if all(r.healed for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
