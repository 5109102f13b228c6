"""The swarm: valid folds never below the best known, liars named, sharing, statistics, consensus."""

from __future__ import annotations

import pytest

from apps.folding.lattice import check_fold
from apps.folding.liars import Lie
from apps.folding.sequence import parse_sequence
from apps.folding.settings import FoldingSettings
from apps.folding.swarm import fold, lie_mix, swarm_trace
from tests.folding.helpers import BENCH_CSV, benchmarks

pytestmark = pytest.mark.skipif(not BENCH_CSV.exists(), reason=f"{BENCH_CSV} is not present")

SMALL = FoldingSettings(agents=2, temperatures=4, epochs=2, budget_moves=1_500_000)


def test_no_reported_fold_is_invalid_or_below_the_best_known() -> None:
    for row in benchmarks():
        r = fold(parse_sequence(row["sequence"], name=row["id"]), SMALL, seed=1, isolation="task")
        chk = check_fold(r.hp, r.coords, 2)
        assert chk.valid, (row["id"], chk.reason)
        assert chk.energy == r.energy
        assert r.energy >= int(row["best_known_energy"]), row["id"]
        for a in r.agents:  # every agent's own best, too
            assert a.best_energy >= int(row["best_known_energy"])


def test_s1_1_reaches_its_best_known_and_names_every_liar() -> None:
    row = benchmarks()[0]
    lies = lie_mix(6)
    settings = FoldingSettings(agents=3, temperatures=5, epochs=3, budget_moves=6_000_000)
    r = fold(
        parse_sequence(row["sequence"], name="S1-1"),
        settings,
        seed=2,
        byzantine=lies,
        isolation="task",
    )
    assert r.energy == int(row["best_known_energy"])  # -9: the 20-mer is easy at this budget
    assert set(r.liars) == {f"agent-{3 + k}" for k in range(6)}
    assert {why.split(":")[0] for why in r.liars.values()} == {
        "false energy",
        "invalid fold",
        "fold of another sequence",
    }
    assert r.winner.startswith("agent-") and r.winner not in r.liars
    assert r.board_entries_rejected > 0  # agents ignored the lies they read in the shared document
    assert len(r.consensus.per_residue) == 20 and 0 < r.consensus.mean <= 1
    assert r.stats["best_energy"]["coverage"] == 3
    assert r.stats["final_energy"]["coverage"] == 3 * 5
    assert r.moves <= settings.budget_moves and r.moves > 0.9 * settings.budget_moves
    assert r.swarm_trace[-1][1] == r.energy


def test_3d_runs_through_the_same_code_path() -> None:
    settings = FoldingSettings(
        lattice="3d", agents=2, temperatures=4, epochs=2, budget_moves=1_000_000
    )
    r = fold(
        parse_sequence("HPHPPHHPHPPHPHHPPHPH"),
        settings,
        seed=3,
        byzantine=[Lie.SELF_CROSSING],
        isolation="task",
    )
    chk = check_fold(r.hp, r.coords, 3)
    assert chk.valid and chk.energy == r.energy
    assert r.energy <= -9  # 3D folds of S1-1 reach at least the 2D optimum
    assert any(c[2] != 0 for c in r.coords)
    assert "agent-2" in r.liars


def test_agents_run_as_ephemeral_worker_processes() -> None:
    settings = FoldingSettings(agents=2, temperatures=3, epochs=2, budget_moves=600_000, workers=2)
    r = fold(parse_sequence("HHPPHPPHPPHPPHPPHPPHPPHH"), settings, seed=4)
    assert check_fold(r.hp, r.coords, 2).valid
    assert all(a.moves > 0 for a in r.agents)
    pool = r.extra["agent_pool"]
    assert pool["completed"] == 2 * 2 + 2  # two agents x two epochs, plus one warm-up per worker
    assert pool["failed"] == 0 and pool["spawns"] >= 1
    assert r.energy >= -9


def test_restart_from_the_shared_best_is_tunable() -> None:
    base = {"agents": 3, "temperatures": 3, "epochs": 4, "budget_moves": 600_000}
    seq = parse_sequence("PPHPPHHPPPPHHPPPPHHPPPPHH")
    never = fold(seq, FoldingSettings(**base, restart_from_shared=0.0), seed=5, isolation="task")
    always = fold(seq, FoldingSettings(**base, restart_from_shared=1.0), seed=5, isolation="task")
    assert never.adoptions == 0 and sum(a.restarts for a in never.agents) == 0
    # with restarts on, every agent behind the shared best after an epoch adopts it
    assert always.adoptions > 0
    assert always.adoptions == sum(a.restarts for a in always.agents)


def test_swarm_trace_is_the_running_minimum() -> None:
    tr = swarm_trace([[(0.0, 0), (1.0, -3), (3.0, -5)], [(0.5, -2), (2.0, -6), (4.0, -6)]])
    assert tr == [(0.0, 0), (0.5, -2), (1.0, -3), (2.0, -6), (4.0, -6)]
