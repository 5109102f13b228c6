"""Typed remediation actions and their translation into API writes (the same for both backends).

An action never runs as code: model output is decoded into one of these structs
(:func:`parse_action`), then :func:`plan_action` reads the cluster and turns it into
the exact API requests (:class:`ApiOp`) that ``kubectl`` would send for it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal, Protocol

import msgspec

from apps.k8s.exceptions import (
    InvalidActionError,
    InvalidObjectError,
    ObjectNotFoundError,
    RevisionNotFoundError,
)
from apps.k8s.kinds import Kind, kind_info
from apps.k8s.objects import (
    POD_TEMPLATE_HASH,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    KubeObject,
    annotations_of,
    canonical_json,
    deep_copy,
    meta,
    name_of,
    namespace_of,
)
from apps.k8s.patching import PatchType
from apps.k8s.quantity import parse_quantity
from patterns.core.exceptions import ConfigError

MAX_REPLICAS = 1000
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
Replicas = Annotated[int, msgspec.Meta(ge=0, le=MAX_REPLICAS)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=3600)]


class ProbeKind(StrEnum):
    """Which probe of a container."""

    READINESS = "readiness"
    LIVENESS = "liveness"
    STARTUP = "startup"


class _Action(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", kw_only=True
):
    """Base of the typed actions; ``type`` names the action in JSON/YAML."""

    def describe(self) -> str:
        """A one-line, kubectl-like description."""
        return f"{type(self).__name__} {msgspec.structs.asdict(self)}"


class RolloutUndo(_Action, tag="rollout_undo", frozen=True, kw_only=True):
    """``kubectl rollout undo deployment/<name> [--to-revision=N]``; 0 means the previous one."""

    namespace: Name
    name: Name
    to_revision: Annotated[int, msgspec.Meta(ge=0)] = 0

    def describe(self) -> str:
        """A kubectl-like description."""
        rev = f" --to-revision={self.to_revision}" if self.to_revision else ""
        return f"kubectl -n {self.namespace} rollout undo deployment/{self.name}{rev}"


class RestartDeployment(_Action, tag="restart", frozen=True, kw_only=True):
    """``kubectl rollout restart``: stamp ``kubectl.kubernetes.io/restartedAt`` on the template."""

    namespace: Name
    name: Name

    def describe(self) -> str:
        """A kubectl-like description."""
        return f"kubectl -n {self.namespace} rollout restart deployment/{self.name}"


class ScaleDeployment(_Action, tag="scale", frozen=True, kw_only=True):
    """``kubectl scale deployment/<name> --replicas=N`` through the scale subresource."""

    namespace: Name
    name: Name
    replicas: Replicas

    def describe(self) -> str:
        """A kubectl-like description."""
        return (
            f"kubectl -n {self.namespace} scale deployment/{self.name} --replicas={self.replicas}"
        )


class PatchResources(_Action, tag="patch_resources", frozen=True, kw_only=True):
    """Set requests and/or limits of one container of a deployment."""

    namespace: Name
    name: Name
    container: Name
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}

    def describe(self) -> str:
        """A kubectl-like description."""
        parts = [f"--requests={k}={v}" for k, v in self.requests.items()]
        parts += [f"--limits={k}={v}" for k, v in self.limits.items()]
        return (
            f"kubectl -n {self.namespace} set resources deployment/{self.name} "
            f"-c {self.container} {' '.join(parts)}"
        )


class PatchEnv(_Action, tag="patch_env", frozen=True, kw_only=True):
    """Set and/or remove environment variables of one container of a deployment."""

    namespace: Name
    name: Name
    container: Name
    set: dict[str, str] = {}
    remove: list[str] = []

    def describe(self) -> str:
        """A kubectl-like description."""
        parts = [f"{k}={v}" for k, v in self.set.items()] + [f"{k}-" for k in self.remove]
        return (
            f"kubectl -n {self.namespace} set env deployment/{self.name} "
            f"-c {self.container} {' '.join(parts)}"
        )


class PatchProbe(_Action, tag="patch_probe", frozen=True, kw_only=True):
    """Change (or remove) a readiness, liveness or startup probe of one container."""

    namespace: Name
    name: Name
    container: Name
    probe: ProbeKind
    http_path: str | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    initial_delay_seconds: Seconds | None = None
    period_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] | None = None
    timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=3600)] | None = None
    failure_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    success_threshold: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    remove: bool = False

    def describe(self) -> str:
        """A kubectl-like description."""
        if self.remove:
            return f"remove the {self.probe.value} probe of {self.namespace}/deployment/{self.name} -c {self.container}"
        fields = {
            "path": self.http_path,
            "port": self.port,
            "initialDelaySeconds": self.initial_delay_seconds,
            "periodSeconds": self.period_seconds,
            "timeoutSeconds": self.timeout_seconds,
            "failureThreshold": self.failure_threshold,
            "successThreshold": self.success_threshold,
        }
        parts = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return f"set {self.probe.value} probe of {self.namespace}/deployment/{self.name} -c {self.container}: {parts}"


class PatchConfigMap(_Action, tag="patch_configmap", frozen=True, kw_only=True):
    """Set and/or remove keys of a config map."""

    namespace: Name
    name: Name
    set: dict[str, str] = {}
    remove: list[str] = []

    def describe(self) -> str:
        """A kubectl-like description (values are not shown: they may be secrets)."""
        parts = [f"{k}=<{len(v)} chars>" for k, v in self.set.items()] + [
            f"{k}-" for k in self.remove
        ]
        return f"kubectl -n {self.namespace} patch configmap/{self.name} data: {' '.join(parts)}"


class PatchSecret(_Action, tag="patch_secret", frozen=True, kw_only=True):
    """Set and/or remove keys of a Secret; values are plain text, sent base64-encoded in ``data``.

    Stored records never hold the values: :func:`redact_action` replaces them with a digest.
    """

    namespace: Name
    name: Name
    set: dict[str, str] = {}
    remove: list[str] = []

    def describe(self) -> str:
        """A kubectl-like description (values are never shown)."""
        parts = [f"{k}=<redacted>" for k in self.set] + [f"{k}-" for k in self.remove]
        return f"kubectl -n {self.namespace} patch secret/{self.name} data: {' '.join(parts)}"


REDACTED_PREFIX = "<redacted sha256:"


def redact_action(action: Mapping[str, Any]) -> dict[str, Any]:
    """An action mapping fit for storage: a Secret's values become ``<redacted sha256:…>``.

    The digest still tells two values apart; a redacted action is refused by
    :func:`parse_action`, so a stored one can never write its placeholder into a Secret.
    """
    out = dict(action)
    if out.get("type") == "patch_secret" and out.get("set"):
        out["set"] = {
            k: v
            if str(v).startswith(REDACTED_PREFIX)
            else f"{REDACTED_PREFIX}{hashlib.sha256(str(v).encode()).hexdigest()[:12]}>"
            for k, v in out["set"].items()
        }
    return out


def redact_record(value: Any) -> Any:
    """``value`` (a JSON-ready record) with every Secret value in it redacted."""
    if isinstance(value, dict):
        if value.get("type") == "patch_secret":
            value = redact_action(value)
        return {k: redact_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_record(v) for v in value]
    return value


IntOrPercent = (
    Annotated[int, msgspec.Meta(ge=0, le=MAX_REPLICAS)]
    | Annotated[str, msgspec.Meta(pattern=r"^(100|[1-9]?[0-9])%$")]
)


class PatchPdb(_Action, tag="patch_pdb", frozen=True, kw_only=True):
    """Set a PodDisruptionBudget's ``minAvailable`` or ``maxUnavailable`` (the other is cleared)."""

    namespace: Name
    name: Name
    min_available: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None

    def describe(self) -> str:
        """A kubectl-like description."""
        if self.min_available is not None:
            what = f"minAvailable={self.min_available}"
        else:
            what = f"maxUnavailable={self.max_unavailable}"
        return f"kubectl -n {self.namespace} patch pdb/{self.name} {what}"


