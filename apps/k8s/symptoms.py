"""What is wrong in an observation: generic problem rules, and a scenario's declared symptoms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from apps.k8s.cluster import Observation
from apps.k8s.kinds import Kind
from apps.k8s.objects import (
    KubeObject,
    annotations_of,
    condition,
    get_path,
    labels_of,
    meta,
    name_of,
    namespace_of,
    parse_time,
)
from apps.k8s.scenario import EventSymptom, MetricSymptom, ObjectSymptom, Scenario, Symptom

GRACE_S = 60.0  # a pod may be Pending or unready this long before it is a problem
RESTART_WINDOW_S = 300.0  # a container restart this recent is a problem
ERROR_RATE_MAX = 0.02  # fraction of failed requests above which a service is unhealthy
DEFAULT_P99_SLO_MS = 500.0  # latency objective when a Service has no annotation
SLO_ANNOTATION = "swarmkit.io/slo-p99-ms"
BAD_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
    }
)


class ProblemKind(StrEnum):
    """A class of problem the rules recognise."""

    CONTAINER_WAITING = "ContainerWaiting"
    POD_PENDING = "PodPending"
    POD_NOT_READY = "PodNotReady"
    RECENT_RESTART = "RecentRestart"
    DEPLOYMENT_UNAVAILABLE = "DeploymentUnavailable"
    ROLLOUT_INCOMPLETE = "RolloutIncomplete"
    REPLICA_FAILURE = "ReplicaFailure"
    NO_ENDPOINTS = "NoEndpoints"
    HIGH_ERROR_RATE = "HighErrorRate"
    HIGH_LATENCY = "HighLatency"
    NODE_NOT_READY = "NodeNotReady"
    PVC_PENDING = "PvcPending"
    HPA_AT_MAX = "HpaAtMax"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one object."""

    kind: ProblemKind
    object_kind: Kind
    namespace: str
    name: str
    detail: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind.value} {self.object_kind.value} {where}: {self.detail}"


def _age(now: dt.datetime, stamp: str | None) -> float:
    if not stamp:
        return 0.0
    return (now - parse_time(stamp)).total_seconds()


def find_problems(obs: Observation, namespace: str | None = None) -> list[Problem]:
    """Find what is wrong, with rules an SRE would apply to ``kubectl get`` output.

    Args:
        obs: An observation of the cluster.
        namespace: Restrict namespaced checks to it; None checks every namespace.
            Node problems are always included.

    Returns:
        One :class:`Problem` per object and kind of problem.
    """
    now = parse_time(obs.time)
    out: list[Problem] = []
    for pod in obs.of(Kind.POD, namespace):
        out += _pod_problems(pod, now)
    for d in obs.of(Kind.DEPLOYMENT, namespace):
        out += _deployment_problems(d)
    endpoints = {(namespace_of(e), name_of(e)): e for e in obs.of(Kind.ENDPOINTS, namespace)}
    for svc in obs.of(Kind.SERVICE, namespace):
        if not (svc.get("spec") or {}).get("selector"):
            continue
        ep = endpoints.get((namespace_of(svc), name_of(svc))) or {}
        if not any(s.get("addresses") for s in ep.get("subsets") or []):
            out.append(
                Problem(
                    ProblemKind.NO_ENDPOINTS,
                    Kind.SERVICE,
                    namespace_of(svc),
                    name_of(svc),
                    f"selector {svc['spec']['selector']} has no ready endpoints",
                )
            )
    slos = {
        (namespace_of(s), name_of(s)): float(
            annotations_of(s).get(SLO_ANNOTATION, DEFAULT_P99_SLO_MS)
        )
        for s in obs.of(Kind.SERVICE, namespace)
    }
    for m in obs.service_metrics:
        if (namespace is not None and m.namespace != namespace) or m.request_rate_rps <= 0:
            continue
        if m.error_rate > ERROR_RATE_MAX:
            out.append(
                Problem(
                    ProblemKind.HIGH_ERROR_RATE,
                    Kind.SERVICE,
                    m.namespace,
                    m.service,
                    f"error rate {m.error_rate:.1%} > {ERROR_RATE_MAX:.0%}",
                )
            )
        slo = slos.get((m.namespace, m.service), DEFAULT_P99_SLO_MS)
        if m.latency_p99_ms > slo:
            out.append(
                Problem(
                    ProblemKind.HIGH_LATENCY,
                    Kind.SERVICE,
                    m.namespace,
                    m.service,
                    f"p99 latency {m.latency_p99_ms:.0f} ms > SLO {slo:.0f} ms",
                )
            )
    for node in obs.of(Kind.NODE):
        ready = condition(node, "Ready") or {}
        if ready.get("status") != "True" and not (node.get("spec") or {}).get("unschedulable"):
            out.append(
                Problem(
                    ProblemKind.NODE_NOT_READY,
                    Kind.NODE,
                    "",
                    name_of(node),
                    f"Ready={ready.get('status')} ({ready.get('reason')}) and still schedulable",
                )
            )
    for pvc in obs.of(Kind.PERSISTENT_VOLUME_CLAIM, namespace):
        if (pvc.get("status") or {}).get("phase") != "Bound" and _age(
            now, meta(pvc).get("creationTimestamp")
        ) > GRACE_S:
            out.append(
                Problem(
                    ProblemKind.PVC_PENDING,
                    Kind.PERSISTENT_VOLUME_CLAIM,
                    namespace_of(pvc),
                    name_of(pvc),
                    f"phase {(pvc.get('status') or {}).get('phase')}",
                )
            )
    for hpa in obs.of(Kind.HORIZONTAL_POD_AUTOSCALER, namespace):
        limited = condition(hpa, "ScalingLimited") or {}
        if limited.get("status") == "True" and limited.get("reason") == "TooManyReplicas":
            out.append(
                Problem(
                    ProblemKind.HPA_AT_MAX,
                    Kind.HORIZONTAL_POD_AUTOSCALER,
                    namespace_of(hpa),
                    name_of(hpa),
                    f"wants more than maxReplicas={hpa['spec'].get('maxReplicas')}",
                )
            )
    return out


