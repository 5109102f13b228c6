"""Step 3: rank root causes, not symptoms.

Anomaly scores are put on the objects of the dependency graph (workloads from their
pods, Services from their golden signals, nodes, claims, autoscalers, quotas and
config maps from conditions and the events that name them). A personalized PageRank
walk from the anomalous objects towards what they depend on gathers mass at the
deepest anomalous object (MicroRCA); the change timeline then breaks ties the way an
SRE does first: what changed, earliest first. Each ranked object gets a hypothesis
kind that the proposal templates understand.
"""

from __future__ import annotations

import re
from collections import defaultdict
from enum import StrEnum

from apps.k8s.actions import revision_of
from apps.k8s.kinds import Kind
from apps.k8s.objects import (
    condition,
    is_node_ready,
    is_pod_ready,
    meta,
    name_of,
    namespace_of,
    owner_uid,
    parse_time,
)
from apps.k8s.quantity import cpu_millicores
from apps.k8s.symptoms import DEFAULT_P99_SLO_MS, ERROR_RATE_MAX, SLO_ANNOTATION
from apps.selfheal.changes import (
    Change,
    ChangeTracker,
    diff_fields,
    seconds_of,
    template_of_replica_set,
)
from apps.selfheal.records import Hypothesis, Incident
from apps.selfheal.topology import Ref, Topology, personalized_pagerank, ref_str

RESTART_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
CPU_SATURATED = 0.9  # usage / limit at which a container counts as throttled
CHANGE_LOOKBACK_S = 3600.0  # changes older than this before the onset are not suspects
EVENT_WINDOW_S = 600.0  # events last seen this recently are evidence
TOP_K = 3


class HypothesisKind(StrEnum):
    """The kinds of root cause the proposal templates know how to remediate."""

    BAD_ROLLOUT = "bad_rollout"
    SCALED_DOWN = "scaled_down"
    CONFIG_CHANGE = "config_change"
    SELECTOR_MISMATCH = "selector_mismatch"
    NODE_FAILURE = "node_failure"
    NODE_CORDONED = "node_cordoned"  # Ready, but cordoned: pods that need its room stay Pending
    CPU_SATURATION = "cpu_saturation"
    MEMORY_LIMIT = "memory_limit"
    AUTOSCALER_LIMIT = "autoscaler_limit"
    STORAGE_PROVISIONING = "storage_provisioning"
    QUOTA_EXHAUSTED = "quota_exhausted"
    BATCH_CONTENTION = "batch_contention"  # a Job's pods hold what a service needs
    UNKNOWN = "unknown"


BATCH_SHARE = 0.25  # a Job holding this share of an exhausted quota is a suspect
NODE_CPU_BUSY = 0.9  # a node using this share of its allocatable CPU is out of CPU
NOISY_OVER_REQUEST = 2.0  # a pod using this many times its CPU request is bursting
NOISY_NODE_SHARE = 0.25  # ... and this share of its node's CPU is a noisy neighbour
_QUOTA_RE = re.compile(r"exceeded quota: ([a-z0-9.-]+)")
_CM_KEY_RE = re.compile(r'configmap "?([a-z0-9.-]+)"? .*key|non-existent config key')


def _significant(change: Change) -> bool:
    """A change that can break something (a restart annotation alone cannot)."""
    if change.created or change.deleted:
        return True
    return any(
        not f.endswith(RESTART_ANNOTATION)
        and "annotations.kubectl.kubernetes.io/restartedAt" not in f
        for f in change.fields
    )