class SuspendJob(_Action, tag="suspend_job", frozen=True, kw_only=True):
    """Suspend a Job (its active pods are deleted) or resume it (``suspend: false``)."""

    namespace: Name
    name: Name
    suspend: bool = True

    def describe(self) -> str:
        """A kubectl-like description."""
        return (
            f"kubectl -n {self.namespace} patch job/{self.name} "
            f'-p \'{{"spec":{{"suspend":{str(self.suspend).lower()}}}}}\''
        )


class ScaleJob(_Action, tag="scale_job", frozen=True, kw_only=True):
    """Change how many pods of a Job run at once (``spec.parallelism``)."""

    namespace: Name
    name: Name
    parallelism: Annotated[int, msgspec.Meta(ge=0, le=MAX_REPLICAS)]

    def describe(self) -> str:
        """A kubectl-like description."""
        return (
            f"kubectl -n {self.namespace} patch job/{self.name} "
            f'-p \'{{"spec":{{"parallelism":{self.parallelism}}}}}\''
        )


class Toleration(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, rename="camel"
):
    """A pod toleration, as in the API (``key``, ``operator``, ``value``, ``effect``)."""

    key: str | None = None
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = None


class PatchScheduling(_Action, tag="patch_scheduling", frozen=True, kw_only=True):
    """Replace a Deployment's ``nodeSelector``, ``tolerations`` and/or ``affinity`` (a rollout)."""

    namespace: Name
    name: Name
    node_selector: dict[str, str] | None = None
    tolerations: list[Toleration] | None = None
    affinity: dict[str, Any] | None = None

    def describe(self) -> str:
        """A kubectl-like description."""
        parts = []
        if self.node_selector is not None:
            parts.append(
                "nodeSelector="
                + (",".join(f"{k}={v}" for k, v in sorted(self.node_selector.items())) or "{}")
            )
        if self.tolerations is not None:
            parts.append(f"tolerations=[{len(self.tolerations)}]")
        if self.affinity is not None:
            parts.append("affinity=" + (",".join(sorted(self.affinity)) or "{}"))
        return f"kubectl -n {self.namespace} patch deployment/{self.name} {' '.join(parts)}"


