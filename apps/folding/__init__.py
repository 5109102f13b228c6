"""App 7: protein folding on the HP lattice by a Byzantine-tolerant swarm of folding agents."""

from __future__ import annotations

from apps.folding.agree import Candidate, Referee, Verdict
from apps.folding.exceptions import (
    AgentsFailedError,
    AgreementError,
    FoldFormatError,
    FoldingError,
    SequenceError,
)
from apps.folding.lattice import FoldCheck, check_fold
from apps.folding.liars import Lie
from apps.folding.sequence import Alphabet, Sequence, parse_fasta, parse_sequence, read_fasta
from apps.folding.settings import FoldingSettings, Lattice, get_folding_settings
from apps.folding.swarm import FoldReport, Swarm, fold, lie_mix

__all__ = [
    "AgentsFailedError",
    "AgreementError",
    "Alphabet",
    "Candidate",
    "FoldCheck",
    "FoldFormatError",
    "FoldReport",
    "FoldingError",
    "FoldingSettings",
    "Lattice",
    "Lie",
    "Referee",
    "Sequence",
    "SequenceError",
    "Swarm",
    "Verdict",
    "check_fold",
    "fold",
    "get_folding_settings",
    "lie_mix",
    "parse_fasta",
    "parse_sequence",
    "read_fasta",
]
