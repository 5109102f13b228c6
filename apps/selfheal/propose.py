"""Step 4: typed remediation actions from templates per hypothesis kind, with a risk score.

Every proposal is an :mod:`apps.k8s.actions` struct. Templates read only the
observation, the revision history kept in ReplicaSets and the change tracker's
previous versions; nothing is run as code.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from typing import Any

from apps.k8s.actions import (
    Action,
    CordonNode,
    DeletePod,
    DrainNode,
    PatchConfigMap,
    PatchEnv,
    PatchHpa,
    PatchProbe,
    PatchResourceQuota,
    PatchResources,
    PatchSecret,
    PatchServiceSelector,
    ProbeKind,
    RecreatePvc,
    RestartDeployment,
    RolloutUndo,
    ScaleDeployment,
    ScaleJob,
    SuspendJob,
    action_to_dict,
    revision_of,
)
from apps.k8s.kinds import Kind
from apps.k8s.objects import (
    KubeObject,
    annotations_of,
    canonical_json,
    condition,
    labels_of,
    meta,
    name_of,
    owner_uid,
)
from apps.k8s.quantity import (
    cpu_millicores,
    format_cpu,
    format_memory,
    memory_bytes,
    parse_quantity,
)
from apps.selfheal.changes import ChangeTracker, template_of_replica_set
from apps.selfheal.records import Hypothesis, Proposal
from apps.selfheal.rootcause import HypothesisKind, rollout_change
from apps.selfheal.settings import SelfHealSettings
from apps.selfheal.topology import Ref, Topology

SCALE_FACTOR = 2.0  # replicas or limits multiply by this when capacity is short
MAX_SCALE_REPLICAS = 50
CHANGE_BURST_S = 300.0  # template edits closer than this form one run (see _last_good_revision)
_PROBE_KEYS = {
    "readinessProbe": ProbeKind.READINESS,
    "livenessProbe": ProbeKind.LIVENESS,
    "startupProbe": ProbeKind.STARTUP,
}
_QUOTA_USE_RE = re.compile(r"requested: ([^,]+(?:, [a-z.]+=[^,]+)*), used: (.+?), limited: (.+)$")


def action_target(action: Action) -> str:
    """``type kind/ns/name`` of an action, without its parameters (what the judge compares)."""
    d = action_to_dict(action)
    where = d.get("node") or f"{d.get('namespace')}/{d.get('name') or d.get('label_selector')}"
    return f"{d['type']} {where}"


class Proposer:
    """Turns hypotheses into typed, risk-scored proposals."""

    def __init__(self, topo: Topology, changes: ChangeTracker, settings: SelfHealSettings) -> None:
        self.topo = topo
        self.changes = changes
        self.settings = settings

    def propose(self, hyps: Sequence[Hypothesis]) -> list[Proposal]:
        """Proposals for every hypothesis, best hypothesis first, each ordered by its prior."""
        out: list[Proposal] = []
        for i, h in enumerate(hyps):
            kind = HypothesisKind(h.kind)
            ref: Ref = (Kind(h.object_kind), h.namespace, h.name)
            for action, prior, why in self._templates(kind, ref, h):
                out.append(self._score(action, i, "template", why, prior))
        seen: set[str] = set()
        unique = []
        for p in out:
            key = canonical_json(action_to_dict(p.action)).decode()
            if key not in seen:
                seen.add(key)
                unique.append(p)
        return unique

    def from_model(self, action: Action) -> Proposal:
        """A model's typed proposal, scored like a template's (lower prior: it is unproven)."""
        return self._score(action, 0, "model", "proposed by a model through the router", 0.4)

    # templates ----------------------------------------------------------------------------
    def _templates(
        self, kind: HypothesisKind, ref: Ref, h: Hypothesis
    ) -> list[tuple[Action, float, str]]:
        _, ns, name = ref
        if kind is HypothesisKind.BAD_ROLLOUT:
            return self._rollout(ns, name)
        if kind is HypothesisKind.SCALED_DOWN:
            change = self.changes.last_foreign_change(Kind.DEPLOYMENT, ns, name)
            if change and change.before:
                n = int(change.before.get("replicas", 1))
                return [
                    (
                        ScaleDeployment(namespace=ns, name=name, replicas=n),
                        0.8,
                        f"scale back to the {n} replicas it had before it was scaled down",
                    )
                ]
            return []
        if kind is HypothesisKind.CONFIG_CHANGE:
            if ref[0] is Kind.SECRET:
                return self._secret(ns, name)
            return self._config(ns, name)
        if kind is HypothesisKind.SELECTOR_MISMATCH:
            return self._selector(ns, name)
        if kind is HypothesisKind.NODE_FAILURE:
            return self._node(name)
        if kind is HypothesisKind.NODE_CORDONED:
            return [
                (
                    CordonNode(node=name, uncordon=True),
                    0.8,
                    "uncordon the node: it is Ready, and pods that need its room cannot schedule",
                )
            ]
        if kind is HypothesisKind.CPU_SATURATION:
            return self._cpu(ns, name)
        if kind is HypothesisKind.MEMORY_LIMIT:
            return self._memory(ns, name)
        if kind is HypothesisKind.AUTOSCALER_LIMIT:
            return self._hpa(ns, name)
        if kind is HypothesisKind.STORAGE_PROVISIONING:
            return self._pvc(ns, name)
        if kind is HypothesisKind.QUOTA_EXHAUSTED:
            return self._quota(ns, name)
        if kind is HypothesisKind.BATCH_CONTENTION:
            return self._batch(ns, name)
        return []

    def _rollout(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        deploy = self.topo.deployments.get((Kind.DEPLOYMENT, ns, name))
        if deploy is None:
            return []
        change = self.changes.last_foreign_change(Kind.DEPLOYMENT, ns, name)
        if change is None and not self.changes.changes_of(Kind.DEPLOYMENT, ns, name):
            change = rollout_change(self.topo, (Kind.DEPLOYMENT, ns, name))
        rs_list = [
            rs
            for rs in self.topo.obs.of(Kind.REPLICA_SET, ns)
            if owner_uid(rs) == meta(deploy).get("uid")
        ]
        current = revision_of(deploy)
        out: list[tuple[Action, float, str]] = []
        before_t = (change.before or {}).get("template") if change else None
        target_rev = 0
        if before_t is not None:
            for rs in rs_list:
                if (
                    canonical_json(template_of_replica_set(rs)) == canonical_json(before_t)
                    and revision_of(rs) != current
                ):
                    target_rev = revision_of(rs)
        older = [revision_of(rs) for rs in rs_list if 0 < revision_of(rs) < current]
        good_rev, burst = self._last_good_revision(ns, name, rs_list, current)
        if good_rev and good_rev != target_rev:
            out.append(
                (
                    RolloutUndo(namespace=ns, name=name, to_revision=good_rev),
                    0.72,
                    f"roll back to revision {good_rev}, the template before the {burst} "
                    "changes made in a row",
                )
            )
        if target_rev or older:
            rev = target_rev or max(older)
            out.append(
                (
                    RolloutUndo(namespace=ns, name=name, to_revision=target_rev),
                    0.7,
                    f"roll back to revision {rev}, the template before the change",
                )
            )
        if change and change.before and change.after:
            out += self._targeted_revert(
                ns, name, change.before["template"], change.after["template"]
            )
        return out

    def _last_good_revision(
        self, ns: str, name: str, rs_list: list[KubeObject], current: int
    ) -> tuple[int, int]:
        """The revision before a run of template edits, when one undo would keep some of them.

        Edits by others less than ``CHANGE_BURST_S`` apart, ending with the latest one, are
        one run: an incident that follows them may come from any of them, and undoing
        only the last keeps the others. Returns the revision whose template is the one
        before the run's first edit, and the number of edits (``(0, 0)`` for one edit).
        """
        edits = [
            c
            for c in self.changes.changes_of(Kind.DEPLOYMENT, ns, name)
            if not c.own
            and c.before is not None
            and c.after is not None
            and c.before.get("template") is not None
            and canonical_json(c.before.get("template")) != canonical_json(c.after.get("template"))
        ]
        if len(edits) < 2:
            return 0, 0
        run = [edits[-1]]
        for c in reversed(edits[:-1]):
            if run[0].at_s - c.at_s > CHANGE_BURST_S:
                break
            run.insert(0, c)
        if len(run) < 2:
            return 0, 0
        first = canonical_json(run[0].before.get("template") if run[0].before else None)
        revs = [
            revision_of(rs)
            for rs in rs_list
            if canonical_json(template_of_replica_set(rs)) == first and revision_of(rs) != current
        ]
        return (max(revs), len(run)) if revs else (0, 0)

    def _targeted_revert(
        self, ns: str, name: str, before: dict[str, Any], after: dict[str, Any]
    ) -> list[tuple[Action, float, str]]:
        """Put back only the fields of one container that changed (image changes need an undo)."""
        b_cs = {c["name"]: c for c in (before.get("spec") or {}).get("containers") or []}
        a_cs = {c["name"]: c for c in (after.get("spec") or {}).get("containers") or []}
        if set(b_cs) != set(a_cs):
            return []
        out: list[tuple[Action, float, str]] = []
        for cname, b in b_cs.items():
            a = a_cs[cname]
            keys = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
            if not keys or "image" in keys or "command" in keys or "args" in keys:
                continue
            if keys <= {"resources"}:
                br, ar = b.get("resources") or {}, a.get("resources") or {}
                req = {
                    k: v
                    for k, v in (br.get("requests") or {}).items()
                    if (ar.get("requests") or {}).get(k) != v
                }
                lim = {
                    k: v
                    for k, v in (br.get("limits") or {}).items()
                    if (ar.get("limits") or {}).get(k) != v
                }
                if req or lim:
                    out.append(
                        (
                            PatchResources(
                                namespace=ns, name=name, container=cname, requests=req, limits=lim
                            ),
                            0.65,
                            "put the container's resources back as they were",
                        )
                    )
            elif keys <= set(_PROBE_KEYS):
                for key in keys:
                    probe = b.get(key)
                    if probe is None:
                        out.append(
                            (
                                PatchProbe(
                                    namespace=ns,
                                    name=name,
                                    container=cname,
                                    probe=_PROBE_KEYS[key],
                                    remove=True,
                                ),
                                0.65,
                                f"remove the {key} that was added",
                            )
                        )
                        continue
                    http = probe.get("httpGet") or {}
                    port = http.get("port")
                    out.append(
                        (
                            PatchProbe(
                                namespace=ns,
                                name=name,
                                container=cname,
                                probe=_PROBE_KEYS[key],
                                http_path=http.get("path"),
                                port=port if isinstance(port, int) else None,
                                initial_delay_seconds=probe.get("initialDelaySeconds", 0),
                                period_seconds=probe.get("periodSeconds", 10),
                                timeout_seconds=probe.get("timeoutSeconds", 1),
                                failure_threshold=probe.get("failureThreshold", 3),
                                success_threshold=probe.get("successThreshold", 1),
                            ),
                            0.65,
                            f"put the {key} back as it was",
                        )
                    )
            elif keys <= {"env"}:
                benv = {e["name"]: e.get("value") for e in b.get("env") or [] if "value" in e}
                aenv = {e["name"]: e.get("value") for e in a.get("env") or []}
                if any("valueFrom" in e for e in b.get("env") or []):
                    continue
                set_ = {k: str(v) for k, v in benv.items() if aenv.get(k) != v}
                remove = [k for k in aenv if k not in benv]
                if set_ or remove:
                    out.append(
                        (
                            PatchEnv(
                                namespace=ns, name=name, container=cname, set=set_, remove=remove
                            ),
                            0.65,
                            "put the environment back as it was",
                        )
                    )
        return out

    def _config(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        change = self.changes.last_foreign_change(Kind.CONFIG_MAP, ns, name)
        if change is None or change.before is None or change.after is None:
            return []
        before, after = change.before.get("data") or {}, change.after.get("data") or {}
        set_ = {k: str(v) for k, v in before.items() if after.get(k) != v}
        remove = [k for k in after if k not in before]
        if not set_ and not remove:
            return []
        return [
            (
                PatchConfigMap(namespace=ns, name=name, set=set_, remove=remove),
                0.8,
                f"restore the keys changed at t={change.at_s:.0f}s: {sorted(set_) + remove}",
            )
        ]

    def _secret(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        """Put back the Secret keys that changed, from values this process saw (never stored)."""
        change = self.changes.last_foreign_change(Kind.SECRET, ns, name)
        if change is None or change.before is None or change.after is None:
            return []
        before, after = change.before.get("data") or {}, change.after.get("data") or {}
        set_: dict[str, str] = {}
        for key, digest in before.items():
            if after.get(key) == digest:
                continue
            value = self.changes.secret_value(ns, name, str(digest))
            if value is None:
                return []  # a value this process never saw: a person must restore it
            set_[key] = base64.b64decode(value).decode(errors="replace")
        if not set_:
            return []  # keys added by the change break no reader of the old ones: left alone
        return [
            (
                PatchSecret(namespace=ns, name=name, set=set_),
                0.8,
                f"put back the secret keys changed at t={change.at_s:.0f}s: {sorted(set_)}",
            )
        ]

    def _batch(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        """Pause the Job that holds the quota (resumable); or halve how many pods it runs."""
        job = self.topo.objects.get((Kind.JOB, ns, name))
        if job is None or (job.get("spec") or {}).get("suspend"):
            return []
        parallelism = int((job.get("spec") or {}).get("parallelism", 1))
        out: list[tuple[Action, float, str]] = [
            (
                SuspendJob(namespace=ns, name=name),
                0.75,
                "suspend the batch job holding the quota; resume it once the service has recovered",
            )
        ]
        if parallelism > 1:
            out.append(
                (
                    ScaleJob(namespace=ns, name=name, parallelism=parallelism // 2),
                    0.5,
                    f"halve the job's parallelism ({parallelism} -> {parallelism // 2})",
                )
            )
        return out

    def _selector(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        change = self.changes.last_foreign_change(Kind.SERVICE, ns, name)
        if change and change.before and change.before.get("selector"):
            sel = dict(change.before["selector"])
            if self._selects_workload(ns, sel):
                return [
                    (
                        PatchServiceSelector(namespace=ns, name=name, selector=sel),
                        0.8,
                        f"restore the selector {sel} it had before",
                    )
                ]
        svc = self.topo.services.get((Kind.SERVICE, ns, name))
        cur = dict(((svc or {}).get("spec") or {}).get("selector") or {})
        best: tuple[int, dict[str, str]] | None = None
        for (_, dns, dname), d in self.topo.deployments.items():
            if dns != ns:
                continue
            labels = labels_of(d["spec"]["template"])
            if not set(cur) <= set(labels):
                continue
            cand = {k: labels[k] for k in cur}
            dist = sum(_edit_distance(cur[k], cand[k]) for k in cur) + (0 if dname == name else 3)
            if best is None or dist < best[0]:
                best = (dist, cand)
        if best is not None and best[0] <= 4:
            return [
                (
                    PatchServiceSelector(namespace=ns, name=name, selector=best[1]),
                    0.6,
                    f"select the workload whose labels are closest: {best[1]}",
                )
            ]
        return []

    def _selects_workload(self, ns: str, sel: dict[str, str]) -> bool:
        return any(
            dns == ns and all(labels_of(d["spec"]["template"]).get(k) == v for k, v in sel.items())
            for (_, dns, _), d in self.topo.deployments.items()
        )

    def _node(self, node: str) -> list[tuple[Action, float, str]]:
        pods = [
            p for p in self.topo.obs.of(Kind.POD) if (p.get("spec") or {}).get("nodeName") == node
        ]
        if not pods:
            return []
        return [
            (
                DrainNode(node=node),
                0.8,
                f"evict the {len(pods)} pods stranded on the unready node so they run elsewhere",
            )
        ]

    def _hpa_of(self, ns: str, name: str) -> dict[str, Any] | None:
        for h in self.topo.obs.of(Kind.HORIZONTAL_POD_AUTOSCALER, ns):
            t = (h.get("spec") or {}).get("scaleTargetRef") or {}
            if t.get("kind") == "Deployment" and t.get("name") == name:
                return h
        return None

    def _cpu(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        hpa = self._hpa_of(ns, name)
        if hpa is not None:
            return self._hpa(ns, name_of(hpa))
        d = self.topo.deployments[(Kind.DEPLOYMENT, ns, name)]
        out: list[tuple[Action, float, str]] = []
        replicas = int(d["spec"].get("replicas", 1))
        target = min(max(math.ceil(replicas * SCALE_FACTOR), replicas + 1), MAX_SCALE_REPLICAS)
        out.append(
            (
                ScaleDeployment(namespace=ns, name=name, replicas=target),
                0.6,
                f"spread the load: {replicas} → {target} replicas",
            )
        )
        for c in d["spec"]["template"]["spec"].get("containers") or []:
            lim = ((c.get("resources") or {}).get("limits") or {}).get("cpu")
            if lim:
                new = min(cpu_millicores(lim) * SCALE_FACTOR, self._node_cpu_m())
                if new > cpu_millicores(lim):
                    out.append(
                        (
                            PatchResources(
                                namespace=ns,
                                name=name,
                                container=c["name"],
                                limits={"cpu": format_cpu(new)},
                            ),
                            0.55,
                            f"raise the CPU limit {lim} → {format_cpu(new)}",
                        )
                    )
        return out

    def _memory(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        d = self.topo.deployments[(Kind.DEPLOYMENT, ns, name)]
        out: list[tuple[Action, float, str]] = []
        for c in d["spec"]["template"]["spec"].get("containers") or []:
            res = c.get("resources") or {}
            lim = (res.get("limits") or {}).get("memory")
            if not lim:
                continue
            new = min(memory_bytes(lim) * SCALE_FACTOR, self._node_memory())
            if new <= memory_bytes(lim):
                continue
            limits = {"memory": format_memory(new)}
            req = (res.get("requests") or {}).get("memory")
            requests = (
                {"memory": format_memory(new)}
                if req and memory_bytes(req) >= memory_bytes(lim)
                else {}
            )
            out.append(
                (
                    PatchResources(
                        namespace=ns,
                        name=name,
                        container=c["name"],
                        requests=requests,
                        limits=limits,
                    ),
                    0.5,
                    f"raise the memory limit {lim} → {limits['memory']}",
                )
            )
        return out

    def _hpa(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        hpa = self.topo.objects.get((Kind.HORIZONTAL_POD_AUTOSCALER, ns, name))
        if hpa is None:
            return []
        change = self.changes.last_foreign_change(Kind.HORIZONTAL_POD_AUTOSCALER, ns, name)
        spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
        cur_max = int(spec.get("maxReplicas", 1))
        if change and change.before and int(change.before.get("maxReplicas", 0)) > cur_max:
            return [
                (
                    PatchHpa(
                        namespace=ns, name=name, max_replicas=int(change.before["maxReplicas"])
                    ),
                    0.8,
                    "restore the maxReplicas it had before",
                )
            ]
        limited = condition(hpa, "ScalingLimited") or {}
        at_max = int(status.get("desiredReplicas", 0) or 0) >= cur_max or (
            limited.get("status") == "True" and limited.get("reason") == "TooManyReplicas"
        )
        if not at_max:
            return []  # below its maximum: a higher one changes nothing
        want = cur_max * SCALE_FACTOR
        for m in status.get("currentMetrics") or []:
            res = m.get("resource") or {}
            util = (res.get("current") or {}).get("averageUtilization")
            target = None
            for sm in spec.get("metrics") or []:
                if (sm.get("resource") or {}).get("name") == res.get("name"):
                    target = ((sm.get("resource") or {}).get("target") or {}).get(
                        "averageUtilization"
                    )
            if util and target:
                want = max(
                    want,
                    int(status.get("currentReplicas", cur_max)) * float(util) / float(target) * 1.2,
                )
        new_max = int(min(math.ceil(want), max(cur_max * 5, cur_max + 1), 1000))
        return [
            (
                PatchHpa(namespace=ns, name=name, max_replicas=new_max),
                0.7,
                f"raise maxReplicas {cur_max} → {new_max} for the demand the autoscaler reports",
            )
        ]

    def _pvc(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        pvc = self.topo.objects.get((Kind.PERSISTENT_VOLUME_CLAIM, ns, name))
        if (
            pvc is None
            or (pvc.get("spec") or {}).get("volumeName")
            or (pvc.get("status") or {}).get("phase") == "Bound"
        ):
            return []
        classes = self.topo.obs.of(Kind.STORAGE_CLASS)
        wanted = (pvc.get("spec") or {}).get("storageClassName")
        if any(name_of(c) == wanted for c in classes):
            return []
        default = [
            c
            for c in classes
            if annotations_of(c).get("storageclass.kubernetes.io/is-default-class") == "true"
        ]
        pick = default or classes
        if not pick:
            return []
        sc = name_of(pick[0])
        out: list[tuple[Action, float, str]] = []
        near = _closest_name(str(wanted or ""), [name_of(c) for c in classes])
        if near is not None and near != sc:  # a typo of a class that exists: what was meant
            out.append(
                (
                    RecreatePvc(namespace=ns, name=name, storage_class=near),
                    0.72,
                    f"storage class {wanted!r} does not exist; {near!r} is the closest name: "
                    "recreate the never-bound claim on it",
                )
            )
        out.append(
            (
                RecreatePvc(namespace=ns, name=name, storage_class=sc),
                0.7,
                f"storage class {wanted!r} does not exist; recreate the never-bound claim on {sc!r}",
            )
        )
        return out

    def _quota(self, ns: str, name: str) -> list[tuple[Action, float, str]]:
        change = self.changes.last_foreign_change(Kind.RESOURCE_QUOTA, ns, name)
        if change and change.before and change.after:
            hard = {
                k: str(v)
                for k, v in (change.before.get("hard") or {}).items()
                if (change.after.get("hard") or {}).get(k) != v
            }
            if hard:
                return [
                    (
                        PatchResourceQuota(namespace=ns, name=name, hard=hard),
                        0.8,
                        "restore the quota it had before",
                    )
                ]
        q = self.topo.objects.get((Kind.RESOURCE_QUOTA, ns, name))
        if q is None:
            return []
        hard = {}
        for d in self.topo.deployments.values():
            failure = condition(d, "ReplicaFailure") or {}
            m = _QUOTA_USE_RE.search(str(failure.get("message", "")))
            if not m:
                continue
            req = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
            used = dict(kv.split("=", 1) for kv in m.group(2).split(", "))
            # room for every pod the Deployment still lacks (an autoscaler may want many),
            # and at least SCALE_FACTOR pods' worth
            want = int((d.get("spec") or {}).get("replicas", 1))
            have = int((d.get("status") or {}).get("replicas", 0))
            pods = max(want - have, SCALE_FACTOR)
            for key, value in req.items():
                need = parse_quantity(used.get(key, "0")) + parse_quantity(value) * pods
                if key in hard:  # two blocked Deployments: room for both
                    need += parse_quantity(hard[key]) - parse_quantity(used.get(key, "0"))
                hard[key] = (
                    format_memory(need)
                    if "memory" in key
                    else format_cpu(need * 1000)
                    if "cpu" in key
                    else str(int(need))
                )
        if not hard:
            return []
        return [
            (
                PatchResourceQuota(namespace=ns, name=name, hard=hard),
                0.5,
                f"raise the quota to fit the pods it refuses: {hard}",
            )
        ]

    def _node_cpu_m(self) -> float:
        return max(
            (
                cpu_millicores(n["status"]["allocatable"]["cpu"])
                for n in self.topo.obs.of(Kind.NODE)
            ),
            default=1000.0,
        )

    def _node_memory(self) -> float:
        return max(
            (
                memory_bytes(n["status"]["allocatable"]["memory"])
                for n in self.topo.obs.of(Kind.NODE)
            ),
            default=2**30,
        )

    # risk ---------------------------------------------------------------------------------
    def _score(self, action: Action, hyp: int, source: str, why: str, prior: float) -> Proposal:
        blast, reversible = self.blast_radius(action)
        ns = getattr(action, "namespace", "")
        critical = ns in self.settings.critical_namespaces
        base = {DrainNode: 0.25, RecreatePvc: 0.2, DeletePod: 0.15, RestartDeployment: 0.1}.get(
            type(action), 0.0
        )
        risk = 0.1 + base + 0.35 * min(1.0, blast / self.settings.max_blast_radius_pods)
        risk += 0.25 * (not reversible) + 0.15 * critical
        return Proposal(
            action=action,
            hypothesis=hyp,
            source=source,
            rationale=why,
            risk=round(min(risk, 1.0), 3),
            blast_radius_pods=blast,
            reversible=reversible,
            prior=prior,
        )

    def blast_radius(self, action: Action) -> tuple[int, bool]:
        """Pods an action can disrupt, and whether it can be undone."""
        obs = self.topo.obs
        if isinstance(action, DrainNode):
            return sum(
                1 for p in obs.of(Kind.POD) if (p.get("spec") or {}).get("nodeName") == action.node
            ), True
        if isinstance(action, RecreatePvc | DeletePod):
            pods = [p for p in obs.of(Kind.POD, action.namespace)]
            return len(pods) if isinstance(action, DeletePod) else 1, False
        if isinstance(action, PatchConfigMap | PatchSecret):
            kind = Kind.CONFIG_MAP if isinstance(action, PatchConfigMap) else Kind.SECRET
            n = sum(
                len(self.topo.pods_of[d])
                for d, deps in self.topo.edges.items()
                if (kind, action.namespace, action.name) in deps
            )
            return n, True
        if isinstance(action, PatchServiceSelector):
            return 0, True
        if isinstance(action, SuspendJob | ScaleJob):
            running = [
                p
                for p in self.topo.pods_of.get((Kind.JOB, action.namespace, action.name), [])
                if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            ]
            keep = action.parallelism if isinstance(action, ScaleJob) else 0
            return max(len(running) - keep, 0), True
        ns, name = getattr(action, "namespace", ""), getattr(action, "name", "")
        d = self.topo.deployments.get((Kind.DEPLOYMENT, ns, name))
        if d is not None:
            if isinstance(action, ScaleDeployment):
                return max(int(d["spec"].get("replicas", 1)) - action.replicas, 0), True
            return len(self.topo.pods_of[(Kind.DEPLOYMENT, ns, name)]), True
        return 0, True


def _closest_name(wanted: str, names: Sequence[str]) -> str | None:
    """The one name a mistyped ``wanted`` most likely meant: the single nearest by edit
    distance, within a third of ``wanted``'s length (at least 2); None when none is or
    two are equally near."""
    if not wanted or not names:
        return None
    dist = sorted((_edit_distance(wanted, n), n) for n in names)
    best, name = dist[0]
    if best > max(2, len(wanted) // 3) or (len(dist) > 1 and dist[1][0] == best):
        return None
    return name


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