class DeleteEvictedPods(_Action, tag="delete_evicted_pods", frozen=True, kw_only=True):
    """Delete the pods the kubelet evicted (``Failed``, reason ``Evicted``) in a namespace."""

    namespace: Name
    label_selector: str | None = None

    def describe(self) -> str:
        """A kubectl-like description."""
        sel = f" -l {self.label_selector}" if self.label_selector else ""
        return f"kubectl -n {self.namespace} delete pods{sel} --field-selector=status.phase=Failed (Evicted)"


class DeletePod(_Action, tag="delete_pod", frozen=True, kw_only=True):
    """Delete one pod by name, or the pods matching a label selector and/or node."""

    namespace: Name
    name: Name | None = None
    label_selector: str | None = None
    node: Name | None = None
    grace_period_seconds: Seconds | None = None

    def describe(self) -> str:
        """A kubectl-like description."""
        what = f"pod/{self.name}" if self.name else "pods"
        sel = f" -l {self.label_selector}" if self.label_selector else ""
        node = f" --field-selector spec.nodeName={self.node}" if self.node else ""
        return f"kubectl -n {self.namespace} delete {what}{sel}{node}"


class CordonNode(_Action, tag="cordon_node", frozen=True, kw_only=True):
    """``kubectl cordon`` (or ``uncordon``) a node."""

    node: Name
    uncordon: bool = False

    def describe(self) -> str:
        """A kubectl-like description."""
        return f"kubectl {'uncordon' if self.uncordon else 'cordon'} {self.node}"


class DrainNode(_Action, tag="drain_node", frozen=True, kw_only=True):
    """``kubectl drain``: cordon, then evict every pod on the node (DaemonSet pods excepted)."""

    node: Name
    grace_period_seconds: Seconds | None = None

    def describe(self) -> str:
        """A kubectl-like description."""
        return f"kubectl drain {self.node} --ignore-daemonsets"


class PatchHpa(_Action, tag="patch_hpa", frozen=True, kw_only=True):
    """Change the replica bounds and/or the CPU target of a HorizontalPodAutoscaler."""

    namespace: Name
    name: Name
    min_replicas: Annotated[int, msgspec.Meta(ge=1, le=MAX_REPLICAS)] | None = None
    max_replicas: Annotated[int, msgspec.Meta(ge=1, le=MAX_REPLICAS)] | None = None
    target_cpu_utilization: Annotated[int, msgspec.Meta(ge=1, le=1000)] | None = None

    def describe(self) -> str:
        """A kubectl-like description."""
        fields = {
            "minReplicas": self.min_replicas,
            "maxReplicas": self.max_replicas,
            "cpu-percent": self.target_cpu_utilization,
        }
        parts = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        return f"kubectl -n {self.namespace} patch hpa/{self.name} {parts}"


