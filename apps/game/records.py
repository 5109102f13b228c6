"""The records of a quality vote: a proposal, one voter's ballot, the verdict (no router imports)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Proposal:
    """A level proposed by a peer, as raw data (it may lie or be malformed).

    Attributes:
        level: the level as plain data (``Level.to_dict`` form).
        requested_difficulty: the difficulty the level was asked for, 0..1.
        proposer: the proposing peer.
    """

    level: Mapping[str, Any]
    requested_difficulty: float
    proposer: str


@dataclass(frozen=True, slots=True)
class Ballot:
    """One voter's verdict."""

    voter: str
    verdict: str
    reason: str


@dataclass(slots=True)
class Verdict:
    """The outcome of one vote.

    Attributes:
        accepted: a quorum approved.
        level_id: the content id (empty if the level did not parse).
        ballots: every voter's verdict and reason.
        metrics: the solver's numbers (empty if unsolvable or unparsable).
        reason: the router's tally explanation.
    """

    accepted: bool
    level_id: str
    ballots: list[Ballot] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the world document."""
        return {
            "accepted": self.accepted,
            "level": self.level_id,
            "ballots": [
                {"voter": b.voter, "verdict": b.verdict, "reason": b.reason} for b in self.ballots
            ],
            "approvals": sum(b.verdict == "approve" for b in self.ballots),
            "reason": self.reason,
        }
