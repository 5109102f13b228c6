"""Self-healing benchmark (`make bench NAME=selfheal`): three healers on the whole catalog.

Every catalog scenario runs with 3 seeds under the judge (the healer sees the scenario
with its ground truth stripped) for: no healer (controllers alone), a rules-only
playbook and the full loop, each full-loop run with fresh memory. Healthy variants of
every scenario measure false positives. Learning runs each failure type 10 times in a
row with one shared memory. Writes ``bench-results/selfheal.json`` and the
per-scenario table ``bench-results/selfheal.md``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from apps.k8s.scenario import Scenario, load_catalog
from apps.selfheal.evaluation import (
    CaseResult,
    full_loop_runner,
    healthy_variant,
    idle_runner,
    judge_case,
    rules_runner,
    summarize,
    temp_memory,
)
from tests.perf.run import OUT_DIR, tracked

SEEDS = (0, 1, 2)
OCCURRENCES = 10  # per failure type, with memory shared across them
LEARNED = slice(4, 10)  # the 5th-10th occurrences


def _flow_run_wall_s() -> float:
    """Wall time of one flow run of one incident through Prefect (temporary server already up)."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.self_healing import self_healing

    with prefect_test_harness(server_startup_timeout=120), tempfile.TemporaryDirectory() as tmp:
        self_healing(scenario="bad-image-tag", memory_dir=tmp)  # warm-up: imports, first calls
        t0 = time.perf_counter()
        self_healing(scenario="bad-image-tag", seed=1, memory_dir=str(Path(tmp) / "b"))
        return time.perf_counter() - t0


