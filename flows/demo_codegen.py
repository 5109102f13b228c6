"""Demo flow of pattern 1: a repair episode that learns from the ones before it.

A small seeded repair suite is built from HumanEval (bugs injected into canonical
solutions, each verified to fail the problem's tests). The agent first repairs the
held-out bugs with no memory, then trains on other bugs (each trajectory is stored
and distilled into strategy and pitfall memories), then repairs the held-out bugs
again with what it recalls. Held-out episodes never learn and are never stored: the
bank the demo keeps holds training trajectories only. For one of them the winning
edit is written to a file with the fast edit engine; its trajectory and recalled
memories become artifacts.

The demo's handful of held-out bugs cannot show whether memory helps: it reports the
paired counts with McNemar's exact p-value and says so when the difference is not
significant (the benchmark, ``make bench NAME=codegen``, measures it on 224 bugs).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from patterns.codegen.agent import Episode, episode_row
from patterns.codegen.evaluation import mcnemar
from patterns.memory import MemorySettings
from tasks.codegen import (
    apply_edit,
    build_repair_suite,
    recall_strategies,
    repair_episode,
)

DEMO_PROBLEMS = list(range(0, 40, 2))  # 20 problems: half train, half held out
DEMO_NAMESPACE = "codegen-demo"
SIGNIFICANCE = 0.05  # McNemar p below which the demo calls a difference significant


def demo_workdir(uri: str) -> Path:
    """The default directory of the demo's files for memory ``uri`` (see :func:`codegen_demo`)."""
    if "://" in uri and not uri.startswith("file://"):
        return Path(tempfile.mkdtemp(prefix="codegen-demo-"))
    return Path(uri.removeprefix("file://")).expanduser().parent / "codegen-demo"


def verdict_text(p_value: float, n: int) -> str:
    """What a paired comparison on ``n`` tasks supports, in words."""
    if p_value < SIGNIFICANCE:
        return f"a significant difference on {n} bugs"
    return (
        f"no significant difference on {n} bugs; the benchmark (make bench NAME=codegen) "
        "measures the effect"
    )


def _step_rows(episode: Episode) -> list[dict[str, Any]]:
    return [
        {
            "attempt": step.index + 1,
            "edit": step.description,
            "tags": ", ".join(step.tags[:2]),
            "applied": step.applied,
            "tests": (
                "pass"
                if step.succeeded
                else (step.outcome.signature if step.outcome else step.apply_error)
            ),
        }
        for step in episode.trajectory.steps
    ]


