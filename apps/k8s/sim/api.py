"""API-server semantics of the simulator: create, patch, delete and evict with validation and dry run."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from apps.k8s.exceptions import ConflictError, InvalidObjectError, ObjectNotFoundError
from apps.k8s.kinds import Kind, kind_info
from apps.k8s.objects import KubeObject, canonical_json, deep_copy, format_label_selector, sim_time
from apps.k8s.patching import PatchType, apply_patch
from apps.k8s.quantity import cpu_millicores, memory_bytes, parse_quantity
from apps.k8s.sim.controllers import pvc_step
from apps.k8s.sim.disruption import check_eviction, validate_pdb
from apps.k8s.sim.podutil import default_pod_spec, delete_pod
from apps.k8s.sim.state import SimState
from patterns.core.exceptions import ConfigError

MAX_SERVICE_IPS = 65000
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _not_found(kind: Kind, namespace: str, name: str) -> ObjectNotFoundError:
    info = kind_info(kind)
    group = f".{info.group}" if info.group else ""
    return ObjectNotFoundError(f'{info.plural}{group} "{name}" not found')


def _invalid(kind: Kind, name: str, detail: str) -> InvalidObjectError:
    return InvalidObjectError(f'{kind.value} "{name}" is invalid: {detail}')


def default_object(state: SimState, kind: Kind, obj: KubeObject) -> None:
    """Fill server-side defaults (idempotent), as admission and defaulting do."""
    if kind is Kind.SECRET:
        _default_secret(obj)
        return
    spec = obj.setdefault("spec", {}) if kind is not Kind.CONFIG_MAP else {}
    if kind is Kind.DEPLOYMENT:
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            ru = strategy.setdefault("rollingUpdate", {})
            ru.setdefault("maxSurge", "25%")
            ru.setdefault("maxUnavailable", "25%")
        tpl = spec.setdefault("template", {})
        tpl.setdefault("metadata", {})
        default_pod_spec(tpl.setdefault("spec", {}))
    elif kind is Kind.SERVICE:
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if "clusterIP" not in spec:
            n = 10 + state.store.count(Kind.SERVICE)
            spec["clusterIP"] = f"10.96.{n // 250 % 250}.{n % 250 + 1}"
            spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
    elif kind is Kind.PERSISTENT_VOLUME_CLAIM:
        spec.setdefault("volumeMode", "Filesystem")
        if "storageClassName" not in spec:
            default = next(
                (
                    sc["metadata"]["name"]
                    for sc in state.store.values(Kind.STORAGE_CLASS)
                    if (sc["metadata"].get("annotations") or {}).get(
                        "storageclass.kubernetes.io/is-default-class"
                    )
                    == "true"
                ),
                None,
            )
            if default is not None:
                spec["storageClassName"] = default
        obj.setdefault("status", {"phase": "Pending"})
    elif kind is Kind.HORIZONTAL_POD_AUTOSCALER:
        spec.setdefault("minReplicas", 1)
    elif kind is Kind.JOB:
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("suspend", False)
        spec.setdefault("completionMode", "NonIndexed")
        tpl = spec.setdefault("template", {})
        labels = tpl.setdefault("metadata", {}).setdefault("labels", {})
        name = obj["metadata"].get("name", "")
        labels.setdefault("batch.kubernetes.io/job-name", name)
        labels.setdefault("job-name", name)
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/job-name": name}})
        tspec = tpl.setdefault("spec", {})
        policy = tspec.get("restartPolicy")
        default_pod_spec(tspec)
        if policy is None:
            tspec.pop("restartPolicy")  # a Job's pods must say Never or OnFailure


def _default_secret(obj: KubeObject) -> None:
    """``stringData`` is write-only: the API server merges it into ``data`` (base64) and drops it."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None) or {}
    data = obj.get("data") or {}
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    obj["data"] = data


