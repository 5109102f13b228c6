"""Traffic and resource model: requests flow through Services; CPU, memory, errors and latency."""

from __future__ import annotations

from apps.k8s.cluster import ServiceMetrics
from apps.k8s.kinds import Kind
from apps.k8s.quantity import cpu_millicores
from apps.k8s.sim.state import (
    NO_LIMIT_CPU_M,
    ContainerPhase,
    ContainerRuntime,
    PodRuntime,
    SimState,
)
from apps.k8s.sim.store import Key

MAX_QUEUE_UTILIZATION = 0.9  # queueing stretch is capped at 1 / (1 - 0.9) = 10x
FAIL_FAST_LATENCY_MS = 1.0  # latency of a request refused for lack of endpoints


def _main_container(rt: PodRuntime) -> ContainerRuntime | None:
    for c in rt.containers:
        if c.behaviour is not None and c.phase is ContainerPhase.RUNNING:
            return c
    return None


def _cpu_limit_m(c: ContainerRuntime) -> float:
    lim = ((c.spec.get("resources") or {}).get("limits") or {}).get("cpu")
    return cpu_millicores(lim) if lim is not None else NO_LIMIT_CPU_M


def _callee(ns: str, service: str) -> Key:
    name, _, other_ns = service.partition(".")
    return (other_ns or ns, name)


def traffic_step(state: SimState) -> None:
    """Recompute per-pod load, CPU, throttling and per-service golden signals."""
    backends: dict[Key, list[PodRuntime]] = {}
    for ep in state.store.values(Kind.ENDPOINTS):
        ns = ep["metadata"]["namespace"]
        pods = []
        for subset in ep.get("subsets") or []:
            for addr in subset.get("addresses") or []:
                rt = state.pods.get((ns, addr["targetRef"]["name"]))
                if rt is not None:
                    pods.append(rt)
        backends[(ns, ep["metadata"]["name"])] = pods
    services = [
        (s["metadata"]["namespace"], s["metadata"]["name"])
        for s in state.store.values(Kind.SERVICE)
        if (s.get("spec") or {}).get("selector")
    ]
    edges: dict[Key, set[Key]] = {svc: set() for svc in services}
    for svc in services:
        for rt in backends.get(svc, []):
            c = _main_container(rt)
            if c is not None and c.behaviour is not None:
                for call in c.behaviour.calls:
                    edges[svc].add(_callee(svc[0], call.service))
    order = _callers_first(services, edges)
    for rt in state.pods.values():
        rt.load_rps = 0.0
    rps: dict[Key, float] = dict.fromkeys(services, 0.0)
    calls: dict[tuple[Key, Key], float] = {}
    for key, value in state.traffic.items():
        rps[key] = rps.get(key, 0.0) + value
    for svc in order:
        pods = backends.get(svc, [])
        if not pods or rps.get(svc, 0.0) <= 0:
            continue
        share = rps[svc] / len(pods)
        for rt in pods:
            rt.load_rps = share
            c = _main_container(rt)
            if c is not None and c.behaviour is not None:
                for call in c.behaviour.calls:
                    callee = _callee(svc[0], call.service)
                    rps[callee] = rps.get(callee, 0.0) + share * call.fraction
                    calls[(svc, callee)] = calls.get((svc, callee), 0.0) + share * call.fraction
    for rt in state.pods.values():
        for c in rt.containers:
            beh = c.behaviour
            if beh is None or c.phase is not ContainerPhase.RUNNING:
                c.cpu_m, c.throttle = 0.0, 1.0
                continue
            demand = beh.cpu.base_millicores + beh.cpu.per_rps_millicores * rt.load_rps
            limit = _cpu_limit_m(c)
            c.cpu_cap = limit
            c.cpu_m = min(demand, limit)
            c.throttle = max(1.0, demand / limit)
    _share_node_cpu(state)
    stats: dict[Key, ServiceMetrics] = {}
    for svc in reversed(order):
        stats[svc] = _service_stats(svc, rps.get(svc, 0.0), backends.get(svc, []), stats)
    state.service_stats = stats
    state.call_rates = calls


def _cpu_request_m(c: ContainerRuntime) -> float:
    return cpu_millicores(((c.spec.get("resources") or {}).get("requests") or {}).get("cpu"))


