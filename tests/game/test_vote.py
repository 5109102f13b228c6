"""The quality vote: Byzantine proposers and a dishonest voter never get bad content in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from apps.game.byzantine import bad_proposals
from apps.game.generators import generate
from apps.game.level import GeneratorKind, GenParams, Level
from apps.game.memory import GameMemory
from apps.game.settings import GameSettings
from apps.game.solver import solve
from apps.game.vote import VOTERS, Dishonesty, Proposal, QualityVote


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[GameMemory]:
    m = GameMemory(tmp_path / "mem")
    yield m
    m.close()


def _good(seed: int) -> Proposal:
    kind = list(GeneratorKind)[seed % 3]
    lv = generate(GenParams(kind=kind, difficulty=0.5), seed, author=f"peer-{seed % 5}")
    return Proposal(lv.to_dict(), 0.5, lv.author)


@pytest.mark.parametrize("liar", ["solver", "novelty"])
def test_dishonest_voter_and_byzantine_proposers(memory: GameMemory, liar: str) -> None:
    in_world = _good(100).level
    known = {Level.from_dict(in_world).level_id}
    vote = QualityVote(
        GameSettings(), memory, lambda: known, dishonest={liar: Dishonesty.APPROVE_ALL}
    )
    try:
        bad = bad_proposals(n=16, seed=1, memory_levels=[in_world])
        accepted_bad = [p for p in bad if vote.judge(p).accepted]
        assert accepted_bad == []
        good = [vote.judge(_good(s)) for s in range(6)]
        assert sum(v.accepted for v in good) >= 4
        for v in good:
            if v.accepted:
                assert v.metrics["solvable"]
    finally:
        vote.close()


def test_good_level_survives_one_dishonest_rejection(memory: GameMemory) -> None:
    vote = QualityVote(GameSettings(), memory, dishonest={"content": Dishonesty.REJECT_ALL})
    try:
        verdicts = [vote.judge(_good(s)) for s in range(4)]
        assert any(v.accepted for v in verdicts)
        ballots = {b.voter: b.verdict for b in verdicts[0].ballots}
        assert set(ballots) == set(VOTERS) and ballots["content"] == "reject"
    finally:
        vote.close()


def test_novelty_refuses_a_resubmitted_level(memory: GameMemory) -> None:
    vote = QualityVote(GameSettings(), memory)
    try:
        p = _good(7)
        first = vote.judge(p)
        assert first.accepted
        lv = Level.from_dict(p.level)
        memory.add_level(lv, solve(lv.grid).metrics())
        again = vote.judge(p)
        novelty = next(b for b in again.ballots if b.voter == "novelty")
        assert novelty.verdict == "reject" and "similarity" in novelty.reason
    finally:
        vote.close()
