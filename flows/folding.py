"""App 7: HP-lattice protein folding by a Byzantine-tolerant swarm of folding agents, as a Prefect flow.

``folding`` reads an HP string, an amino-acid sequence (mapped to H/P by the sign of
its Kyte-Doolittle hydropathy) or a FASTA file, folds each chain with the swarm
(replica-exchange Monte Carlo agents with pull moves, sharing their best folds by
gossip, agreeing on the result by PBFT among replicas that re-score every
candidate) and leaves the fold, its picture, the energy curves and the rejected
lies as artifacts and files. ``python -m flows.folding`` runs a short demo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from apps.folding.render import agent_rows, png_markdown, summary_markdown, verdict_rows
from apps.folding.settings import get_folding_settings
from tasks.folding import fold_chain, read_input, summary_row, write_fold_outputs

DEMO_SEQUENCE = "HPHPPHHPHPPHPHHPPHPH"  # the 20-mer S1-1 of the standard 2D benchmarks


@flow(name="folding", log_prints=True, persist_result=False)
def folding(
    sequence: str | None = None,
    fasta: str | None = None,
    lattice: str | None = None,
    alphabet: str = "auto",
    agents: int | None = None,
    budget_moves: int | None = None,
    byzantine: int = 0,
    seed: int = 0,
    output_dir: str | None = None,
) -> dict[str, Any]:
    """Fold one sequence (or every record of a FASTA file) with the swarm.

    Args:
        sequence: an HP string (``HPPH...``) or an amino-acid sequence.
        fasta: a FASTA file of one or more sequences (instead of ``sequence``).
        lattice: ``2d`` or ``3d``; default ``SWARMKIT_FOLDING__LATTICE`` (2d).
        alphabet: ``auto`` (HP if only H and P occur), ``hp`` or ``protein``.
        agents: folding agents (default from settings).
        budget_moves: Monte Carlo moves per sequence for the whole swarm.
        byzantine: lying agents to inject (false energy, self-crossing fold, other sequence).
        seed: seeds the agents and the simulated replicas.
        output_dir: where files go (default ``SWARMKIT_FOLDING__OUTPUT_DIR``, ``.data/folding``).

    Returns:
        One row per chain: energy, winner, moves, time to best, liars named, file paths.
    """
    log = get_run_logger()
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"lattice": lattice, "agents": agents, "budget_moves": budget_moves}.items()
        if v is not None
    }
    settings = get_folding_settings(**overrides)
    out = output_dir or str(settings.output_dir)
    chains = read_input(sequence, fasta, alphabet, settings.max_length)
    rows = []
    for chain in chains:
        report = fold_chain(chain, settings, seed=seed, byzantine=byzantine)
        files = write_fold_outputs(report, out)
        rows.append(summary_row(report, files))
        log.info(
            "%s: energy %d by %s (%d moves, %.0f moves/s); rejected: %s",
            chain.name,
            report.energy,
            report.winner,
            report.moves,
            report.moves_per_s,
            report.liars or "none",
        )
        key = "".join(c if c.isalnum() else "-" for c in chain.name.lower())[:40]
        create_markdown_artifact(
            key=f"folding-{key}",
            markdown=summary_markdown(report),
            description=f"{chain.name}: fold, rejected lies, swarm statistics, consensus",
        )
        create_markdown_artifact(
            key=f"folding-{key}-fold",
            markdown=png_markdown(Path(files["png"]), f"{chain.name}: E = {report.energy}")
            + f"\nFiles: `{files['json']}`, `{files['pdb']}`\n",
            description="The fold on the lattice (H red, P blue, H-H contacts dashed)",
        )
        create_markdown_artifact(
            key=f"folding-{key}-energy",
            markdown=png_markdown(Path(files["curve"]), f"{chain.name}: energy vs time"),
            description="Best energy over time, swarm and each agent",
        )
        create_table_artifact(
            key=f"folding-{key}-agents", table=agent_rows(report), description="Folding agents"
        )
        create_table_artifact(
            key=f"folding-{key}-verdicts",
            table=verdict_rows(report),
            description="Every candidate as the PBFT replicas judged it",
        )
    create_table_artifact(key="folding-runs", table=rows, description="Folded chains")
    return {"chains": rows}


if __name__ == "__main__":
    print(folding(sequence=DEMO_SEQUENCE, budget_moves=20_000_000, byzantine=3))
