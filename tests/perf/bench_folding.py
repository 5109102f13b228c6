"""Folding benchmark (`make bench NAME=folding`): the swarm on the eight 2D HP benchmarks.

Budget (fixed, stated, never steered by the answer): ``MOVES_PER_RESIDUE`` Monte
Carlo moves per residue per sequence for the whole swarm (2 agents x 6
temperatures, 8 epochs, one worker process per core). The best-known energies are
read only afterwards, to measure the gap. Every run injects 3 lying agents (one
of each kind), 24 lies in all. ``swarm_vs_single_gap`` compares the swarm with one
agent given the same total budget, at a tenth of the main budget so that gaps are
not all zero. ``moves_per_s`` / ``moves_per_s_3d`` time one agent on one core on
the 64-mer (per CPU second, so other processes sharing the core do not count;
``*_wall`` per wall second). Writes ``bench-results/folding.json`` and the per-sequence table
``bench-results/folding.md``.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

from apps.folding.lattice import check_fold
from apps.folding.render import write_outputs
from apps.folding.search import AgentConfig, ladder, new_state, run, warm_up
from apps.folding.sequence import parse_sequence
from apps.folding.settings import FoldingSettings
from apps.folding.swarm import FoldReport, fold, lie_mix
from tests.perf.run import OUT_DIR, ROOT, tracked

DATA = ROOT.parent / "shared" / "data" / "hp_benchmarks.csv"
MOVES_PER_RESIDUE = 5_000_000  # the swarm's budget per sequence: 5M moves x length
SINGLE_FRACTION = 10  # swarm vs single agent at budget / 10
SEED = 2026
LIES_PER_RUN = 3
RATE_SECONDS = 4.0  # timing runs of one agent on one core


def _rows() -> list[dict[str, str]]:
    with DATA.open() as fh:
        return list(csv.DictReader(fh))


def _settings(length: int, fraction: int = 1, agents: int = 2) -> FoldingSettings:
    return FoldingSettings(
        agents=agents,
        temperatures=6,
        t_min=0.25,
        t_max=0.9,
        epochs=8,
        budget_moves=MOVES_PER_RESIDUE * length // fraction,
        workers=2,
        isolation="process",
    )


def _rate(dim: int, hp: str) -> tuple[float, float]:
    """Moves per CPU second and per wall second of one agent (6 temperatures) on one core."""
    warm_up(dim)
    st = new_state(hp, dim, 6)
    cfg = AgentConfig(seed=1, temps=ladder(0.25, 0.9, 6))
    run(st, cfg, 2_000_000)  # settle
    moves0, cpu0, wall0 = st.moves, st.cpu_seconds, st.seconds
    while st.cpu_seconds - cpu0 < RATE_SECONDS:
        run(st, cfg, 5_000_000)
    moves = st.moves - moves0
    return moves / (st.cpu_seconds - cpu0), moves / (st.seconds - wall0)


def _bad_folds(r: FoldReport, best_known: int) -> int:
    """Reported folds (the winner and every agent's best) that are invalid or below the best known."""
    bad = 0
    chk = check_fold(r.hp, r.coords, 2)
    bad += (not chk.valid) or chk.energy != r.energy or r.energy < best_known
    bad += sum(a.best_energy < best_known for a in r.agents)
    return bad


def _gap_ratio(swarm_gap: int, single_gap: int) -> float:
    """Swarm gap over single-agent gap; 1.0 when both are 0, ``1 + swarm_gap`` when only the single agent is 0."""
    if single_gap:
        return round(swarm_gap / single_gap, 4)
    return 1.0 if swarm_gap == 0 else float(1 + swarm_gap)


def run_folding_bench() -> dict[str, float]:
    rows = _rows()
    out_dir = OUT_DIR / "folding"
    shutil.rmtree(out_dir, ignore_errors=True)
    results: list[tuple[dict[str, str], FoldReport]] = []
    singles: list[tuple[int, int]] = []  # (swarm gap, single gap) at the reduced budget
    with tracked("folding: 2D benchmarks", 2 * len(rows) + 2) as step:
        for row in rows:
            chain = parse_sequence(row["sequence"], name=row["id"])
            r = fold(chain, _settings(len(chain)), seed=SEED, byzantine=lie_mix(LIES_PER_RUN))
            write_outputs(r, out_dir, best_known=int(row["best_known_energy"]))
            results.append((row, r))
            step()
        for row in rows:
            chain = parse_sequence(row["sequence"], name=row["id"])
            best = int(row["best_known_energy"])
            sw = fold(chain, _settings(len(chain), SINGLE_FRACTION), seed=SEED + 1)
            one = fold(chain, _settings(len(chain), SINGLE_FRACTION, agents=1), seed=SEED + 1)
            singles.append((sw.energy - best, one.energy - best))
            step()
        s18 = next(r for row, r in results if row["id"] == "S1-8")
        rate_2d = _rate(2, s18.hp)
        step()
        rate_3d = _rate(3, s18.hp)
        step()
    gaps = [r.energy - int(row["best_known_energy"]) for row, r in results]
    lies = sum(
        len([v for v in r.verdicts if v.agent not in {a.name for a in r.agents}])
        for _, r in results
    )
    accepted_lies = sum(
        sum(v.accepted for v in r.verdicts if v.agent not in {a.name for a in r.agents})
        for _, r in results
    )
    swarm_gap = sum(g for g, _ in singles)
    single_gap = sum(g for _, g in singles)
    _table(results, singles, rate_2d, rate_3d)
    pic = out_dir / "S1-8-2d.png"
    if pic.exists():
        shutil.copy(pic, OUT_DIR / "folding-S1-8.png")
    return {
        "solved_2d": float(sum(g == 0 for g in gaps)),
        "gap_sum_2d": float(sum(gaps)),
        "s1_8_time_to_best_s": round(s18.time_to_best_s, 3),
        "s1_8_energy": float(s18.energy),
        "swarm_vs_single_gap": _gap_ratio(swarm_gap, single_gap),
        "swarm_gap_reduced_budget": float(swarm_gap),
        "single_gap_reduced_budget": float(single_gap),
        "moves_per_s": round(rate_2d[0]),
        "moves_per_s_3d": round(rate_3d[0]),
        "moves_per_s_wall": round(rate_2d[1]),
        "moves_per_s_3d_wall": round(rate_3d[1]),
        "byzantine_injected": float(lies),
        "byzantine_accepted": float(accepted_lies),
        "invalid_reported": float(
            sum(_bad_folds(r, int(row["best_known_energy"])) for row, r in results)
        ),
        "budget_moves_per_residue": float(MOVES_PER_RESIDUE),
        "wall_s_2d_total": round(sum(r.wall_seconds for _, r in results), 2),
    }


def _table(
    results: list[tuple[dict[str, str], FoldReport]],
    singles: list[tuple[int, int]],
    rate_2d: tuple[float, float],
    rate_3d: tuple[float, float],
) -> None:
    lines = [
        "# Folding benchmark: the swarm on the 2D HP benchmarks",
        "",
        f"Budget: {MOVES_PER_RESIDUE:,} moves per residue per sequence for the swarm (2 agents x 6 "
        "temperatures, 8 epochs, 2 worker processes); no target energy is used by the search. "
        f"Each run injected {LIES_PER_RUN} lying agents. Seed {SEED}.",
        "",
        "| id | length | best known | found | gap | time to best (s) | wall (s) | moves | moves/s/core | lies rejected | gap swarm / single at budget/10 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (row, r), (gs, g1) in zip(results, singles, strict=True):
        best = int(row["best_known_energy"])
        lines.append(
            f"| {row['id']} | {row['length']} | {best} | {r.energy} | {r.energy - best} "
            f"| {r.time_to_best_s:.2f} | {r.wall_seconds:.1f} | {r.moves:,} | {r.moves_per_s:,.0f} "
            f"| {len(r.liars)} | {gs} / {g1} |"
        )
    lines += [
        "",
        f"One agent on one core, 64-mer: {rate_2d[0]:,.0f} moves per CPU second (2D), "
        f"{rate_3d[0]:,.0f} (3D); per wall second on this (shared) machine {rate_2d[1]:,.0f} and "
        f"{rate_3d[1]:,.0f}. moves/s/core in the table is per CPU second too.",
        "Time to best is wall time from the swarm's start (workers already started) to the end of",
        "the kernel chunk (about 1M moves) in which the best energy was first reached.",
        "",
    ]
    (OUT_DIR / "folding.md").write_text("\n".join(lines))


if __name__ == "__main__":
    start = time.perf_counter()
    print(run_folding_bench(), f"{time.perf_counter() - start:.0f} s")
    print(Path(OUT_DIR / "folding.md").read_text())
