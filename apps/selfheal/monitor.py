"""Step 1: ephemeral monitor agents (pattern 4), one per namespace and per node, merged up a tree (pattern 6).

Each loop iteration spawns monitors on demand in an :class:`~patterns.ephemeral.AgentPool`
(they scale to zero between iterations). A monitor reads its scope of the
observation and returns a :class:`HealthSummary`; the summaries' metrics are merged
as mergeable aggregates up a k-ary tree, so a crashed monitor lowers the coverage
instead of failing the iteration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.k8s.cluster import Observation
from apps.k8s.kinds import Kind
from apps.k8s.objects import is_node_ready, is_pod_ready, name_of, namespace_of, parse_time
from apps.k8s.quantity import cpu_millicores, memory_bytes
from apps.k8s.symptoms import BAD_WAITING_REASONS, RESTART_WINDOW_S, find_problems, init_completed
from apps.selfheal.records import HealthSummary
from patterns.aggregation.aggregates import AggregateSpec, Summary
from patterns.aggregation.tree import KaryTree
from patterns.core.loopthread import AsyncRuntime
from patterns.ephemeral import AgentContext, AgentPool, AgentSpec, EphemeralSettings, ItemOutcome

COUNT = AggregateSpec(histogram=None, ddsketch_alpha=None, hll_p=None, topk=None)
MAXIMA = AggregateSpec(histogram=None, ddsketch_alpha=None, hll_p=None, topk=3)
COUNTS = (
    "pods",
    "pods_not_ready",
    "pods_pending",
    "pods_waiting_bad",
    "restarts_recent",
    "oom_kills",
    "nodes",
    "nodes_not_ready",
    "problems",
)
MAXES = (
    "cpu_over_limit_ratio_max",
    "memory_over_limit_ratio_max",
    "error_rate_max",
    "latency_p99_max_ms",
)


def _scope_pods(obs: Observation, scope: str) -> list[dict[str, Any]]:
    kind, _, name = scope.partition("/")
    if kind == "ns":
        return obs.of(Kind.POD, name)
    return [p for p in obs.of(Kind.POD) if (p.get("spec") or {}).get("nodeName") == name]


def summarize_scope(obs: Observation, scope: str) -> HealthSummary:
    """What a monitor of ``ns/<namespace>`` or ``node/<node>`` reports from an observation."""
    now = parse_time(obs.time)
    pods = _scope_pods(obs, scope)
    usage: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    for m in obs.pod_metrics:
        usage[(namespace_of(m), name_of(m))] = {
            c["name"]: (cpu_millicores(c["usage"]["cpu"]), memory_bytes(c["usage"]["memory"]))
            for c in m.get("containers") or []
        }
    counts = dict.fromkeys(COUNTS, 0)
    maxes = dict.fromkeys(MAXES, 0.0)
    by_namespace = scope.startswith("ns/")  # pods are counted once, by their namespace's monitor
    counts["pods"] = len(pods) if by_namespace else 0
    for pod in pods:
        status = pod.get("status") or {}
        if by_namespace:
            if status.get("phase") == "Pending":
                counts["pods_pending"] += 1
            elif not is_pod_ready(pod):
                counts["pods_not_ready"] += 1
            for cs in list(status.get("initContainerStatuses") or []) + list(
                status.get("containerStatuses") or []
            ):
                if ((cs.get("state") or {}).get("waiting") or {}).get(
                    "reason"
                ) in BAD_WAITING_REASONS:
                    counts["pods_waiting_bad"] += 1
                term = (cs.get("lastState") or {}).get("terminated") or {}
                if init_completed(cs):
                    term = {}
                finished = term.get("finishedAt")
                if finished and (now - parse_time(finished)) <= dt.timedelta(
                    seconds=RESTART_WINDOW_S
                ):
                    counts["restarts_recent"] += 1
                    counts["oom_kills"] += term.get("reason") == "OOMKilled"
        used = usage.get((namespace_of(pod), name_of(pod)), {})
        for c in (pod.get("spec") or {}).get("containers") or []:
            limits = (c.get("resources") or {}).get("limits") or {}
            if c["name"] not in used:
                continue
            cpu, mem = used[c["name"]]
            if limits.get("cpu"):
                maxes["cpu_over_limit_ratio_max"] = max(
                    maxes["cpu_over_limit_ratio_max"],
                    cpu / max(cpu_millicores(limits["cpu"]), 1e-9),
                )
            if limits.get("memory"):
                maxes["memory_over_limit_ratio_max"] = max(
                    maxes["memory_over_limit_ratio_max"],
                    mem / max(memory_bytes(limits["memory"]), 1.0),
                )
    kind, _, name = scope.partition("/")
    if kind == "ns":
        for sm in obs.service_metrics:
            if sm.namespace == name and sm.request_rate_rps > 0:
                maxes["error_rate_max"] = max(maxes["error_rate_max"], sm.error_rate)
                maxes["latency_p99_max_ms"] = max(maxes["latency_p99_max_ms"], sm.latency_p99_ms)
        counts["problems"] = len([p for p in find_problems(obs, name) if p.namespace == name])
    else:
        node = next((n for n in obs.of(Kind.NODE) if name_of(n) == name), None)
        counts["nodes"] = 1
        counts["nodes_not_ready"] = int(node is not None and not is_node_ready(node))
    fields: dict[str, Any] = dict(counts) | {k: round(v, 6) for k, v in maxes.items()}
    return HealthSummary(scope=scope, **fields)


@dataclass
class MonitorReport:
    """The merged summary of one iteration's monitors, with coverage."""

    summary: HealthSummary
    per_scope: dict[str, HealthSummary]
    failed: list[str]
    coverage: int
    monitors: int
    tree_depth: int
    hottest: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    spawns: int = 0