def validate_object(kind: Kind, obj: KubeObject) -> None:
    """The API server's validation of the fields the simulator relies on."""
    name = obj["metadata"].get("name", "")
    if kind is Kind.DEPLOYMENT:
        spec = obj["spec"]
        if int(spec.get("replicas", 1)) < 0:
            raise _invalid(kind, name, "spec.replicas: Invalid value: must be >= 0")
        match = (spec.get("selector") or {}).get("matchLabels") or {}
        labels = (spec["template"].get("metadata") or {}).get("labels") or {}
        if not match or any(labels.get(k) != v for k, v in match.items()):
            raise _invalid(
                kind,
                name,
                f"spec.template.metadata.labels: Invalid value: {labels}: "
                "`selector` does not match template `labels`",
            )
        containers = spec["template"]["spec"].get("containers") or []
        if not containers:
            raise _invalid(kind, name, "spec.template.spec.containers: Required value")
        for i, c in enumerate(containers):
            if not c.get("name") or not c.get("image"):
                raise _invalid(
                    kind, name, f"spec.template.spec.containers[{i}]: name and image are required"
                )
            _validate_resources(kind, name, i, c)
    elif kind is Kind.POD_DISRUPTION_BUDGET:
        validate_pdb(obj)
    elif kind is Kind.JOB:
        spec = obj["spec"]
        policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
        if policy not in ("Never", "OnFailure"):
            detail = "Required value" if policy is None else f'Unsupported value: "{policy}"'
            raise _invalid(
                kind,
                name,
                f'spec.template.spec.restartPolicy: {detail}: supported values: "OnFailure", "Never"',
            )
        for field in ("parallelism", "completions", "backoffLimit"):
            if int(spec.get(field, 0)) < 0:
                raise _invalid(kind, name, f"spec.{field}: Invalid value: must be >= 0")
        for i, c in enumerate(spec["template"]["spec"].get("containers") or []):
            _validate_resources(kind, name, i, c)
    elif kind is Kind.SECRET:
        for key, value in (obj.get("data") or {}).items():
            if not _SECRET_KEY.fullmatch(str(key)):
                raise _invalid(
                    kind,
                    name,
                    f"data[{key}]: Invalid value: {key!r}: a valid config key must consist of "
                    "alphanumeric characters, '-', '_' or '.'",
                )
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError) as err:
                raise _invalid(
                    kind, name, f"data[{key}]: Invalid value: not base64-encoded"
                ) from err
    elif kind is Kind.HORIZONTAL_POD_AUTOSCALER:
        spec = obj["spec"]
        if int(spec.get("minReplicas", 1)) > int(spec.get("maxReplicas", 0)):
            raise _invalid(
                kind, name, "spec.minReplicas: must be less than or equal to maxReplicas"
            )
    elif kind is Kind.RESOURCE_QUOTA:
        for res, value in ((obj.get("spec") or {}).get("hard") or {}).items():
            try:
                parse_quantity(value)
            except ConfigError as err:
                raise _invalid(kind, name, f"spec.hard[{res}]: Invalid value: {value!r}") from err


def _validate_resources(kind: Kind, name: str, i: int, c: dict[str, Any]) -> None:
    res = c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    try:
        for r, conv in (("cpu", cpu_millicores), ("memory", memory_bytes)):
            if r in req and r in lim and conv(req[r]) > conv(lim[r]):
                raise _invalid(
                    kind,
                    name,
                    f"spec.template.spec.containers[{i}].resources.requests: Invalid value: "
                    f'"{req[r]}": must be less than or equal to {r} limit of {lim[r]}',
                )
    except ConfigError as err:
        raise _invalid(kind, name, f"spec.template.spec.containers[{i}].resources: {err}") from err


def create(state: SimState, kind: Kind, obj: KubeObject, dry_run: bool = False) -> KubeObject:
    """POST an object; 409 if it exists. Pods come only from controllers in the simulator."""
    if kind in (Kind.POD, Kind.REPLICA_SET, Kind.ENDPOINTS, Kind.EVENT, Kind.NODE):
        raise InvalidObjectError(f"the simulator creates {kind.value} objects itself")
    obj = deep_copy(obj)
    md = obj.setdefault("metadata", {})
    if not md.get("name"):
        raise _invalid(kind, "", "metadata.name: Required value")
    info = kind_info(kind)
    if info.namespaced:
        md["namespace"] = md.get("namespace") or "default"
    else:
        md.pop("namespace", None)
    ns = md.get("namespace", "")
    if state.get(kind, ns, md["name"]) is not None:
        raise ConflictError(f'{info.plural} "{md["name"]}" already exists')
    obj["apiVersion"] = info.api_version
    obj["kind"] = kind.value
    default_object(state, kind, obj)
    validate_object(kind, obj)
    md["uid"] = state.new_uid()
    md["creationTimestamp"] = sim_time(state.now)
    md["generation"] = 1
    if dry_run:
        return obj
    state.store.add(kind, obj)
    if kind is Kind.SERVICE:
        state.endpoints_dirty = True
    return deep_copy(obj)


_IMMUTABLE = {
    Kind.DEPLOYMENT: ("spec", "selector"),
    Kind.SERVICE: ("spec", "clusterIP"),
}


