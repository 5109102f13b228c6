"""Run a replication end to end under the simulator and report the converged document."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from patterns.core.exceptions import ConfigError
from patterns.gossip.checkers import (
    ConvergenceChecker,
    ConvergenceWatch,
    NothingLostChecker,
    TrafficMeter,
)
from patterns.gossip.edits import Edit, apply_edit, parse_edits
from patterns.gossip.events import DocChanged
from patterns.gossip.exceptions import ConvergenceTimeoutError
from patterns.gossip.messages import gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings, checked
from patterns.net.faults import FaultPlan
from patterns.net.sim import Simulator

MAX_NODES = 5000
MAX_EDITS = 100_000


@dataclass
class GossipReport:
    """Outcome of one replication run.

    Attributes:
        nodes: cluster size.
        edits: edits made.
        converged: every live node held an equal document at the end.
        document: the converged document as plain Python.
        rounds_to_converge: anti-entropy periods from the moment the last edit was made
            and random faults stopped, until every node held the same document.
        converge_time_s: the same span in virtual seconds.
        rounds_per_node: anti-entropy rounds each node ran, on average.
        messages: messages delivered.
        bytes: encoded bytes delivered.
        seed: the seed that replays the run.
        wall_s: wall-clock seconds the simulation took.
        details: fault counters and settings.
        per_node: one row per node, for a table artifact.
        timeline: ``(virtual ms after the first edit, nodes holding the final document)``,
            one point per anti-entropy period, for a convergence chart.
    """

    nodes: int
    edits: int
    converged: bool
    document: dict[str, Any]
    rounds_to_converge: int
    converge_time_s: float
    rounds_per_node: float
    messages: int
    bytes: int
    seed: int
    wall_s: float
    details: dict[str, float | int | str] = field(default_factory=dict)
    per_node: list[dict[str, int | str | float]] = field(default_factory=list)
    timeline: list[tuple[float, int]] = field(default_factory=list)


def _edit(node: GossipNode, now: float, edit: Edit) -> None:
    apply_edit(node, edit, now)


def _schedule(sim: Simulator, edit: Edit, done: list[int] | None = None) -> None:
    if edit.node in sim.alive:
        sim.call(edit.node, partial(_edit, edit=edit))
    if done is not None:
        done[0] += 1


def _settled_at(sim: Simulator, final: bytes) -> dict[int, float]:
    """Virtual time at which each node last changed its document to the final one."""
    out: dict[int, float] = {}
    for t, nid, ev in sim.events:
        if isinstance(ev, DocChanged) and ev.fingerprint == final:
            out[nid] = t
    return out


def _timeline(
    settled: dict[int, float], start: float, end: float, step: float
) -> list[tuple[float, int]]:
    times = sorted(settled.values())
    points: list[tuple[float, int]] = []
    t = start
    i = 0
    while True:
        while i < len(times) and times[i] <= t:
            i += 1
        points.append((round(1000 * (t - start), 3), i))
        if t >= end or i == len(times):
            return points
        t += step


def replicate(
    nodes: int,
    edits: Sequence[Edit | Mapping[str, Any]],
    *,
    seed: int = 0,
    loss: float = 0.0,
    duplicate: float = 0.0,
    reorder: float = 0.0,
    faults_until_s: float | None = None,
    settings: GossipSettings | None = None,
    max_time_s: float = 600.0,
) -> GossipReport:
    """Make ``edits`` on a simulated cluster of ``nodes`` gossip nodes and run to convergence.

    Random message faults (``loss``, ``duplicate``, ``reorder``) apply until
    ``faults_until_s`` (default: one second after the last edit); the run then
    continues until every node holds the same document, and the convergence and
    nothing-lost checkers must pass.

    Raises:
        ConfigError: bad sizes, edits or probabilities.
        ConvergenceTimeoutError: no convergence within ``max_time_s`` virtual seconds.
        SimulationError: an invariant broke (the message names the seed).
    """
    if not 1 <= nodes <= MAX_NODES:
        raise ConfigError(f"nodes must be in 1..{MAX_NODES}, got {nodes}")
    if len(edits) > MAX_EDITS:
        raise ConfigError(f"at most {MAX_EDITS} edits, got {len(edits)}")
    plan_edits = parse_edits(edits, nodes)
    cfg = checked(settings)
    last_edit = max((e.at_s for e in plan_edits), default=0.0)
    if last_edit >= max_time_s:
        raise ConfigError(
            f"an edit at at_s={last_edit} is at or after max_time_s={max_time_s}: it would "
            "never be made; raise max_time_s"
        )
    until_s = faults_until_s if faults_until_s is not None else last_edit + 1.0
    plan = FaultPlan(
        seed=seed, loss=loss, duplicate=duplicate, reorder=reorder, faults_until_s=until_s
    ).validate()
    codec = gossip_codec(max_frame_bytes=cfg.max_update_bytes + 4096)
    watch = ConvergenceWatch()
    meter = TrafficMeter(codec)
    lost = NothingLostChecker()
    sim = Simulator(
        lambda nid, rng: GossipNode(nid, range(nodes), rng, settings=cfg),
        range(nodes),
        plan,
        codec=codec,
        checkers=[watch, meter, lost, ConvergenceChecker()],
        record=False,
        wire_check=True,
        link_keys=True,
    )
    made = [0]
    for edit in plan_edits:
        sim.at(edit.at_s, partial(_schedule, edit=edit, done=made))
    quiet = max(until_s if (loss or duplicate or reorder) else 0.0, last_edit)

    def done(s: Simulator) -> bool:
        return s.now >= quiet and made[0] == len(plan_edits) and watch.converged(s)

    t0 = time.perf_counter()
    try:
        result = sim.run(until=done, max_time=max_time_s)
    except Exception as err:
        if not watch.converged(sim):
            raise ConvergenceTimeoutError(
                f"{nodes} nodes did not converge within {max_time_s}s (seed={seed})"
            ) from err
        raise
    wall = time.perf_counter() - t0
    gossip_nodes = [n for n in sim.nodes.values() if isinstance(n, GossipNode)]
    elapsed = max(0.0, result.time - quiet)
    ref = gossip_nodes[0]
    ref_fp = ref.fingerprint
    first_edit = min((e.at_s for e in plan_edits), default=0.0)
    settled = _settled_at(sim, ref_fp)
    return GossipReport(
        nodes=nodes,
        edits=len(plan_edits),
        converged=result.reached,
        document=ref.snapshot(),
        rounds_to_converge=math.ceil(elapsed / cfg.period_s - 1e-9),
        converge_time_s=elapsed,
        rounds_per_node=sum(n.stats.rounds for n in gossip_nodes) / len(gossip_nodes),
        messages=meter.messages,
        bytes=meter.bytes,
        seed=seed,
        wall_s=wall,
        details={
            "lost_messages": sim.stats.lost,
            "duplicated_messages": sim.stats.duplicated,
            "reordered_messages": sim.stats.reordered,
            "rejected_updates": sum(n.stats.rejected_updates for n in gossip_nodes),
            "fanout": cfg.fanout,
            "period_s": cfg.period_s,
            "rumor_hops": cfg.rumor_hops,
            "clock": "virtual",
        },
        per_node=[
            {
                "node": n.node_id,
                "client_id": n.replica.client_id,
                "rounds": n.stats.rounds,
                "updates_applied": n.stats.updates_applied,
                "update_bytes_sent": n.stats.update_bytes_sent,
                "final_at_ms": round(1000 * (settled.get(n.node_id, 0.0) - first_edit), 3),
                "equal": "yes" if n.fingerprint == ref_fp else "NO",
            }
            for n in gossip_nodes
        ],
        timeline=_timeline(settled, first_edit, result.time, cfg.period_s),
    )