@flow(name="codegen-demo", log_prints=True)
def codegen_demo(
    uri: str = ".data/lancedb",
    table: str = "codegen_demo",
    seed: int = 0,
    train_tasks: int = 10,
    budget: int = 3,
    workdir: str | None = None,
) -> dict[str, Any]:
    """Repair held-out HumanEval bugs before and after learning from training episodes.

    Args:
        uri: the LanceDB URI of the bank (created when missing).
        table: its table.
        seed: the repair suite's seed.
        train_tasks: training episodes stored in the bank.
        budget: attempts per held-out episode.
        workdir: where the repaired file is written; by default ``codegen-demo`` next to
            a local ``uri`` (``.data/codegen-demo`` for the default URI), or a fresh
            temporary directory for an object-store URI. Never the working directory
            unless asked.
    """
    logger = get_run_logger()
    settings = MemorySettings(uri=uri, table=table, create_if_missing=True)
    files = Path(workdir) if workdir is not None else demo_workdir(uri)
    suite = build_repair_suite(seed=seed, bugs_per_problem=1, problems=DEMO_PROBLEMS)
    logger.info("suite: %d training and %d held-out bugs", len(suite.train), len(suite.heldout))
    cold = [
        repair_episode(task, budget=budget, learn=False, use_bank=False) for task in suite.heldout
    ]
    trained = suite.train[:train_tasks]
    for task in trained:
        repair_episode(task, budget=10, learn=True, settings=settings, namespace=DEMO_NAMESPACE)
    warm = [
        repair_episode(
            task, budget=budget, learn=False, settings=settings, namespace=DEMO_NAMESPACE
        )
        for task in suite.heldout
    ]
    # Show the held-out task memory helped most (fewest attempts against the cold run).
    pick = min(
        range(len(warm)),
        key=lambda i: (not warm[i].success, warm[i].attempts - cold[i].attempts, i),
    )
    target, episode = suite.heldout[pick], warm[pick]
    memories = recall_strategies(
        str(episode.trajectory.context["query"]), k=5, settings=settings, namespace=DEMO_NAMESPACE
    )
    # Held-out trajectories are evaluation data: never stored in the bank the demo keeps.
    fixed_path = None
    win = episode.trajectory.winning_step
    if win is not None:
        path = files / f"{target.problem.entry_point}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(target.buggy_source)
        apply_edit(str(path), win.edit, win.format)
        fixed_path = str(path)
        logger.info("applied the winning edit to %s", path)
    create_table_artifact(
        key="codegen-demo-trajectory",
        table=_step_rows(episode),
        description=f"Repair trajectory of {target.task_id} with recalled memories",
    )
    create_table_artifact(
        key="codegen-demo-memories",
        table=[
            {
                "rank": i,
                "kind": r.item.kind,
                "title": r.item.title,
                "description": r.item.description,
                "tags": ", ".join(r.item.tags[:2]),
                "similarity": round(r.similarity, 3),
                "reliability": round(r.reliability, 3),
                "rank_score": round(r.rank, 3),
            }
            for i, r in enumerate(memories, 1)
        ],
        description="Memories recalled for the held-out task",
    )
    test1 = mcnemar([e.solved_within(1) for e in warm], [e.solved_within(1) for e in cold])
    summary = {
        "held_out": len(suite.heldout),
        "trained": len(trained),
        "cold_success1": sum(e.solved_within(1) for e in cold),
        "warm_success1": sum(e.solved_within(1) for e in warm),
        "cold_solved": sum(e.success for e in cold),
        "warm_solved": sum(e.success for e in warm),
        "p_value1": test1.p_value,
    }
    verdict = verdict_text(test1.p_value, len(suite.heldout))
    create_table_artifact(
        key="codegen-demo-episodes",
        table=[
            {"run": run, **episode_row(e)}
            for run, episodes in (("no memory", cold), ("with memory", warm))
            for e in episodes
        ],
        description="Every held-out episode, without memory and after training",
    )
    create_markdown_artifact(
        key="codegen-demo-summary",
        markdown=(
            "# Repair before and after learning\n\n"
            f"- held-out bugs: {summary['held_out']}\n"
            f"- solved at the first attempt: {summary['cold_success1']} without memory, "
            f"{summary['warm_success1']} with memory\n"
            f"- solved within {budget} attempts: {summary['cold_solved']} without memory, "
            f"{summary['warm_solved']} with memory\n"
            f"- paired McNemar exact test at the first attempt: p = {test1.p_value:.3f}: "
            f"{verdict}\n"
            f"- shown: {target.task_id}, {cold[pick].attempts} attempt(s) without memory, "
            f"{episode.attempts} with memory\n"
            f"- the bank holds {summary['trained']} training trajectories and no held-out one\n"
        ),
        description="Held-out bugs repaired with an empty bank and after training",
    )
    print(
        f"codegen: {summary['held_out']} held-out bugs, bank trained on {summary['trained']} "
        f"other bugs; fixed at the first attempt: {summary['cold_success1']} without memory, "
        f"{summary['warm_success1']} with memory (McNemar p={test1.p_value:.2f}: {verdict}); "
        f"within {budget} attempts: {summary['cold_solved']} and {summary['warm_solved']}; "
        f"{len(memories)} memories shown for {target.task_id}"
    )
    return {
        "target": target.task_id,
        **summary,
        "cold": episode_row(cold[pick]),
        "warm": episode_row(episode),
        "memories": len(memories),
        "fixed_path": fixed_path,
    }


if __name__ == "__main__":
    codegen_demo()