def init_completed(status: dict[str, Any]) -> bool:
    """A container status that is terminated with exit code 0 (an init container that is done)."""
    return (((status.get("state") or {}).get("terminated") or {}).get("exitCode")) == 0


def _pod_problems(pod: KubeObject, now: dt.datetime) -> list[Problem]:
    md = meta(pod)
    if md.get("deletionTimestamp"):
        return []
    ns, name = namespace_of(pod), name_of(pod)
    status = pod.get("status") or {}
    out = []
    init_names = {cs.get("name") for cs in status.get("initContainerStatuses") or []}
    for cs in list(status.get("initContainerStatuses") or []) + list(
        status.get("containerStatuses") or []
    ):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in BAD_WAITING_REASONS:
            prefix = "Init:" if cs.get("name") in init_names else ""
            out.append(
                Problem(
                    ProblemKind.CONTAINER_WAITING,
                    Kind.POD,
                    ns,
                    name,
                    f"{cs['name']}: {prefix}{waiting['reason']}",
                )
            )
        term = (cs.get("lastState") or {}).get("terminated") or {}
        if init_completed(cs):
            term = {}  # an init container that failed before it succeeded: nothing goes on
        if term.get("finishedAt") and _age(now, term["finishedAt"]) <= RESTART_WINDOW_S:
            out.append(
                Problem(
                    ProblemKind.RECENT_RESTART,
                    Kind.POD,
                    ns,
                    name,
                    f"{cs['name']} exited {term.get('exitCode')} ({term.get('reason')})",
                )
            )
    age = _age(now, md.get("creationTimestamp"))
    if status.get("phase") == "Pending" and age > GRACE_S:
        sched = condition(pod, "PodScheduled") or {}
        initialized = condition(pod, "Initialized") or {}
        detail = str(sched.get("message") or "")
        if not detail and initialized.get("status") == "False":
            detail = str(initialized.get("message") or "")
        detail = detail or "containers not started"
        out.append(Problem(ProblemKind.POD_PENDING, Kind.POD, ns, name, detail))
    elif status.get("phase") == "Running":
        ready = condition(pod, "Ready") or {}
        if ready.get("status") != "True" and _age(now, ready.get("lastTransitionTime")) > GRACE_S:
            out.append(
                Problem(
                    ProblemKind.POD_NOT_READY,
                    Kind.POD,
                    ns,
                    name,
                    str(ready.get("message") or "not ready"),
                )
            )
    return out