class Diagnoser:
    """Scores anomalies on the graph and turns the ranking into typed hypotheses."""

    def __init__(self, topo: Topology, changes: ChangeTracker) -> None:
        self.topo = topo
        self.changes = changes
        self.now = parse_time(topo.obs.time)
        self.now_s = seconds_of(topo.obs.time)
        self.anomaly: dict[Ref, float] = defaultdict(float)
        self.evidence: dict[Ref, list[str]] = defaultdict(list)
        self.cpu_ratio: dict[Ref, float] = {}
        self.blocked_by_cordon: dict[Ref, Ref] = {}  # workload -> the cordoned node it needs

    # anomaly scores ------------------------------------------------------------------------
    def _mark(self, ref: Ref, score: float, why: str) -> None:
        self.anomaly[ref] = max(self.anomaly[ref], min(score, 1.0))
        if why not in self.evidence[ref]:
            self.evidence[ref].append(why)

    def score(self, incident: Incident) -> None:
        """Put anomaly scores and evidence on objects from the incident's signals and the graph."""
        topo, obs = self.topo, self.topo.obs
        for s in incident.signals:
            kind = Kind(s.object_kind)
            if kind is Kind.POD:
                owner = topo.owner_of_pod.get((s.namespace, s.name))
                if owner is None:
                    continue
                n = max(len(topo.pods_of[owner]), 1)
                self._mark(owner, self.anomaly[owner] + 1.0 / n, f"pod {s.name}: {s.detail}")
            else:
                self._mark((kind, s.namespace, s.name), s.score, f"{s.kind}: {s.detail}")
        # workloads: CPU saturation from metrics-server, unavailable replicas
        usage: dict[tuple[str, str], dict[str, float]] = {}
        for m in obs.pod_metrics:
            usage[(namespace_of(m), name_of(m))] = {
                c["name"]: cpu_millicores(c["usage"]["cpu"]) for c in m.get("containers") or []
            }
        for dref, pods in topo.pods_of.items():
            ratios = []
            for pod in pods:
                used = usage.get((namespace_of(pod), name_of(pod)), {})
                for c in (pod.get("spec") or {}).get("containers") or []:
                    limit = ((c.get("resources") or {}).get("limits") or {}).get("cpu")
                    if limit and c["name"] in used:
                        ratios.append(used[c["name"]] / max(cpu_millicores(limit), 1e-9))
            if ratios:
                self.cpu_ratio[dref] = max(ratios)
        slo = {
            (namespace_of(s), name_of(s)): float(
                (s.get("metadata") or {})
                .get("annotations", {})
                .get(SLO_ANNOTATION, DEFAULT_P99_SLO_MS)
            )
            for s in obs.of(Kind.SERVICE)
        }
        svc_bad: dict[Ref, float] = {}
        for sm in obs.service_metrics:
            ref = (Kind.SERVICE, sm.namespace, sm.service)
            bad = 0.0
            if sm.request_rate_rps > 0 and sm.error_rate > ERROR_RATE_MAX:
                bad = max(bad, min(1.0, 0.3 + sm.error_rate))
            limit = slo.get((sm.namespace, sm.service), DEFAULT_P99_SLO_MS)
            if sm.request_rate_rps > 0 and sm.latency_p99_ms > limit:
                bad = max(bad, min(1.0, 0.3 + 0.35 * sm.latency_p99_ms / limit))
            if bad:
                svc_bad[ref] = bad
                self._mark(
                    ref,
                    bad,
                    f"golden signals: {sm.error_rate:.1%} errors, p99 {sm.latency_p99_ms:.0f} ms"
                    f" (SLO {limit:.0f} ms) at {sm.request_rate_rps:.0f} rps",
                )
        for dref, ratio in self.cpu_ratio.items():
            if ratio < CPU_SATURATED:
                continue
            own = max((svc_bad.get(s, 0.0) for s in topo.services_of(dref)), default=0.0)
            if own:
                self._mark(dref, own, f"CPU at {ratio:.0%} of its limit (throttled)")
        for dref, d in topo.deployments.items():
            spec, status = d.get("spec") or {}, d.get("status") or {}
            want = int(spec.get("replicas", 1))
            have = int(status.get("availableReplicas", 0))
            if want and have < want and self.anomaly.get(dref):
                self._mark(dref, (want - have) / want, f"{have}/{want} replicas available")
            failure = condition(d, "ReplicaFailure")
            if failure and failure.get("status") == "True":
                self._mark(dref, 0.6, f"ReplicaFailure: {failure.get('message')}")
                hit = _QUOTA_RE.search(str(failure.get("message")))
                if hit:
                    self._mark(
                        (Kind.RESOURCE_QUOTA, dref[1], hit.group(1)),
                        0.8,
                        f"blocks pod creation of {ref_str(dref)}",
                    )
        for node in obs.of(Kind.NODE):
            if not is_node_ready(node):
                ready = condition(node, "Ready") or {}
                self._mark(
                    (Kind.NODE, "", name_of(node)),
                    1.0,
                    f"Ready={ready.get('status')} ({ready.get('reason')}): {ready.get('message')}",
                )
        for hpa in obs.of(Kind.HORIZONTAL_POD_AUTOSCALER):
            limited = condition(hpa, "ScalingLimited") or {}
            if limited.get("status") == "True" and limited.get("reason") == "TooManyReplicas":
                ref = (Kind.HORIZONTAL_POD_AUTOSCALER, namespace_of(hpa), name_of(hpa))
                target = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
                dref = (Kind.DEPLOYMENT, ref[1], str(target.get("name")))
                demand = max(
                    [svc_bad.get(s, 0.0) for s in topo.services_of(dref)]
                    + [self.anomaly.get(dref, 0.0)]
                )
                if demand:
                    self._mark(
                        ref,
                        1.0,
                        f"at maxReplicas={hpa['spec'].get('maxReplicas')}: {limited.get('message')}",
                    )
        for pvc in obs.of(Kind.PERSISTENT_VOLUME_CLAIM):
            if (pvc.get("status") or {}).get("phase") == "Pending":
                self._mark(
                    (Kind.PERSISTENT_VOLUME_CLAIM, namespace_of(pvc), name_of(pvc)),
                    0.7,
                    "claim is Pending",
                )
        for ev in obs.of(Kind.EVENT):
            if ev.get("type") != "Warning":
                continue
            last = ev.get("lastTimestamp") or ev.get("eventTime")
            if last and (self.now - parse_time(str(last))).total_seconds() > EVENT_WINDOW_S:
                continue
            self._event(ev)
        self._dependencies_without_endpoints()
        self._batch_contention()
        self._node_contention(usage, svc_bad)
        for ref, svc in topo.services.items():
            selector = (svc.get("spec") or {}).get("selector")
            if not selector or not self.anomaly.get(ref):
                continue
            if not any(d[0] is Kind.DEPLOYMENT for d in topo.edges.get(ref, ())):
                self._mark(ref, 1.0, f"selector {selector} selects no workload")

    def _node_contention(
        self, usage: dict[tuple[str, str], dict[str, float]], svc_bad: dict[Ref, float]
    ) -> None:
        """A workload bursting far above its CPU request on a node that is out of CPU, beside a
        degraded service's pods, is a suspect (a noisy neighbour): requests are what the
        scheduler packs by, so a pod that uses several times its request takes the CPU its
        neighbours were promised, whatever namespace it runs in."""
        topo = self.topo
        alloc: dict[str, float] = {}
        for n in topo.obs.of(Kind.NODE):
            st = n.get("status") or {}
            cpu = (st.get("allocatable") or {}).get("cpu") or (st.get("capacity") or {}).get("cpu")
            if cpu:
                alloc[name_of(n)] = cpu_millicores(cpu)
        hurt = {
            dref
            for dref in topo.deployments
            if self.anomaly.get(dref) or any(svc_bad.get(sv) for sv in topo.services_of(dref))
        }
        on_node: dict[str, list[tuple[Ref | None, str, float, float]]] = defaultdict(list)
        for pod in topo.obs.of(Kind.POD):
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or (pod.get("status") or {}).get("phase") != "Running":
                continue
            ns, name = namespace_of(pod), name_of(pod)
            used = sum(usage.get((ns, name), {}).values())
            requested = sum(
                cpu_millicores(((c.get("resources") or {}).get("requests") or {}).get("cpu"))
                for c in (pod.get("spec") or {}).get("containers") or []
            )
            on_node[node].append((topo.owner_of_pod.get((ns, name)), name, used, requested))
        for node, pods in sorted(on_node.items()):
            cap = alloc.get(node, 0.0)
            busy = sum(used for _, _, used, _ in pods)
            victims = sorted({o for o, *_ in pods if o in hurt}, key=ref_str)
            if not cap or busy < NODE_CPU_BUSY * cap or not victims:
                continue
            for owner, name, used, requested in pods:
                if owner is None or owner in hurt:
                    continue
                if (
                    used >= NOISY_OVER_REQUEST * max(requested, 1.0)
                    and used >= NOISY_NODE_SHARE * cap
                ):
                    self._mark(
                        owner,
                        min(1.0, 0.4 + used / cap),
                        f"pod {name} burns {used:.0f}m CPU (requests {requested:.0f}m) on node "
                        f"{node}, {busy / cap:.0%} busy, beside {ref_str(victims[0])}",
                    )

    def _batch_contention(self) -> None:
        """A Job whose running pods hold a large share of an exhausted quota is a suspect."""
        topo = self.topo
        for qref, score in list(self.anomaly.items()):
            if qref[0] is not Kind.RESOURCE_QUOTA or score <= 0:
                continue
            quota = topo.objects.get(qref)
            hard = ((quota or {}).get("spec") or {}).get("hard") or {}
            limit_pods = float(hard["pods"]) if "pods" in hard else 0.0
            limit_cpu = cpu_millicores(hard.get("requests.cpu") or hard.get("cpu"))
            for jref in [r for r in topo.objects if r[0] is Kind.JOB and r[1] == qref[1]]:
                running = [
                    p
                    for p in topo.pods_of.get(jref, [])
                    if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                ]
                if not running:
                    continue
                cpu = sum(
                    cpu_millicores(((c.get("resources") or {}).get("requests") or {}).get("cpu"))
                    for p in running
                    for c in (p.get("spec") or {}).get("containers") or []
                )
                share = max(
                    len(running) / limit_pods if limit_pods else 0.0,
                    cpu / limit_cpu if limit_cpu else 0.0,
                )
                if share >= BATCH_SHARE:
                    self._mark(
                        jref,
                        min(1.0, 0.4 + share),
                        f"its {len(running)} running pods hold {share:.0%} of {ref_str(qref)}",
                    )

    def _dependencies_without_endpoints(self) -> None:
        """A Service with no ready endpoint that a troubled Service or workload depends on is a suspect.

        Its callers may make no calls any more (their readiness checks it and they left
        rotation), so the dependency shows no errors of its own; a workload behind it that
        is scaled to zero is marked too.
        """
        topo, obs = self.topo, self.topo.obs
        ready = {
            (namespace_of(e), name_of(e))
            for e in obs.of(Kind.ENDPOINTS)
            if any(s.get("addresses") for s in e.get("subsets") or [])
        }
        for ref in list(topo.services):
            if (ref[1], ref[2]) in ready:
                continue
            callers = sorted(
                (
                    r
                    for r in topo.dependents(ref)
                    if r[0] in (Kind.SERVICE, Kind.DEPLOYMENT) and self.anomaly.get(r)
                ),
                key=ref_str,
            )
            if not callers:
                if self.anomaly.get(ref):  # its own outage: say why it selects nothing ready
                    for dref in topo.edges.get(ref, ()):
                        d = topo.deployments.get(dref)
                        if d is not None and int((d.get("spec") or {}).get("replicas", 1)) == 0:
                            self._mark(dref, 0.7, f"scaled to 0 replicas: {ref_str(ref)} is empty")
                continue
            self._mark(ref, 0.8, f"no ready endpoints while {ref_str(callers[0])} depends on it")
            for dref in topo.edges.get(ref, ()):
                d = topo.deployments.get(dref)
                if d is not None and int((d.get("spec") or {}).get("replicas", 1)) == 0:
                    self._mark(dref, 0.9, f"scaled to 0 replicas while {ref_str(ref)} has callers")

    def _event(self, ev: dict[str, object]) -> None:
        inv = ev.get("involvedObject") or {}
        assert isinstance(inv, dict)
        reason, msg = str(ev.get("reason")), str(ev.get("message"))
        ns = str(inv.get("namespace") or "")
        kind_name = str(inv.get("kind"))
        if reason == "ProvisioningFailed" and kind_name == "PersistentVolumeClaim":
            self._mark(
                (Kind.PERSISTENT_VOLUME_CLAIM, ns, str(inv.get("name"))), 1.0, f"{reason}: {msg}"
            )
        elif reason in ("FailedMount", "Failed") and (
            "configmap" in msg.lower() or "secret" in msg.lower()
        ):
            owner = self.topo.owner_of_pod.get((ns, str(inv.get("name"))))
            if owner is None:
                return
            for dep in self.topo.edges.get(owner, ()):
                if dep[0] not in (Kind.CONFIG_MAP, Kind.SECRET):
                    continue
                word = "config key" if dep[0] is Kind.CONFIG_MAP else "secret key"
                if dep[2] in msg or word in msg:
                    self._mark(dep, 1.0, f"{reason} of {inv.get('name')}: {msg}")
        elif reason == "FailedScheduling" and "were unschedulable" in msg:
            cordoned = [
                n
                for n in self.topo.obs.of(Kind.NODE)
                if (n.get("spec") or {}).get("unschedulable") and is_node_ready(n)
            ]
            owner = self.topo.owner_of_pod.get((ns, str(inv.get("name"))))
            for node in cordoned:
                nref = (Kind.NODE, "", name_of(node))
                self._mark(nref, 1.0, f"cordoned while Ready; {inv.get('name')}: {msg}")
                if owner is not None:
                    self.blocked_by_cordon[owner] = nref
        elif reason == "FailedCreate" and "exceeded quota" in msg:
            m = _QUOTA_RE.search(msg)
            if m:
                self._mark((Kind.RESOURCE_QUOTA, ns, m.group(1)), 0.8, f"{reason}: {msg}")

    # ranking ---------------------------------------------------------------------------------
    def rank(self, incident: Incident, onset_s: float) -> list[Hypothesis]:
        """Score, walk, apply the change timeline, classify; the top hypotheses first."""
        self.score(incident)
        nodes = self.topo.nodes()
        for ref in self.anomaly:
            if ref not in nodes:
                nodes.append(ref)
        pr = personalized_pagerank(nodes, self.topo.edges, self.anomaly)
        top = max((pr[r] for r in self.anomaly if self.anomaly[r] > 0), default=0.0) or 1.0
        suspects = self._changed_suspects(onset_s)
        times = sorted({round(c.at_s, 3) for _, c in suspects})
        order = {ref: times.index(round(c.at_s, 3)) for ref, c in suspects}
        scores: dict[Ref, float] = {}
        for ref, a in self.anomaly.items():
            if a > 0:
                scores[ref] = 0.6 * pr.get(ref, 0.0) / top
        for ref, change in suspects:
            bonus = 0.5 * (1.0 - 0.15 * order[ref])
            scores[ref] = scores.get(ref, 0.0) + max(bonus, 0.2)
            self.evidence[ref].append(change.describe())
        for dref, nref in self.blocked_by_cordon.items():
            # a rollout whose pods only wait for room a cordoned node holds is held up, not
            # bad: its change explains less than the cordon does
            if dref in scores and nref in scores and self._only_unscheduled(dref):
                scores[dref] = min(scores[dref], 0.9 * scores[nref])
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], ref_str(kv[0])))
        out: list[Hypothesis] = []
        changed = dict(suspects)
        for ref, score in ranked:
            found = changed.get(ref)
            kind = self.classify(ref, found)
            if kind is HypothesisKind.UNKNOWN and out:
                continue
            confidence = min(
                1.0,
                0.35 * self.anomaly.get(ref, 0.0)
                + 0.4 * (found is not None)
                + 0.45 * (kind is not HypothesisKind.UNKNOWN),
            )
            out.append(
                Hypothesis(
                    kind=kind.value,
                    object_kind=ref[0].value,
                    namespace=ref[1],
                    name=ref[2],
                    score=round(score, 6),
                    confidence=round(confidence, 3),
                    evidence=list(self.evidence.get(ref, [])),
                    changed_at=found.at_s if found else None,
                )
            )
            if len(out) == TOP_K:
                break
        if out and out[0].kind == HypothesisKind.UNKNOWN.value:
            # Where the anomaly gathers says where it hurts, not why: a typed explanation
            # backed by a change to something the anomaly touches goes before "unknown".
            explained = [h for h in out[1:] if h.changed_at is not None]
            if explained:
                out = explained + [h for h in out if h not in explained]
        return out

    def _changed_suspects(self, onset_s: float) -> list[tuple[Ref, Change]]:
        """Objects changed before the onset that touch the anomaly, earliest change first."""
        related: set[Ref] = {r for r, a in self.anomaly.items() if a > 0}
        for ref in list(related):
            related |= self.topo.edges.get(ref, set())
            related |= set(self.topo.dependents(ref))
        found: dict[Ref, Change] = {}
        for change in self.changes.recent(onset_s - CHANGE_LOOKBACK_S):
            if change.at_s > onset_s or not _significant(change):
                continue
            ref = (change.kind, change.namespace, change.name)
            if ref in related and ref not in found:
                if (
                    change.kind is Kind.DEPLOYMENT
                    and not self.anomaly.get(ref)
                    and not self._backs_anomalous_service(ref)
                ):
                    continue
                if change.fields == ["replicas"] and self._autoscaled(ref):
                    continue  # the autoscaler's own scaling is not a suspect
                found[ref] = change
        for ref in related:  # rollouts the change feed did not see: the ReplicaSets' history
            if ref[0] is not Kind.DEPLOYMENT or ref in found or not self.anomaly.get(ref):
                continue
            if self.changes.changes_of(*ref):
                continue  # the feed knows this workload's history (including the healer's own writes)
            rollout = rollout_change(self.topo, ref)
            if rollout is not None and rollout.at_s <= onset_s and _significant(rollout):
                found[ref] = rollout
        return sorted(found.items(), key=lambda kv: (kv[1].at_s, ref_str(kv[0])))

    def _only_unscheduled(self, dref: Ref) -> bool:
        """Every pod of the workload that is not running and ready is waiting to be scheduled
        (no crash, no image or config error, no failing probe)."""
        for pod in self.topo.pods_of.get(dref, []):
            status = pod.get("status") or {}
            if status.get("phase") == "Running" and is_pod_ready(pod):
                continue
            if status.get("phase") != "Pending" or (pod.get("spec") or {}).get("nodeName"):
                return False
        return True

    def _backs_anomalous_service(self, ref: Ref) -> bool:
        """A Service with an anomaly selects this workload's pods: requests that fail or
        slow down there are served by them, though no pod crashes or goes unready (a build
        that answers 5xx, a canary beside a stable workload)."""
        return any(
            s[0] is Kind.SERVICE and a > 0 and ref in self.topo.edges.get(s, ())
            for s, a in self.anomaly.items()
        )

    def _autoscaled(self, ref: Ref) -> bool:
        return any(d[0] is Kind.HORIZONTAL_POD_AUTOSCALER for d in self.topo.edges.get(ref, ()))

    def classify(self, ref: Ref, change: Change | None) -> HypothesisKind:
        """What kind of root cause ``ref`` is, from its kind, evidence and change."""
        kind = ref[0]
        ev = " ".join(self.evidence.get(ref, []))
        if kind is Kind.DEPLOYMENT:
            if change is not None and change.before is not None:
                fields = [f for f in change.fields if f != "replicas"]
                if fields:
                    return HypothesisKind.BAD_ROLLOUT
                if int(change.after.get("replicas", 0) if change.after else 0) < int(
                    change.before.get("replicas", 0)
                ):
                    return HypothesisKind.SCALED_DOWN
            if "OOMKilled" in ev:
                return HypothesisKind.MEMORY_LIMIT
            if "throttled" in ev:
                return HypothesisKind.CPU_SATURATION
            return HypothesisKind.UNKNOWN
        if kind in (Kind.CONFIG_MAP, Kind.SECRET):
            return (
                HypothesisKind.CONFIG_CHANGE if change is not None or ev else HypothesisKind.UNKNOWN
            )
        if kind is Kind.SERVICE:
            return (
                HypothesisKind.SELECTOR_MISMATCH
                if "selects no workload" in ev
                else HypothesisKind.UNKNOWN
            )
        if kind is Kind.NODE:
            node = self.topo.objects.get(ref)
            if (
                node is not None
                and is_node_ready(node)
                and (node.get("spec") or {}).get("unschedulable")
            ):
                return HypothesisKind.NODE_CORDONED
            return HypothesisKind.NODE_FAILURE
        if kind is Kind.HORIZONTAL_POD_AUTOSCALER:
            return HypothesisKind.AUTOSCALER_LIMIT
        if kind is Kind.PERSISTENT_VOLUME_CLAIM:
            return (
                HypothesisKind.STORAGE_PROVISIONING
                if "ProvisioningFailed" in ev
                else HypothesisKind.UNKNOWN
            )
        if kind is Kind.RESOURCE_QUOTA:
            return HypothesisKind.QUOTA_EXHAUSTED
        if kind is Kind.JOB:
            return (
                HypothesisKind.BATCH_CONTENTION
                if "running pods hold" in ev or " CPU (requests " in ev
                else HypothesisKind.UNKNOWN
            )
        return HypothesisKind.UNKNOWN