def _table(rows: list[CaseResult], by_healer: dict[str, list[CaseResult]]) -> str:
    lines = [
        "| scenario | full heal | root cause (top1) | action | MTTR s (p50) | rules heal | rules unsafe | none heal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    grouped: dict[str, list[CaseResult]] = defaultdict(list)
    for r in rows:
        grouped[r.scenario].append(r)
    for name, rs in sorted(grouped.items()):
        rules = [r for r in by_healer["rules"] if r.scenario == name]
        none = [r for r in by_healer["none"] if r.scenario == name]
        top = rs[0].ranked_first or "-"
        cause = (
            "no action is right"
            if rs[0].no_action
            else f"{top} ({sum(r.root_top1 for r in rs)}/{len(rs)})"
        )
        mttrs = [r.mttr_s for r in rs if r.mttr_s is not None]
        lines.append(
            f"| {name} | {sum(r.healed for r in rs)}/{len(rs)} | {cause} "
            f"| {rs[0].actions[0] if rs[0].actions else '-'} | {statistics.median(mttrs) if mttrs else '-'} "
            f"| {sum(r.healed for r in rules)}/{len(rules)} | {sum(len(r.unsafe) for r in rules)} "
            f"| {sum(r.healed for r in none)}/{len(none)} |"
        )
    return "\n".join(lines) + "\n"


def run_selfheal_bench() -> dict[str, float]:
    catalog = load_catalog()
    by_healer: dict[str, list[CaseResult]] = {"none": [], "rules": [], "full": []}
    acting = sum(not sc.ground_truth.no_action for sc in catalog.values())
    runs = len(catalog) * (len(SEEDS) * 3 + 1) + acting * OCCURRENCES
    with tracked("scenario runs", runs) as tick:
        return _run(catalog, by_healer, tick)


def _run(
    catalog: dict[str, Scenario], by_healer: dict[str, list[CaseResult]], tick: Callable[[], None]
) -> dict[str, float]:
    for _name, sc in sorted(catalog.items()):
        for seed in SEEDS:
            by_healer["none"].append(judge_case(sc, seed, "none", idle_runner))
            by_healer["rules"].append(judge_case(sc, seed, "rules", rules_runner()))
            by_healer["full"].append(
                judge_case(sc, seed, "full", full_loop_runner(temp_memory(), seed=seed))
            )
            for _ in range(3):  # one per healer
                tick()
    full = summarize(by_healer["full"])
    walls = [w for r in by_healer["full"] for w in r.iteration_wall_ms]
    incident_walls = [w for r in by_healer["full"] for w in r.incident_wall_ms]
    false_positive = 0
    for _name, sc in sorted(catalog.items()):
        calm = judge_case(healthy_variant(sc), 0, "full", full_loop_runner(temp_memory()))
        false_positive += len(calm.actions)
        tick()
    mttr_ratios, attempt_ratios, attempt_floors = [], [], []
    first_attempts, later_attempts = [], []
    for _name, sc in sorted(catalog.items()):
        if sc.ground_truth.no_action:  # nothing to learn to do faster: the loop must not act
            continue
        memory = temp_memory()
        seq = []
        for i in range(OCCURRENCES):
            seq.append(judge_case(sc, 100 + i, "full", full_loop_runner(memory, seed=100 + i)))
            tick()
        first, later = seq[0], seq[LEARNED]
        later_mttr = [r.mttr_s for r in later if r.mttr_s is not None]
        if first.mttr_s and later_mttr:
            mttr_ratios.append(statistics.mean(later_mttr) / first.mttr_s)
        attempt_ratios.append(statistics.mean(r.attempts for r in later) / max(first.attempts, 1))
        # An incident that needs an action needs at least one: the best any learner can do.
        attempt_floors.append(1 / max(first.attempts, 1))
        first_attempts.append(first.attempts)
        later_attempts.extend(r.attempts for r in later)
    unsafe_full = full["unsafe_actions"]
    quiet = [r for r in by_healer["full"] if r.no_action]
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "selfheal.md").write_text(
        f"# Self-healing benchmark: {len(catalog)} scenarios x {len(SEEDS)} seeds\n\n"
        + _table(by_healer["full"], by_healer)
    )
    return {
        "scenarios": float(len(catalog)),
        "no_action_scenarios": float(sum(sc.ground_truth.no_action for sc in catalog.values())),
        "no_action_kept_rate": round(sum(not r.actions for r in quiet) / max(len(quiet), 1), 4),
        "runs_per_healer": full["runs"],
        "heal_rate": full["heal_rate"],
        "rules_heal_rate": summarize(by_healer["rules"])["heal_rate"],
        "none_heal_rate": summarize(by_healer["none"])["heal_rate"],
        "unsafe_actions": unsafe_full,
        "rules_unsafe_actions": summarize(by_healer["rules"])["unsafe_actions"],
        "false_positive_actions": float(false_positive),
        "root_cause_top1": full["root_cause_top1"],
        "root_cause_top3": full["root_cause_top3"],
        "mttr_p50_s": full["mttr_p50_s"],
        "mttr_p95_s": full["mttr_p95_s"],
        "rules_mttr_p50_s": summarize(by_healer["rules"])["mttr_p50_s"],
        "mttr_learning_ratio": round(statistics.mean(mttr_ratios), 4) if mttr_ratios else -1.0,
        "attempts_learning_ratio": round(statistics.mean(attempt_ratios), 4),
        "attempts_learning_floor": round(statistics.mean(attempt_floors), 4),
        "attempts_first_mean": round(statistics.mean(first_attempts), 4),
        "attempts_later_mean": round(statistics.mean(later_attempts), 4),
        # Share of the attempts beyond the first that learning removed (1.0: all of them).
        "attempts_extra_removed": round(
            1 - (statistics.mean(later_attempts) - 1) / (statistics.mean(first_attempts) - 1), 4
        )
        if statistics.mean(first_attempts) > 1
        else -1.0,
        "iteration_wall_p50_ms": round(statistics.median(walls), 3),
        "iteration_wall_p95_ms": round(sorted(walls)[int(0.95 * (len(walls) - 1))], 3),
        "incident_iteration_wall_p50_ms": round(statistics.median(incident_walls), 3),
        "flow_run_wall_s": round(_flow_run_wall_s(), 3),
    }