def _deployment_problems(d: KubeObject) -> list[Problem]:
    ns, name = namespace_of(d), name_of(d)
    spec, status = d.get("spec") or {}, d.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    out = []
    available = int(status.get("availableReplicas", 0))
    if available < replicas:
        out.append(
            Problem(
                ProblemKind.DEPLOYMENT_UNAVAILABLE,
                Kind.DEPLOYMENT,
                ns,
                name,
                f"{available}/{replicas} replicas available",
            )
        )
    progressing = condition(d, "Progressing") or {}
    if int(status.get("updatedReplicas", 0)) < replicas or progressing.get("status") == "False":
        out.append(
            Problem(
                ProblemKind.ROLLOUT_INCOMPLETE,
                Kind.DEPLOYMENT,
                ns,
                name,
                f"{status.get('updatedReplicas', 0)}/{replicas} updated ({progressing.get('reason')})",
            )
        )
    failure = condition(d, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        out.append(
            Problem(
                ProblemKind.REPLICA_FAILURE, Kind.DEPLOYMENT, ns, name, str(failure.get("message"))
            )
        )
    return out


# ------------------------------------------------------------------- declared symptoms
def _compare(value: Any, s: ObjectSymptom) -> bool:
    if s.absent:
        return value is None or value == []
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is None:
            continue
        if s.equals is not None and v != s.equals:
            continue
        if s.one_of is not None and v not in s.one_of:
            continue
        if s.at_least is not None and not (isinstance(v, int | float) and v >= s.at_least):
            continue
        if s.at_most is not None and not (isinstance(v, int | float) and v <= s.at_most):
            continue
        return True
    return False


def symptom_present(symptom: Symptom, obs: Observation, since: str | None = None) -> bool:
    """Whether the observation shows the symptom (events: last seen at or after ``since``)."""
    match symptom:
        case ObjectSymptom():
            ns = symptom.namespace or None
            hits = 0
            for obj in obs.of(symptom.kind, ns):
                if symptom.name is not None and name_of(obj) != symptom.name:
                    continue
                if symptom.labels and any(
                    labels_of(obj).get(k) != v for k, v in symptom.labels.items()
                ):
                    continue
                if symptom.kind is Kind.POD and meta(obj).get("deletionTimestamp"):
                    continue
                if _compare(get_path(obj, symptom.path), symptom):
                    hits += 1
            return hits >= symptom.min_count
        case EventSymptom():
            for ev in obs.of(Kind.EVENT, symptom.namespace):
                involved = ev.get("involvedObject") or {}
                if ev.get("reason") != symptom.reason:
                    continue
                if symptom.involved_kind and involved.get("kind") != symptom.involved_kind.value:
                    continue
                if symptom.name_prefix and not str(involved.get("name", "")).startswith(
                    symptom.name_prefix
                ):
                    continue
                if symptom.message_contains and symptom.message_contains not in str(
                    ev.get("message")
                ):
                    continue
                if symptom.type and ev.get("type") != symptom.type:
                    continue
                if since and str(ev.get("lastTimestamp")) < since:
                    continue
                return True
            return False
        case MetricSymptom():
            for m in obs.service_metrics:
                if m.namespace != symptom.namespace or m.service != symptom.service:
                    continue
                value = float(getattr(m, symptom.metric))
                if symptom.above is not None and not value > symptom.above:
                    continue
                if symptom.below is not None and not value < symptom.below:
                    continue
                return True
            return False
    return False  # pragma: no cover


def missing_symptoms(scenario: Scenario, obs: Observation) -> list[Symptom]:
    """Declared symptoms of a scenario that the observation does not show."""
    return [s for s in scenario.ground_truth.symptoms if not symptom_present(s, obs)]


def is_resolved(scenario: Scenario, obs: Observation) -> tuple[bool, list[str]]:
    """Resolved: no object or metric symptom left and no problem in the scenario's namespace.

    Returns the verdict and the reasons it is not resolved. Events are history, so
    event symptoms do not count here.
    """
    reasons = [
        f"symptom still present: {s}"
        for s in scenario.ground_truth.symptoms
        if isinstance(s, ObjectSymptom | MetricSymptom)
        and not getattr(s, "persists_after_fix", False)
        and symptom_present(s, obs)
    ]
    reasons += [str(p) for p in find_problems(obs, scenario.namespace)]
    return not reasons, reasons