class PatchServiceSelector(_Action, tag="patch_service_selector", frozen=True, kw_only=True):
    """Replace a Service's selector."""

    namespace: Name
    name: Name
    selector: dict[str, str]

    def describe(self) -> str:
        """A kubectl-like description."""
        sel = ",".join(f"{k}={v}" for k, v in sorted(self.selector.items()))
        return f"kubectl -n {self.namespace} set selector service/{self.name} {sel}"


class PatchResourceQuota(_Action, tag="patch_resource_quota", frozen=True, kw_only=True):
    """Change hard limits of a ResourceQuota."""

    namespace: Name
    name: Name
    hard: dict[str, str]

    def describe(self) -> str:
        """A kubectl-like description."""
        parts = " ".join(f"{k}={v}" for k, v in sorted(self.hard.items()))
        return f"kubectl -n {self.namespace} patch resourcequota/{self.name} hard: {parts}"


class RecreatePvc(_Action, tag="recreate_pvc", frozen=True, kw_only=True):
    """Delete a PersistentVolumeClaim and create it again with another storage class."""

    namespace: Name
    name: Name
    storage_class: Name

    def describe(self) -> str:
        """A kubectl-like description."""
        return (
            f"kubectl -n {self.namespace} delete pvc/{self.name} && recreate it with "
            f"storageClassName={self.storage_class}"
        )


Action = (
    RolloutUndo
    | RestartDeployment
    | ScaleDeployment
    | PatchResources
    | PatchEnv
    | PatchProbe
    | PatchConfigMap
    | PatchSecret
    | PatchPdb
    | SuspendJob
    | ScaleJob
    | PatchScheduling
    | DeleteEvictedPods
    | DeletePod
    | CordonNode
    | DrainNode
    | PatchHpa
    | PatchServiceSelector
    | PatchResourceQuota
    | RecreatePvc
)
ACTION_TYPES: tuple[type[_Action], ...] = (
    RolloutUndo,
    RestartDeployment,
    ScaleDeployment,
    PatchResources,
    PatchEnv,
    PatchProbe,
    PatchConfigMap,
    PatchSecret,
    PatchPdb,
    SuspendJob,
    ScaleJob,
    PatchScheduling,
    DeleteEvictedPods,
    DeletePod,
    CordonNode,
    DrainNode,
    PatchHpa,
    PatchServiceSelector,
    PatchResourceQuota,
    RecreatePvc,
)


def parse_action(data: bytes | str | Mapping[str, Any]) -> Action:
    """Decode an action (e.g. a model's answer) into the typed schema; never executes anything.

    Args:
        data: JSON text or a mapping with a ``type`` tag (``"rollout_undo"``, ...).

    Returns:
        The typed action.

    Raises:
        InvalidActionError: the data does not fit; the message names the field.
    """
    try:
        if isinstance(data, bytes | str):
            action: Action = msgspec.json.decode(data, type=Action)
        else:
            action = msgspec.convert(dict(data), type=Action)
    except msgspec.ValidationError as err:
        raise InvalidActionError(f"invalid action: {err}") from err
    except msgspec.DecodeError as err:
        raise InvalidActionError(f"action is not valid JSON: {err}") from err
    if isinstance(action, PatchSecret) and any(
        v.startswith(REDACTED_PREFIX) for v in action.set.values()
    ):
        raise InvalidActionError(
            "patch_secret.set: a redacted value (from a stored record) cannot be applied"
        )
    return action


def action_to_dict(action: Action) -> dict[str, Any]:
    """The action as a JSON-ready mapping with its ``type`` tag."""
    out: dict[str, Any] = msgspec.to_builtins(action)
    return out


class Verb(StrEnum):
    """A write verb, named as in RBAC."""

    PATCH = "patch"
    CREATE = "create"
    DELETE = "delete"