def patch(
    state: SimState,
    kind: Kind,
    namespace: str,
    name: str,
    body: Any,
    patch_type: PatchType,
    subresource: str | None = None,
    dry_run: bool = False,
) -> KubeObject:
    """PATCH an object (or a deployment's ``scale``); status is never changed by a patch."""
    obj = state.get(kind, namespace, name)
    if obj is None:
        raise _not_found(kind, namespace, name)
    if subresource == "scale":
        if kind is not Kind.DEPLOYMENT:
            raise InvalidObjectError(f"{kind.value} has no scale subresource")
        scale = _scale_object(obj)
        patched_scale = apply_patch(scale, body, patch_type)
        replicas = (patched_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise _invalid(Kind.DEPLOYMENT, name, "spec.replicas: Invalid value: must be >= 0")
        if not dry_run and replicas != obj["spec"].get("replicas"):
            obj["spec"]["replicas"] = replicas
            obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
            state.store.touch(kind, obj)
        patched_scale["spec"]["replicas"] = replicas
        return patched_scale
    if subresource is not None:
        raise InvalidObjectError(f"unsupported subresource {subresource!r}")
    patched = apply_patch(obj, body, patch_type)
    patched["status"] = deep_copy(obj.get("status")) if "status" in obj else patched.get("status")
    if patched.get("status") is None:
        patched.pop("status", None)
    for field in ("name", "namespace", "uid", "creationTimestamp"):
        if patched.get("metadata", {}).get(field) != obj["metadata"].get(field):
            raise _invalid(kind, name, f"metadata.{field}: Invalid value: field is immutable")
    path = _IMMUTABLE.get(kind)
    if path is not None:
        before = obj.get(path[0], {}).get(path[1])
        after = patched.get(path[0], {}).get(path[1])
        if before is not None and canonical_json(before) != canonical_json(after):
            raise _invalid(kind, name, f"{'.'.join(path)}: Invalid value: field is immutable")
    if kind is Kind.PERSISTENT_VOLUME_CLAIM:
        b, a = deep_copy(obj["spec"]), deep_copy(patched["spec"])
        b.get("resources", {}).pop("requests", None)
        a.get("resources", {}).pop("requests", None)
        if canonical_json(a) != canonical_json(b):
            raise _invalid(
                kind,
                name,
                "spec: Forbidden: spec is immutable after creation except resources.requests "
                "and volumeAttributesClassName for bound claims",
            )
    default_object(state, kind, patched)
    validate_object(kind, patched)
    spec_changed = canonical_json(patched.get("spec")) != canonical_json(obj.get("spec"))
    if spec_changed and kind in (Kind.DEPLOYMENT, Kind.HORIZONTAL_POD_AUTOSCALER, Kind.REPLICA_SET):
        patched["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
    if dry_run:
        return patched
    if canonical_json(patched) != canonical_json(obj):
        obj.clear()
        obj.update(patched)
        state.store.touch(kind, obj)
        if kind is Kind.SERVICE:
            state.endpoints_dirty = True
    return deep_copy(obj)


def _scale_object(deploy: KubeObject) -> KubeObject:
    md = deploy["metadata"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": md["name"],
            "namespace": md["namespace"],
            "uid": md["uid"],
            "resourceVersion": md.get("resourceVersion"),
            "creationTimestamp": md.get("creationTimestamp"),
        },
        "spec": {"replicas": deploy["spec"].get("replicas", 1)},
        "status": {
            "replicas": (deploy.get("status") or {}).get("replicas", 0),
            "selector": format_label_selector(
                (deploy["spec"].get("selector") or {}).get("matchLabels") or {}
            ),
        },
    }


def delete(
    state: SimState,
    kind: Kind,
    namespace: str,
    name: str,
    grace_period_s: int | None = None,
    dry_run: bool = False,
) -> KubeObject:
    """DELETE an object: pods terminate gracefully, in-use claims wait for pvc-protection."""
    obj = state.get(kind, namespace, name)
    if obj is None:
        raise _not_found(kind, namespace, name)
    if dry_run:
        out = deep_copy(obj)
        if kind is Kind.POD:
            out["metadata"]["deletionTimestamp"] = sim_time(state.now)
        return out
    if kind is Kind.POD:
        return deep_copy(delete_pod(state, obj, grace_period_s))
    if kind is Kind.PERSISTENT_VOLUME_CLAIM:
        obj["metadata"]["deletionTimestamp"] = sim_time(state.now)
        obj["metadata"]["finalizers"] = ["kubernetes.io/pvc-protection"]
        state.store.touch(kind, obj)
        pvc_step(state)
        return deep_copy(obj)
    if kind in (Kind.NODE, Kind.EVENT, Kind.ENDPOINTS, Kind.REPLICA_SET):
        raise InvalidObjectError(f"deleting {kind.value} objects is not simulated")
    out = deep_copy(obj)
    state.store.remove(kind, namespace, name)
    if kind is Kind.SERVICE:
        state.store.remove(Kind.ENDPOINTS, namespace, name)
    return out


def evict(
    state: SimState, namespace: str, name: str, body: Any, dry_run: bool = False
) -> KubeObject:
    """POST pods/<name>/eviction: 429 when it would break the pod's PodDisruptionBudget."""
    pod = state.get(Kind.POD, namespace, name)
    if pod is None:
        raise _not_found(Kind.POD, namespace, name)
    check_eviction(state, pod)
    grace = ((body or {}).get("deleteOptions") or {}).get("gracePeriodSeconds")
    if not dry_run:
        delete_pod(state, pod, grace)
    return {
        "apiVersion": "v1",
        "kind": "Status",
        "metadata": {},
        "status": "Success",
        "code": 201,
    }