def rollout_change(topo: Topology, dref: Ref) -> Change | None:
    """A Deployment's latest rollout read from its revision history (its ReplicaSets).

    The change is dated by the current ReplicaSet's creation and carries the previous
    revision's template as ``before``; None when there is no older revision.
    """
    deploy = topo.deployments.get(dref)
    if deploy is None:
        return None
    by_rev = {
        revision_of(rs): rs
        for rs in topo.obs.of(Kind.REPLICA_SET, dref[1])
        if owner_uid(rs) == meta(deploy).get("uid")
    }
    current = revision_of(deploy)
    older = [r for r in by_rev if 0 < r < current]
    if current not in by_rev or not older:
        return None
    before = {"template": template_of_replica_set(by_rev[max(older)])}
    after = {"template": template_of_replica_set(by_rev[current])}
    fields = diff_fields(before, after)
    if not fields:
        return None
    created = meta(by_rev[current]).get("creationTimestamp")
    return Change(
        seconds_of(str(created)) if created else 0.0,
        Kind.DEPLOYMENT,
        dref[1],
        dref[2],
        fields,
        before,
        after,
    )


def rank_root_causes(
    topo: Topology, changes: ChangeTracker, incident: Incident, onset_s: float
) -> tuple[list[Hypothesis], Diagnoser]:
    """Rank 1-3 root-cause hypotheses for an incident (see :class:`Diagnoser`)."""
    diag = Diagnoser(topo, changes)
    return diag.rank(incident, onset_s), diag
