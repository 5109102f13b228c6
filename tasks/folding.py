"""Prefect tasks of the folding app: thin wrappers over :mod:`apps.folding`.

Parsing never retries (bad input stays bad); folding retries once only on a
retryable error (every agent of an epoch crashed); writing outputs is local.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from apps.folding.render import write_outputs
from apps.folding.sequence import Sequence as Chain
from apps.folding.sequence import parse_sequence, read_fasta
from apps.folding.settings import FoldingSettings
from apps.folding.swarm import FoldReport, fold, lie_mix
from tasks.retry import retry_if_retryable


@task(name="folding-read-input", retries=0, cache_policy=NO_CACHE)
def read_input(
    sequence: str | None, fasta: str | None, alphabet: str, max_length: int
) -> list[Chain]:
    """The chains to fold: one sequence, or every record of a FASTA file (errors name the position)."""
    if (sequence is None) == (fasta is None):
        given = (
            f"both were given (sequence={sequence!r}, fasta={fasta!r}; a deployment's default "
            "parameters count too: pass the other one as null)"
            if sequence is not None
            else "neither was given"
        )
        raise ValueError(f"give exactly one of sequence= or fasta=: {given}")
    if fasta is not None:
        return read_fasta(fasta, alphabet=alphabet, max_length=max_length)
    assert sequence is not None
    return [parse_sequence(sequence, alphabet=alphabet, max_length=max_length)]


@task(
    name="folding-swarm",
    retries=1,
    retry_delay_seconds=2,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=24 * 3600,
    persist_result=False,
    cache_policy=NO_CACHE,
)
def fold_chain(
    chain: Chain, settings: FoldingSettings, seed: int = 0, byzantine: int = 0
) -> FoldReport:
    """Fold one chain with the swarm: ephemeral agents, shared best folds, PBFT agreement."""
    return fold(chain, settings, seed=seed, byzantine=lie_mix(byzantine))


@task(name="folding-write-outputs", retries=0, cache_policy=NO_CACHE)
def write_fold_outputs(
    report: FoldReport, output_dir: str, best_known: int | None = None
) -> dict[str, str]:
    """Write the fold JSON, PDB-like text, fold PNG, energy curve and report; return their paths."""
    return {k: str(p) for k, p in write_outputs(report, Path(output_dir), best_known).items()}


def summary_row(report: FoldReport, files: dict[str, str]) -> dict[str, Any]:
    """One row of the run's table (pure formatting, not a task)."""
    return {
        "name": report.name,
        "length": len(report.hp),
        "lattice": report.lattice,
        "energy": report.energy,
        "winner": report.winner,
        "moves": report.moves,
        "moves_per_s": round(report.moves_per_s),
        "time_to_best_s": round(report.time_to_best_s, 3),
        "liars": ", ".join(sorted(report.liars)) or "-",
        "json": files.get("json", ""),
    }
