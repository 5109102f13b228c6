"""PBFT replicas re-score every candidate: injected lies are rejected and their agents named."""

from __future__ import annotations

import random

import pytest

from apps.folding.agree import Candidate, Referee, score
from apps.folding.lattice import check_fold
from apps.folding.liars import LIES, Lie, crossing_walk, lie
from patterns.net.faults import FaultPlan

HP = "HPHPPHHPHPPHPHHPPHPH"
# a valid fold of HP with energy -9 (found by the swarm, checked here)
FOLD = [
    [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 2, 0], [1, 2, 0], [2, 2, 0], [2, 1, 0], [3, 1, 0],
    [3, 2, 0], [4, 2, 0], [4, 1, 0], [5, 1, 0], [5, 0, 0], [4, 0, 0], [3, 0, 0], [2, 0, 0],
    [2, -1, 0], [1, -1, 0], [0, -1, 0], [0, 0, 0],
]  # fmt: skip


def test_reference_fold_is_valid() -> None:
    chk = check_fold(HP, FOLD, 2)
    assert chk.valid
    assert chk.energy is not None and chk.energy < 0


@pytest.mark.seeds(3)
def test_twenty_four_lies_rejected_honest_accepted(sim_seed: int) -> None:
    rng = random.Random(sim_seed)
    energy = check_fold(HP, FOLD, 2).energy
    assert energy is not None
    ref = Referee(HP, 2, replicas=4, seed=sim_seed, plan=FaultPlan(seed=sim_seed, loss=0.05))
    honest = ref.judge(Candidate("honest", FOLD, energy, HP))
    assert honest.accepted and honest.accepts >= 3 and honest.energy == energy
    for k in range(24):
        kind = LIES[k % len(LIES)]
        c = lie(kind, f"liar-{k}", HP, 2, FOLD, energy, rng)
        assert c.energy < energy  # every lie is tempting
        v = ref.judge(c)
        assert not v.accepted, (kind, v)
        assert v.agent == f"liar-{k}"
        expected = {
            Lie.FALSE_ENERGY: "false energy",
            Lie.SELF_CROSSING: "invalid fold",
            Lie.OTHER_SEQUENCE: "fold of another sequence",
        }[kind]
        assert v.reason.startswith(expected)


def test_one_faulty_replica_cannot_pass_a_lie_or_block_the_truth() -> None:
    energy = check_fold(HP, FOLD, 2).energy
    assert energy is not None
    always_yes = lambda op: {"ok": True, "energy": op.get("energy"), "reason": ""}  # noqa: E731
    ref = Referee(HP, 2, seed=1, faulty={2: always_yes})
    bad = ref.judge(Candidate("liar", FOLD, energy - 2, HP))
    assert not bad.accepted and bad.accepts == 1
    always_no = lambda op: {"ok": False, "energy": None, "reason": "no"}  # noqa: E731
    ref2 = Referee(HP, 2, seed=2, faulty={0: always_no})
    good = ref2.judge(Candidate("honest", FOLD, energy, HP))
    assert good.accepted and good.accepts == 3


def test_two_faulty_replicas_of_four_would_break_it_so_seven_are_used() -> None:
    energy = check_fold(HP, FOLD, 2).energy
    assert energy is not None
    always_yes = lambda op: {"ok": True, "energy": op.get("energy"), "reason": ""}  # noqa: E731
    ref = Referee(HP, 2, replicas=7, seed=3, faulty={1: always_yes, 4: always_yes})
    assert ref.f == 2
    assert not ref.judge(Candidate("liar", FOLD, energy - 1, HP)).accepted


def test_score_rejects_malformed_candidates() -> None:
    assert score(HP, 2, {"hp": HP})["reason"] == "no coordinates"
    assert not score(HP, 2, {"hp": HP, "coords": FOLD, "energy": "-9"})["ok"]
    assert "invalid fold" in score(HP, 2, {"hp": HP, "coords": FOLD[:-1], "energy": -9})["reason"]


def test_crossing_walk_crosses() -> None:
    rng = random.Random(0)
    for n in (3, 10, 64):
        w = crossing_walk(n, 3, rng)
        assert len(w) == n and len({tuple(p) for p in w}) < n