def _share_node_cpu(state: SimState) -> None:
    """Co-located containers share their node's CPU as the kernel's CFS shares do.

    When the node is oversubscribed, each container is still guaranteed what it uses up
    to its request; the rest of the node is split among those that want more, in
    proportion to their requests. A container bursting above its request on a busy node
    gets less than its limit (a noisy neighbour slows it), one within its request does not.
    """
    for node in state.nodes.values():
        node_obj = state.get(Kind.NODE, "", node.name)
        capacity = ((node_obj or {}).get("status") or {}).get("capacity") or {}
        cap = cpu_millicores(capacity.get("cpu")) if capacity.get("cpu") else 0.0
        running = [
            c
            for key in sorted(node.pods)
            if (rt := state.pods.get(key)) is not None
            for c in rt.containers
            if c.behaviour is not None and c.phase is ContainerPhase.RUNNING
        ]
        if not cap or sum(c.cpu_m for c in running) <= cap:
            continue
        guaranteed = {id(c): min(c.cpu_m, _cpu_request_m(c)) for c in running}
        spare = max(cap - sum(guaranteed.values()), 0.0)
        wanting = [c for c in running if c.cpu_m > guaranteed[id(c)]]
        weight = sum(max(_cpu_request_m(c), 2.0) for c in wanting)  # the kernel's minimum share
        for c in wanting:
            share = spare * max(_cpu_request_m(c), 2.0) / weight if weight else 0.0
            got = min(c.cpu_m, guaranteed[id(c)] + share)
            demand = c.cpu_m * c.throttle  # what it wanted before its own limit
            c.cpu_cap = max(got, 1.0)
            c.cpu_m = got
            c.throttle = max(1.0, demand / c.cpu_cap)


def _service_stats(
    svc: Key, rps: float, pods: list[PodRuntime], stats: dict[Key, ServiceMetrics]
) -> ServiceMetrics:
    ns, name = svc
    if not pods:
        return ServiceMetrics(
            ns, name, rps, 1.0 if rps > 0 else 0.0, FAIL_FAST_LATENCY_MS, FAIL_FAST_LATENCY_MS
        )
    err_sum = p50_sum = p99_sum = 0.0
    counted = 0
    for rt in pods:
        c = _main_container(rt)
        if c is None or c.behaviour is None:
            continue
        beh = c.behaviour
        demand = beh.cpu.base_millicores + beh.cpu.per_rps_millicores * rt.load_rps
        rho = demand / (c.cpu_cap or _cpu_limit_m(c))
        stretch = 1.0 / (1.0 - min(rho, MAX_QUEUE_UTILIZATION))  # M/M/1-like queueing on CPU
        saturated = max(0.0, 1.0 - 1.0 / rho) if rho > 1.0 else 0.0  # requests that time out
        p50 = beh.latency.base_ms * stretch * max(1.0, rho)
        p99 = p50 * beh.latency.p99_factor
        ok = (1.0 - beh.error_rate) * (1.0 - saturated)
        for call in beh.calls:
            down = stats.get(_callee(ns, call.service))
            if down is None:
                ok *= 1.0 - call.fraction
                continue
            ok *= 1.0 - call.fraction * down.error_rate
            p50 += call.fraction * down.latency_p50_ms
            p99 += call.fraction * down.latency_p99_ms
        err_sum += 1.0 - ok
        p50_sum += p50
        p99_sum += p99
        counted += 1
    if counted == 0:
        return ServiceMetrics(
            ns, name, rps, 1.0 if rps > 0 else 0.0, FAIL_FAST_LATENCY_MS, FAIL_FAST_LATENCY_MS
        )
    return ServiceMetrics(
        ns,
        name,
        round(rps, 6),
        round(err_sum / counted, 6),
        round(p50_sum / counted, 3),
        round(p99_sum / counted, 3),
    )


def _callers_first(services: list[Key], edges: dict[Key, set[Key]]) -> list[Key]:
    """Topological order of the call graph, callers before callees (cycles broken arbitrarily)."""
    seen: set[Key] = set()
    post: list[Key] = []

    def visit(svc: Key, active: set[Key]) -> None:
        if svc in seen or svc in active:
            return
        active.add(svc)
        for callee in sorted(edges.get(svc, ())):
            visit(callee, active)
        active.discard(svc)
        seen.add(svc)
        post.append(svc)

    for svc in sorted(services):
        visit(svc, set())
    return list(reversed(post))