def merge_summaries(
    scopes: list[str], summaries: dict[str, HealthSummary], fanout: int
) -> tuple[HealthSummary, int, int, dict[str, list[tuple[str, float]]]]:
    """Merge the monitors' summaries up a k-ary tree of mergeable aggregates (pattern 6).

    Returns the merged summary, how many monitors it covers, the tree depth, and
    the top-3 scopes of each maximum.
    """
    tree = KaryTree(range(len(scopes)), fanout)
    acc: dict[int, dict[str, Summary]] = {}
    for nid in reversed(tree.members):  # children before parents
        s = summaries.get(scopes[nid])
        if s is None:
            mine = {m: Summary.identity(COUNT) for m in COUNTS} | {
                m: Summary.identity(MAXIMA) for m in MAXES
            }
        else:
            mine = {m: Summary.of(COUNT, nid, float(getattr(s, m))) for m in COUNTS} | {
                m: Summary.of(MAXIMA, nid, float(getattr(s, m))) for m in MAXES
            }
        for child in tree.children(nid):
            sub = acc.pop(child)
            mine = {m: mine[m].merge(sub[m]) for m in mine}
        acc[nid] = mine
    root = acc[tree.root]
    coverage = int(root["pods"].coverage)
    fields: dict[str, Any] = {m: round(root[m].moments.total) for m in COUNTS}
    fields |= {m: (root[m].moments.max if root[m].coverage else 0.0) for m in MAXES}
    hottest: dict[str, list[tuple[str, float]]] = {}
    for m in MAXES:
        top = root[m].topk
        hottest[m] = [(scopes[i], round(v, 4)) for v, i in (top.items if top else ())]
    return (
        HealthSummary(scope="cluster", monitors=coverage, **fields),
        coverage,
        tree.depth,
        hottest,
    )


async def _monitor(
    ctx: AgentContext, payload: tuple[Observation, str, Callable[[str], None] | None]
) -> HealthSummary:
    obs, scope, fault = payload
    if fault is not None:
        fault(scope)
    return summarize_scope(obs, scope)


class Monitors:
    """Spawns a monitor agent per namespace and node on demand and merges what they report."""

    def __init__(
        self, runtime: AsyncRuntime, fanout: int = 4, settings: EphemeralSettings | None = None
    ) -> None:
        self.runtime = runtime
        self.fanout = fanout
        self.settings = settings or EphemeralSettings(max_attempts=1, default_max_idle_s=1.0)
        self.specs: dict[str, AgentSpec] = {}
        self.fault: Callable[[str], None] | None = None  # a test hook: raise to crash a monitor
        self.spawns = 0

    def _spec(self, scope: str) -> AgentSpec:
        if scope not in self.specs:  # one role per scope: one agent per namespace / node
            self.specs[scope] = AgentSpec(
                f"monitor:{scope}", _monitor, result_type=HealthSummary, timeout_s=30.0
            )
        return self.specs[scope]

    @staticmethod
    def scopes(obs: Observation) -> list[str]:
        """``ns/<name>`` for every namespace with pods or services, ``node/<name>`` for every node."""
        namespaces = sorted(
            {namespace_of(o) for k in (Kind.POD, Kind.SERVICE, Kind.DEPLOYMENT) for o in obs.of(k)}
        )
        return [f"ns/{n}" for n in namespaces] + [f"node/{name_of(n)}" for n in obs.of(Kind.NODE)]

    def run(self, obs: Observation) -> MonitorReport:
        """Spawn the monitors for this observation, collect and merge their summaries."""
        scopes = self.scopes(obs)

        async def go() -> tuple[list[ItemOutcome], int]:
            async with AgentPool(self.settings) as pool:
                futures = [await pool.submit(self._spec(s), (obs, s, self.fault)) for s in scopes]
                outs = list(await asyncio.gather(*futures))
            return outs, pool.account().spawns

        outs, spawns = self.runtime.call(go())
        self.spawns += spawns
        per_scope: dict[str, HealthSummary] = {}
        failed = []
        for scope, out in zip(scopes, outs, strict=True):
            if out.ok:
                per_scope[scope] = out.value
            else:
                failed.append(scope)
        merged, coverage, depth, hottest = merge_summaries(scopes, per_scope, self.fanout)
        return MonitorReport(
            merged, per_scope, failed, coverage, len(scopes), depth, hottest, spawns
        )
