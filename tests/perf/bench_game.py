"""Game benchmark (`make bench NAME=game`): generation rate, the vote under attack, convergence, personalization.

Keys (bench-results/game.json):

* ``levels_generated_per_s``: levels generated (layout + furnishing + the generator's own
  solver check) per second, all three families, 24x16.
* ``solvable_rate_accepted``: share of accepted levels the solver (re-run here) solves.
* ``bad_content_accepted``: bad proposals (unsolvable, oversized, malformed, copies of
  accepted levels) accepted, out of ``bad_proposals`` (>= 100), with one voter dishonest.
* ``byzantine_voters_tolerated``: dishonest voters (approve-all, each of the five in turn)
  under which no bad proposal was accepted and good levels still were (1 of 5).
* ``convergence_ms_after_partition``: p95 over seeds of virtual ms from heal to equal
  replicas, 20 simulated peers split in halves that kept generating (each side's levels
  through its own quality vote) and rating.
* ``browser_convergence_ms``: p50 wall ms from a rating made in Chromium until the Python
  peer holds it (through the real server); -1 when the browser cannot run here.
* ``personalization_gain``: mean rating in the last session over the first (bandit);
  ``random_baseline_gain`` the same for random offers.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from apps.game.byzantine import bad_proposals
from apps.game.cluster import partition_scenario
from apps.game.generators import generate
from apps.game.level import GeneratorKind, GenParams, Level
from apps.game.memory import GameMemory
from apps.game.personalize import run_personalization
from apps.game.settings import GameSettings
from apps.game.solver import solve
from apps.game.vote import VOTERS, Dishonesty, Proposal, QualityVote
from tests.perf.run import OUT_DIR, tracked

GEN_LEVELS = 300
GOOD_PER_ROUND = 12
BAD_PER_ROUND = 24  # x 5 dishonest voters = 120 bad proposals
PARTITION_SEEDS = 10
BROWSER_ROUNDS = 20


def _generation_rate() -> float:
    kinds = list(GeneratorKind)
    t0 = time.perf_counter()
    for i in range(GEN_LEVELS):
        generate(GenParams(kind=kinds[i % 3], difficulty=(i % 11) / 10, style=(i % 7) / 6), i)
    return GEN_LEVELS / (time.perf_counter() - t0)


def _vote_under_attack(tmp: Path) -> dict[str, float]:
    settings = GameSettings()
    bad_total = bad_accepted = accepted_total = solvable = 0
    tolerated = 0
    with tracked("game: vote with each voter dishonest", len(VOTERS)) as step:
        for r, liar in enumerate(VOTERS):
            memory = GameMemory(tmp / f"vote-{liar}")
            known: set[str] = set()
            vote = QualityVote(
                settings, memory, functools.partial(set.copy, known), {liar: Dishonesty.APPROVE_ALL}
            )
            good_in = 0
            accepted_levels = []
            for i in range(GOOD_PER_ROUND):
                lv = generate(
                    GenParams(kind=list(GeneratorKind)[i % 3], difficulty=(i % 5) / 4),
                    10_000 * r + i,
                )
                v = vote.judge(Proposal(lv.to_dict(), lv.params.difficulty, f"peer-{i % 5}"))
                if v.accepted:
                    good_in += 1
                    memory.add_level(lv, v.metrics)
                    known.add(lv.level_id)
                    accepted_levels.append(lv.to_dict())
            bad = bad_proposals(BAD_PER_ROUND, seed=r, memory_levels=accepted_levels)
            bad_in = 0
            for p in bad:
                v = vote.judge(p)
                bad_in += v.accepted
                if v.accepted:
                    accepted_levels.append(dict(p.level))
            for rec in accepted_levels:
                with contextlib.suppress(Exception):
                    solvable += solve(Level.from_dict(rec).grid).solvable
            accepted_total += len(accepted_levels)
            bad_total += len(bad)
            bad_accepted += bad_in
            tolerated += int(bad_in == 0 and good_in > 0)
            vote.close()
            memory.close()
            step()
    return {
        "solvable_rate_accepted": solvable / max(1, accepted_total),
        "bad_content_accepted": float(bad_accepted),
        "bad_proposals": float(bad_total),
        "byzantine_voters_tolerated": 1.0 if tolerated == len(VOTERS) else 0.0,
        "dishonest_voter_rounds_safe": float(tolerated),
    }


def _partition(tmp: Path) -> dict[str, float]:
    times = []
    ok = 0
    with tracked("game: partitions of 20 peers", PARTITION_SEEDS) as step:
        for seed in range(PARTITION_SEEDS):
            # each side of the partition votes with its own memory, as cut-off peers must
            memories = [GameMemory(tmp / f"part-{seed}-{i}") for i in range(2)]
            votes = [QualityVote(GameSettings(), m) for m in memories]
            r = partition_scenario(20, seed, judges=[v.admit for v in votes])
            for v, m in zip(votes, memories, strict=True):
                v.close()
                m.close()
            times.append(r.convergence_ms)
            ok += int(r.converged and r.nothing_lost)
            step()
    return {
        "convergence_ms_after_partition": float(np.percentile(times, 95)),
        "convergence_ms_after_partition_p50": float(np.percentile(times, 50)),
        "partition_runs_converged": float(ok),
    }


def _personalization(tmp: Path) -> dict[str, float]:
    memory = GameMemory(tmp / "ratings")
    gains, bases = [], []
    with tracked("game: simulated players", 2) as step:
        for seed in (0, 1):
            gains.append(run_personalization("bandit", seed=seed, memory=memory).gain)
            bases.append(run_personalization("random", seed=seed).gain)
            step()
    memory.close()
    return {
        "personalization_gain": statistics.mean(gains),
        "random_baseline_gain": statistics.mean(bases),
    }


def _browser(tmp: Path) -> dict[str, float]:
    from tests.game.browser import run, skip_reason

    reason = skip_reason()
    if reason is not None:
        print(f"browser part skipped: {reason}")
        return {"browser_convergence_ms": -1.0}
    out = run(tmp / "server", screenshot=OUT_DIR / "game.png", rounds=BROWSER_ROUNDS)
    return {
        "browser_convergence_ms": float(out["browser_convergence_ms"]),
        "browser_pages_converged": float(out["converged"]),
    }


def run_game_bench() -> dict[str, float]:
    """Run every part; one flat dict of numbers."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out: dict[str, float] = {"levels_generated_per_s": _generation_rate()}
        out.update(_vote_under_attack(tmp))
        out.update(_partition(tmp))
        out.update(_browser(tmp))
        out.update(_personalization(tmp))
    return {k: round(v, 4) for k, v in out.items()}
