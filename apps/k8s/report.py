"""A compact health report of an observation, for logs and Prefect artifacts."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from apps.k8s.cluster import Observation, ServiceMetrics
from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, is_node_ready, meta
from apps.k8s.symptoms import find_problems


def pod_state(pod: KubeObject) -> str:
    """The STATUS column of ``kubectl get pods``."""
    if meta(pod).get("deletionTimestamp"):
        return "Terminating"
    status = pod.get("status") or {}
    init = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init):
        st = cs.get("state") or {}
        term = st.get("terminated") or {}
        if term.get("exitCode") == 0:
            continue
        if term:
            return f"Init:{term.get('reason') or 'Error'}"
        reason = (st.get("waiting") or {}).get("reason")
        if reason and reason != "PodInitializing":
            return f"Init:{reason}"
        return f"Init:{i}/{len(init)}"
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
            return str(waiting["reason"])
    for cs in status.get("containerStatuses") or []:
        if (cs.get("state") or {}).get("waiting", {}).get("reason") == "ContainerCreating":
            return "ContainerCreating"
    phase = str(status.get("phase", "Unknown"))
    if phase == "Running" and not all(
        cs.get("ready") for cs in status.get("containerStatuses") or []
    ):
        return "Running (not ready)"
    return phase


@dataclass(frozen=True)
class HealthReport:
    """What an operator looks at first: problems, pod states, golden signals, nodes."""

    time: str
    namespace: str | None
    problems: list[str]
    pod_states: dict[str, int]
    services: list[ServiceMetrics] = field(default_factory=list)
    nodes_ready: int = 0
    nodes_total: int = 0

    @property
    def healthy(self) -> bool:
        """No problem found."""
        return not self.problems

    def table(self) -> list[dict[str, str | float]]:
        """One row per service, for a table artifact."""
        return [
            {
                "service": f"{m.namespace}/{m.service}",
                "rps": round(m.request_rate_rps, 1),
                "error_rate_pct": round(100 * m.error_rate, 2),
                "p50_ms": round(m.latency_p50_ms, 1),
                "p99_ms": round(m.latency_p99_ms, 1),
            }
            for m in self.services
        ]

    def markdown(self, title: str) -> str:
        """A markdown section with the report."""
        pods = ", ".join(f"{state}: {n}" for state, n in sorted(self.pod_states.items())) or "none"
        lines = [
            f"### {title} ({self.time})",
            "",
            f"Nodes ready: {self.nodes_ready}/{self.nodes_total}. Pods: {pods}.",
            "",
            "| service | rps | errors % | p50 ms | p99 ms |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['service']} | {r['rps']} | {r['error_rate_pct']} | {r['p50_ms']} | {r['p99_ms']} |"
            for r in self.table()
        ]
        lines += ["", f"**Problems ({len(self.problems)})**", ""]
        lines += [f"- {p}" for p in self.problems] or ["- none"]
        return "\n".join(lines) + "\n"


def health_report(obs: Observation, namespace: str | None = None) -> HealthReport:
    """Summarise an observation (of one namespace, or all)."""
    pods = Counter(pod_state(p) for p in obs.of(Kind.POD, namespace))
    nodes = obs.of(Kind.NODE)
    services = [m for m in obs.service_metrics if namespace is None or m.namespace == namespace]
    return HealthReport(
        time=obs.time,
        namespace=namespace,
        problems=[str(p) for p in find_problems(obs, namespace)],
        pod_states=dict(pods),
        services=services,
        nodes_ready=sum(1 for n in nodes if is_node_ready(n)),
        nodes_total=len(nodes),
    )