@dataclass(frozen=True)
class ApiOp:
    """One write request to the API server."""

    verb: Verb
    kind: Kind
    name: str
    namespace: str = ""
    subresource: str | None = None
    body: Any = None
    patch_type: PatchType | None = None
    grace_period_seconds: int | None = None

    @property
    def resource(self) -> str:
        """The RBAC resource (``deployments/scale``, ``pods/eviction``)."""
        plural = kind_info(self.kind).plural
        return f"{plural}/{self.subresource}" if self.subresource else plural

    @property
    def rule(self) -> str:
        """``"<verb> <resource>"``, the form of the write allowlist."""
        return f"{self.verb.value} {self.resource}"

    @property
    def path(self) -> str:
        """The REST path this request goes to."""
        info = kind_info(self.kind)
        if self.verb is Verb.CREATE and self.subresource is None:
            return info.path(self.namespace)
        return info.path(self.namespace, self.name, self.subresource)

    def describe(self) -> str:
        """``PATCH deployments shop/checkout``."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.verb.value.upper()} {self.resource} {where}"


class ClusterReader(Protocol):
    """What planning needs to read from a cluster."""

    def get(self, kind: Kind, name: str, namespace: str = "") -> KubeObject:
        """One object; raises :class:`ObjectNotFoundError`."""
        ...

    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[KubeObject]:
        """Objects of a kind."""
        ...

    def now_iso(self) -> str:
        """Current time of the cluster, RFC 3339."""
        ...


def _containers_patch(container: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": container, **fields}]}}}}


def _require_container(deploy: KubeObject, container: str) -> None:
    names = [c.get("name") for c in deploy["spec"]["template"]["spec"].get("containers", [])]
    if container not in names:
        raise InvalidObjectError(
            f"deployment {namespace_of(deploy)}/{name_of(deploy)} has no container {container!r}"
            f" (containers: {names})"
        )


def _check_quantities(values: Mapping[str, str], what: str) -> None:
    for key, value in values.items():
        try:
            parse_quantity(value)
        except ConfigError as err:
            raise InvalidActionError(f"{what}.{key}: {err}") from err


def owned_replica_sets(reader: ClusterReader, deploy: KubeObject) -> list[KubeObject]:
    """The replica sets a deployment controls, by owner reference."""
    uid = meta(deploy).get("uid")
    out = []
    for rs in reader.list(Kind.REPLICA_SET, namespace_of(deploy)):
        refs = meta(rs).get("ownerReferences") or []
        if any(r.get("uid") == uid and r.get("controller") for r in refs):
            out.append(rs)
    return out


def revision_of(obj: KubeObject) -> int:
    """``deployment.kubernetes.io/revision`` as an int (0 if absent)."""
    try:
        return int(annotations_of(obj).get(REVISION_ANNOTATION, "0"))
    except ValueError:
        return 0


def _template_without_hash(template: Any) -> Any:
    tpl = deep_copy(template)
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    labels.pop(POD_TEMPLATE_HASH, None)
    return tpl


def plan_action(action: Action, reader: ClusterReader) -> list[ApiOp]:
    """Plan the API writes that carry out an action, as ``kubectl`` would send them.

    Args:
        action: The typed action.
        reader: The cluster to read current objects from (both backends qualify).

    Returns:
        The write requests in order; empty when there is nothing to change.

    Raises:
        ObjectNotFoundError: the target does not exist.
        RevisionNotFoundError: a rollout undo names a revision not in the history.
        InvalidActionError, InvalidObjectError: the action cannot apply to the target.
    """
    match action:
        case RolloutUndo():
            return _plan_undo(action, reader)
        case RestartDeployment():
            reader.get(Kind.DEPLOYMENT, action.name, action.namespace)
            patch = {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {RESTARTED_AT_ANNOTATION: reader.now_iso()}}
                    }
                }
            }
            return [_patch(Kind.DEPLOYMENT, action.namespace, action.name, patch)]
        case ScaleDeployment():
            reader.get(Kind.DEPLOYMENT, action.name, action.namespace)
            return [
                ApiOp(
                    Verb.PATCH,
                    Kind.DEPLOYMENT,
                    action.name,
                    action.namespace,
                    subresource="scale",
                    body={"spec": {"replicas": action.replicas}},
                    patch_type=PatchType.MERGE,
                )
            ]
        case PatchResources():
            if not action.requests and not action.limits:
                raise InvalidActionError("patch_resources needs requests or limits")
            _check_quantities(action.requests, "requests")
            _check_quantities(action.limits, "limits")
            _require_container(
                reader.get(Kind.DEPLOYMENT, action.name, action.namespace), action.container
            )
            res: dict[str, Any] = {}
            if action.requests:
                res["requests"] = dict(action.requests)
            if action.limits:
                res["limits"] = dict(action.limits)
            return [
                _patch(
                    Kind.DEPLOYMENT,
                    action.namespace,
                    action.name,
                    _containers_patch(action.container, {"resources": res}),
                )
            ]
        case PatchEnv():
            if not action.set and not action.remove:
                raise InvalidActionError("patch_env needs set or remove")
            _require_container(
                reader.get(Kind.DEPLOYMENT, action.name, action.namespace), action.container
            )
            env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in action.set.items()]
            env += [{"name": k, "$patch": "delete"} for k in action.remove]
            return [
                _patch(
                    Kind.DEPLOYMENT,
                    action.namespace,
                    action.name,
                    _containers_patch(action.container, {"env": env}),
                )
            ]
        case PatchProbe():
            return [_plan_probe(action, reader)]
        case PatchConfigMap():
            if not action.set and not action.remove:
                raise InvalidActionError("patch_configmap needs set or remove")
            reader.get(Kind.CONFIG_MAP, action.name, action.namespace)
            data: dict[str, Any] = dict(action.set)
            data.update({k: None for k in action.remove})
            return [
                _patch(
                    Kind.CONFIG_MAP, action.namespace, action.name, {"data": data}, PatchType.MERGE
                )
            ]
        case PatchSecret():
            if not action.set and not action.remove:
                raise InvalidActionError("patch_secret needs set or remove")
            reader.get(Kind.SECRET, action.name, action.namespace)
            sdata: dict[str, Any] = {
                k: base64.b64encode(v.encode()).decode() for k, v in action.set.items()
            }
            sdata.update({k: None for k in action.remove})
            return [
                _patch(Kind.SECRET, action.namespace, action.name, {"data": sdata}, PatchType.MERGE)
            ]
        case PatchPdb():
            if (action.min_available is None) == (action.max_unavailable is None):
                raise InvalidActionError(
                    "patch_pdb needs exactly one of min_available and max_unavailable"
                )
            reader.get(Kind.POD_DISRUPTION_BUDGET, action.name, action.namespace)
            if action.min_available is not None:
                pdb_spec = {"minAvailable": action.min_available, "maxUnavailable": None}
            else:
                pdb_spec = {"maxUnavailable": action.max_unavailable, "minAvailable": None}
            return [
                _patch(
                    Kind.POD_DISRUPTION_BUDGET,
                    action.namespace,
                    action.name,
                    {"spec": pdb_spec},
                    PatchType.MERGE,
                )
            ]
        case SuspendJob():
            reader.get(Kind.JOB, action.name, action.namespace)
            suspend: dict[str, Any] = {"spec": {"suspend": action.suspend}}
            return [_patch(Kind.JOB, action.namespace, action.name, suspend, PatchType.MERGE)]
        case ScaleJob():
            reader.get(Kind.JOB, action.name, action.namespace)
            scale: dict[str, Any] = {"spec": {"parallelism": action.parallelism}}
            return [_patch(Kind.JOB, action.namespace, action.name, scale, PatchType.MERGE)]
        case PatchScheduling():
            fields = {
                "nodeSelector": action.node_selector,
                "tolerations": None
                if action.tolerations is None
                else [msgspec.to_builtins(t) for t in action.tolerations],
                "affinity": action.affinity,
            }
            ops = [
                {"op": "add", "path": f"/spec/template/spec/{k}", "value": v}
                for k, v in fields.items()
                if v is not None
            ]
            if not ops:
                raise InvalidActionError(
                    "patch_scheduling needs node_selector, tolerations or affinity"
                )
            reader.get(Kind.DEPLOYMENT, action.name, action.namespace)
            return [_patch(Kind.DEPLOYMENT, action.namespace, action.name, ops, PatchType.JSON)]
        case DeleteEvictedPods():
            evicted = [
                p
                for p in reader.list(
                    Kind.POD, action.namespace, action.label_selector, "status.phase=Failed"
                )
                if (p.get("status") or {}).get("reason") == "Evicted"
                and not meta(p).get("deletionTimestamp")
            ]
            if not evicted:
                raise ObjectNotFoundError(f"no evicted pods: {action.describe()}")
            return [ApiOp(Verb.DELETE, Kind.POD, name_of(p), namespace_of(p)) for p in evicted]
        case DeletePod():
            return _plan_delete_pods(action, reader)
        case CordonNode():
            reader.get(Kind.NODE, action.node)
            return [_cordon(action.node, not action.uncordon)]
        case DrainNode():
            return _plan_drain(action, reader)
        case PatchHpa():
            return [_plan_hpa(action, reader)]
        case PatchServiceSelector():
            if not action.selector:
                raise InvalidActionError("patch_service_selector needs a non-empty selector")
            reader.get(Kind.SERVICE, action.name, action.namespace)
            ops = [{"op": "replace", "path": "/spec/selector", "value": dict(action.selector)}]
            return [_patch(Kind.SERVICE, action.namespace, action.name, ops, PatchType.JSON)]
        case PatchResourceQuota():
            if not action.hard:
                raise InvalidActionError("patch_resource_quota needs hard limits")
            _check_quantities(action.hard, "hard")
            reader.get(Kind.RESOURCE_QUOTA, action.name, action.namespace)
            body = {"spec": {"hard": dict(action.hard)}}
            return [
                _patch(Kind.RESOURCE_QUOTA, action.namespace, action.name, body, PatchType.MERGE)
            ]
        case RecreatePvc():
            return _plan_recreate_pvc(action, reader)
    raise InvalidActionError(f"unknown action {action!r}")  # pragma: no cover


def _patch(
    kind: Kind, namespace: str, name: str, body: Any, ptype: PatchType = PatchType.STRATEGIC
) -> ApiOp:
    return ApiOp(Verb.PATCH, kind, name, namespace, body=body, patch_type=ptype)


def _cordon(node: str, unschedulable: bool) -> ApiOp:
    body = {"spec": {"unschedulable": True if unschedulable else None}}
    return ApiOp(Verb.PATCH, Kind.NODE, node, body=body, patch_type=PatchType.STRATEGIC)


def _plan_undo(action: RolloutUndo, reader: ClusterReader) -> list[ApiOp]:
    deploy = reader.get(Kind.DEPLOYMENT, action.name, action.namespace)
    history = {revision_of(rs): rs for rs in owned_replica_sets(reader, deploy)}
    history.pop(0, None)
    current = revision_of(deploy) or (max(history) if history else 0)
    if action.to_revision:
        target = history.get(action.to_revision)
        if target is None:
            raise RevisionNotFoundError(
                f"unable to find specified revision {action.to_revision} in history of "
                f"deployment {action.namespace}/{action.name} (revisions: {sorted(history)})"
            )
    else:
        older = [rev for rev in history if rev < current]
        if not older:
            raise RevisionNotFoundError(
                f"no rollout history found for deployment {action.namespace}/{action.name}"
            )
        target = history[max(older)]
    template = _template_without_hash(target["spec"]["template"])
    if canonical_json(template) == canonical_json(deploy["spec"]["template"]):
        return []  # kubectl: "skipped rollback (current template already matches revision N)"
    ops = [{"op": "replace", "path": "/spec/template", "value": template}]
    return [_patch(Kind.DEPLOYMENT, action.namespace, action.name, ops, PatchType.JSON)]


_PROBE_FIELDS = {
    ProbeKind.READINESS: "readinessProbe",
    ProbeKind.LIVENESS: "livenessProbe",
    ProbeKind.STARTUP: "startupProbe",
}


def _plan_probe(action: PatchProbe, reader: ClusterReader) -> ApiOp:
    deploy = reader.get(Kind.DEPLOYMENT, action.name, action.namespace)
    _require_container(deploy, action.container)
    field = _PROBE_FIELDS[action.probe]
    probe: dict[str, Any] | None
    if action.remove:
        probe = None
    else:
        probe = {}
        if action.http_path is not None or action.port is not None:
            http: dict[str, Any] = {}
            if action.http_path is not None:
                http["path"] = action.http_path
            if action.port is not None:
                http["port"] = action.port
            probe["httpGet"] = http
        for attr, key in (
            ("initial_delay_seconds", "initialDelaySeconds"),
            ("period_seconds", "periodSeconds"),
            ("timeout_seconds", "timeoutSeconds"),
            ("failure_threshold", "failureThreshold"),
            ("success_threshold", "successThreshold"),
        ):
            value = getattr(action, attr)
            if value is not None:
                probe[key] = value
        if not probe:
            raise InvalidActionError("patch_probe changes nothing")
    body = _containers_patch(action.container, {field: probe})
    return _patch(Kind.DEPLOYMENT, action.namespace, action.name, body)


def _node_selector(node: str | None) -> str | None:
    return f"spec.nodeName={node}" if node else None


def _plan_delete_pods(action: DeletePod, reader: ClusterReader) -> list[ApiOp]:
    if action.name:
        pods = [reader.get(Kind.POD, action.name, action.namespace)]
    elif action.label_selector or action.node:
        pods = reader.list(
            Kind.POD, action.namespace, action.label_selector, _node_selector(action.node)
        )
    else:
        raise InvalidActionError("delete_pod needs a name, a label_selector or a node")
    pods = [p for p in pods if not meta(p).get("deletionTimestamp")]
    if not pods:
        raise ObjectNotFoundError(f"no pods match {action.describe()}")
    return [
        ApiOp(
            Verb.DELETE,
            Kind.POD,
            name_of(p),
            namespace_of(p),
            grace_period_seconds=action.grace_period_seconds,
        )
        for p in pods
    ]


def _plan_drain(action: DrainNode, reader: ClusterReader) -> list[ApiOp]:
    reader.get(Kind.NODE, action.node)
    ops = [_cordon(action.node, True)]
    for pod in reader.list(Kind.POD, None, None, _node_selector(action.node)):
        m = meta(pod)
        if m.get("deletionTimestamp") or "kubernetes.io/config.mirror" in (
            m.get("annotations") or {}
        ):
            continue
        if any(ref.get("kind") == "DaemonSet" for ref in m.get("ownerReferences") or []):
            continue
        body: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name_of(pod), "namespace": namespace_of(pod)},
        }
        if action.grace_period_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": action.grace_period_seconds}
        ops.append(
            ApiOp(
                Verb.CREATE,
                Kind.POD,
                name_of(pod),
                namespace_of(pod),
                subresource="eviction",
                body=body,
            )
        )
    return ops


def _plan_hpa(action: PatchHpa, reader: ClusterReader) -> ApiOp:
    hpa = reader.get(Kind.HORIZONTAL_POD_AUTOSCALER, action.name, action.namespace)
    spec: dict[str, Any] = {}
    if action.min_replicas is not None:
        spec["minReplicas"] = action.min_replicas
    if action.max_replicas is not None:
        spec["maxReplicas"] = action.max_replicas
    low = spec.get("minReplicas", hpa["spec"].get("minReplicas", 1))
    high = spec.get("maxReplicas", hpa["spec"]["maxReplicas"])
    if low > high:
        raise InvalidActionError(f"patch_hpa: minReplicas {low} > maxReplicas {high}")
    if action.target_cpu_utilization is not None:
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": action.target_cpu_utilization,
                    },
                },
            }
        ]
    if not spec:
        raise InvalidActionError("patch_hpa changes nothing")
    return _patch(
        Kind.HORIZONTAL_POD_AUTOSCALER,
        action.namespace,
        action.name,
        {"spec": spec},
        PatchType.MERGE,
    )


_PVC_DROP_ANNOTATIONS = (
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
)


def _plan_recreate_pvc(action: RecreatePvc, reader: ClusterReader) -> list[ApiOp]:
    pvc = reader.get(Kind.PERSISTENT_VOLUME_CLAIM, action.name, action.namespace)
    spec = deep_copy(pvc.get("spec") or {})
    spec.pop("volumeName", None)
    spec["storageClassName"] = action.storage_class
    annotations = {k: v for k, v in annotations_of(pvc).items() if k not in _PVC_DROP_ANNOTATIONS}
    new_meta: dict[str, Any] = {"name": action.name, "namespace": action.namespace}
    if meta(pvc).get("labels"):
        new_meta["labels"] = dict(meta(pvc)["labels"])
    if annotations:
        new_meta["annotations"] = annotations
    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": new_meta, "spec": spec}
    return [
        ApiOp(Verb.DELETE, Kind.PERSISTENT_VOLUME_CLAIM, action.name, action.namespace),
        ApiOp(Verb.CREATE, Kind.PERSISTENT_VOLUME_CLAIM, action.name, action.namespace, body=body),
    ]
