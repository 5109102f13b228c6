"""Command line: ``python -m apps.folding fold --sequence HPHP... [--lattice 3d]`` or ``--fasta file``.

Files are named after the chain: a FASTA record's id, or for ``--sequence`` its ``--name``
(default: the letters themselves, or for a long sequence its first letters and a hash), so
folding a second sequence into the same ``--out`` directory keeps the first one's files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apps.folding.exceptions import FoldingError
from apps.folding.render import write_outputs
from apps.folding.sequence import parse_sequence, read_fasta, sequence_name
from apps.folding.settings import get_folding_settings
from apps.folding.swarm import fold, lie_mix
from patterns.core.cli import SETTINGS_ERRORS, int_at_least, report_settings_error

_OPTION_OF = {"budget_moves": "budget", "output_dir": "out"}  # setting -> option


def main(argv: list[str] | None = None) -> int:
    """Fold one sequence or every record of a FASTA file; print the result; exit 2 on bad input."""
    ap = argparse.ArgumentParser(prog="python -m apps.folding", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fold", help="fold sequences with the swarm")
    src = f.add_mutually_exclusive_group(required=True)
    src.add_argument("--sequence", help="an HP string or an amino-acid sequence")
    src.add_argument("--fasta", type=Path, help="a FASTA file of one or more sequences")
    f.add_argument(
        "--name",
        help="name of a --sequence in outputs and file names (default: the sequence itself, "
        "or its first letters and a hash when long)",
    )
    f.add_argument("--alphabet", default="auto", choices=["auto", "hp", "protein"])
    f.add_argument(
        "--lattice", choices=["2d", "3d"], help="default: SWARMKIT_FOLDING__LATTICE or 2d"
    )
    f.add_argument("--agents", type=int, help="folding agents")
    f.add_argument("--budget", type=int, help="Monte Carlo moves per sequence for the whole swarm")
    f.add_argument("--epochs", type=int, help="rounds of search then sharing")
    f.add_argument("--byzantine", type=int_at_least(0), default=0, help="lying agents to inject")
    f.add_argument("--seed", type=int_at_least(0), default=0)
    f.add_argument("--out", type=Path, help="output directory (default .data/folding)")
    a = ap.parse_args(argv)
    if a.name is not None and a.fasta is not None:
        ap.error("--name applies to --sequence (FASTA records are named by their ids)")
    overrides = {
        k: v
        for k, v in {
            "lattice": a.lattice,
            "agents": a.agents,
            "budget_moves": a.budget,
            "epochs": a.epochs,
            "output_dir": a.out,
        }.items()
        if v is not None
    }
    try:
        settings = get_folding_settings(**overrides)
    except SETTINGS_ERRORS as err:  # a SWARMKIT_FOLDING__ variable, or an option, out of bounds
        return report_settings_error(err, _OPTION_OF)
    out_dir = Path(settings.output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        print(f"error: --out {out_dir} is a file; give a directory", file=sys.stderr)
        return 2
    try:  # before folding, not after it
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"error: --out {out_dir}: cannot create the directory: {err}", file=sys.stderr)
        return 2
    try:
        chains = (
            read_fasta(a.fasta, alphabet=a.alphabet, max_length=settings.max_length)
            if a.fasta
            else [
                parse_sequence(
                    a.sequence,
                    name=a.name or sequence_name(a.sequence),
                    alphabet=a.alphabet,
                    max_length=settings.max_length,
                )
            ]
        )
    except FoldingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for chain in chains:
        try:
            r = fold(
                chain,
                settings,
                seed=a.seed,
                byzantine=lie_mix(a.byzantine),
                progress=lambda e, n, b: print(f"  epoch {e}/{n}: best {b}", file=sys.stderr),
            )
        except FoldingError as err:
            print(f"error: {chain.name}: {err}", file=sys.stderr)
            return 2
        paths = write_outputs(r, out_dir)
        print(f"{r.name} ({len(r.hp)} residues, {r.lattice}): energy {r.energy} by {r.winner}")
        print(f"  hp {r.hp}")
        print(
            f"  {r.moves:,} moves, {r.moves_per_s:,.0f} moves/s per core, best at {r.time_to_best_s:.2f} s"
        )
        for agent, why in r.liars.items():
            print(f"  rejected {agent}: {why}")
        print("  files: " + ", ".join(str(p) for p in paths.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
