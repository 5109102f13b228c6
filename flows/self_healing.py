"""App 11, the main job: the self-healing Kubernetes loop as a Prefect flow.

``self_healing`` runs the loop (monitor → detect → root cause → propose → vote →
validate → execute → learn, each a task) on the embedded simulated cluster built
from a scenario, or on a real cluster through the kubernetes client (dry-run by
default). ``python -m flows.self_healing`` (``make demo``) runs it over a seeded mix
of catalog scenarios that share one memory, so the second occurrence of a failure is
recognised and healed sooner.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.concurrency.sync import concurrency

from apps.k8s.scenario import scenario_names
from apps.k8s.settings import get_k8s_settings
from apps.selfheal.records import Trajectory
from apps.selfheal.report import (
    incident_markdown,
    incident_rows,
    mttr_plot,
    png_markdown,
    summary_lines,
    vote_rows,
)
from apps.selfheal.settings import get_selfheal_settings
from tasks.k8s import observe_cluster
from tasks.selfheal import connect, ensure_lock, prefect_steps, read_alert, start_healer

DEMO_MIX = 6  # incidents in `make demo`


@flow(name="self-healing", log_prints=True, persist_result=True)
def self_healing(
    cluster: Literal["sim", "real"] | None = None,
    scenario: str | None = None,
    scenario_file: str | None = None,
    max_incidents: int = 1,
    seed: int = 0,
    ticks: int = 1,
    alert: Mapping[str, Any] | None = None,
    memory_dir: str | None = None,
) -> dict[str, Any]:
    """Heal a cluster: the embedded simulated one built from a scenario, or a real one.

    Args:
        cluster: ``sim`` or ``real``; None: ``SWARMKIT_K8S__BACKEND`` (sim by default).
        scenario: A catalog scenario name (simulated cluster).
        scenario_file: A scenario YAML file written in the catalog's format (simulated cluster).
        max_incidents: Stop after this many incidents (simulated cluster).
        seed: Seed of the simulated cluster and of the in-process replicas.
        ticks: Loop iterations per run on a real cluster (the schedule runs it again).
        alert: An Alertmanager (v4) or generic alert that triggered this run.
        memory_dir: Where trajectories, the bank and the loop state live.

    Returns:
        A summary: incidents with cause, action, outcome and time to recover.
    """
    logger = get_run_logger()
    settings = get_selfheal_settings()
    backend = cluster or get_k8s_settings().backend.value
    hint = read_alert(alert) if alert is not None else None
    target, horizon, key = connect(backend, scenario, scenario_file, seed)
    memory = memory_dir or str(settings.memory_dir)
    healer = start_healer(target, memory, seed)
    state = Path(memory) / f"state-{key}.json"
    try:
        if backend == "real":
            healer.load_state(state)
        if hint is not None:
            healer.hint(hint)
            logger.info("alert %s in %s: acting at first sight", hint.alertnames, hint.namespaces)
        lock = ensure_lock(f"self-healing-{key}")
        with concurrency(lock, occupy=1, strict=True):
            before = observe_cluster(target)
            trajectories: list[Trajectory] = []
            if backend == "real":
                for _ in range(ticks):
                    traj = healer.tick(prefect_steps)
                    if traj is not None:
                        trajectories.append(traj)
                healer.save_state(state)
            else:
                trajectories = healer.run(
                    healer.now_s() + horizon, max_incidents=max_incidents, steps=prefect_steps
                )
            after = observe_cluster(target)
    finally:
        healer.close()
    for line in summary_lines(trajectories):
        logger.info(line)
    _artifacts(trajectories, before.markdown("Before"), after.markdown("After"), Path(memory))
    return {
        "incidents": incident_rows(trajectories),
        "healthy_after": after.healthy,
        "problems_after": after.problems,
        "dry_run": healer.dry_run_only,
    }


def _artifacts(trajectories: list[Trajectory], before: str, after: str, memory: Path) -> None:
    if trajectories:
        create_table_artifact(
            key="selfheal-incidents",
            table=incident_rows(trajectories),
            description="Incidents: root cause, action, votes, certificate, outcome, time to recover",
        )
        create_table_artifact(
            key="selfheal-votes", table=vote_rows(trajectories), description="Every voter's ballot"
        )
        for t in trajectories:
            create_markdown_artifact(
                key=f"selfheal-{t.incident.id}",
                markdown=incident_markdown(t),
                description="Hypotheses with evidence, proposals, PBFT certificate, execution",
            )
    create_markdown_artifact(
        key="selfheal-health",
        markdown=before + "\n" + after,
        description="Cluster health before and after the run",
    )
    png = mttr_plot(memory / "trajectories.jsonl", memory / "mttr.png")
    if png is not None:
        create_markdown_artifact(
            key="selfheal-mttr", markdown=png_markdown(png, "Time to recover across runs")
        )


@flow(name="self-healing-demo", log_prints=True)
def self_healing_demo(incidents: int = DEMO_MIX, seed: int = 7) -> list[dict[str, Any]]:
    """`make demo`: the loop over a seeded mix of catalog scenarios sharing one memory.

    The last incident repeats the first scenario the loop healed, so its second occurrence
    shows what was learned (with ``incidents=1``, no repeat).

    Raises:
        ValueError: ``incidents`` is below 1.
    """
    if isinstance(incidents, bool) or not isinstance(incidents, int) or incidents < 1:
        raise ValueError(f"incidents={incidents!r}: give at least 1 incident")
    rng = random.Random(seed)
    names = scenario_names()
    mix = rng.sample(names, k=min(max(incidents - 1, 1), len(names)))
    memory = Path(".data/selfheal-demo")
    shutil.rmtree(memory, ignore_errors=True)
    out = []
    for i, name in enumerate(mix):
        result = self_healing(scenario=name, seed=seed + i, memory_dir=str(memory))
        out.append({"scenario": name, **result})
    if incidents > 1:  # a repeat: recognised from memory the second time
        healed = [
            r["scenario"] for r in out if any(x["outcome"] == "healed" for x in r["incidents"])
        ]
        again = healed[0] if healed else mix[0]
        result = self_healing(scenario=again, seed=seed + len(mix), memory_dir=str(memory))
        out.append({"scenario": again, **result})
        mix.append(again)
    print(
        "\nSelf-healing demo: "
        + f"{len(mix)} incidents on the simulated cluster, memory in {memory}/"
    )
    for row in out:
        if not row["incidents"]:
            print(
                f"  {row['scenario']:28s} no incident opened: nothing to do (healthy after: {row['healthy_after']})"
            )
        for inc in row["incidents"]:
            ttr = (
                f"{inc['time_to_recover_s']:.0f}s" if inc["time_to_recover_s"] is not None else "-"
            )
            print(
                f"  {row['scenario']:28s} {inc['outcome']:7s} cause {inc['root_cause']}\n"
                f"  {'':28s} action {inc['action'] or '-'}; vote: {inc['votes']}; "
                f"certificate {inc['certificate'] or '-'}; recovered {ttr} after detection"
                + ("; recognised from memory" if inc["recognised"] else "")
            )
    return out


if __name__ == "__main__":
    self_healing_demo()
