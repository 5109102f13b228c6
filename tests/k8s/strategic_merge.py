"""The test API server's own patch semantics, independent of ``apps.k8s.patching``.

The mock API server must not check the project's patch code against itself, so it
applies patches with other code:

- JSON merge patch (RFC 7386): the ``json-merge-patch`` library;
- JSON patch (RFC 6902): the ``jsonpatch`` library;
- strategic merge patch: :func:`strategic_merge_patch` below, written from the
  Kubernetes specification (``kubernetes/community`` "Strategic Merge Patch" and
  apimachinery's ``strategicpatch``): it is typed, as the API server's is. The
  object's type is the official client's model (``V1Deployment`` ->
  ``V1DeploymentSpec`` -> ...), and each list field's ``patchStrategy`` and
  ``patchMergeKey`` come from :data:`STRATEGIES`, copied from the Go struct tags of
  ``k8s.io/api`` (a list without a tag is replaced whole, as ``tolerations`` is).
  Directives: ``$patch: replace|delete|merge`` on maps and list items,
  ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``; merged lists are ordered
  as apimachinery's ``normalizeElementOrder``/``mergeSortedSlice`` order them.

tests/k8s/test_patch_fixtures.py checks all three against fixtures taken from the
Kubernetes documentation and RFC 7386's own examples.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import json_merge_patch
import jsonpatch

MERGE, RETAIN_KEYS = "merge", "retainKeys"
# (client model, JSON field) -> (patchStrategy, patchMergeKey) from the struct tags of k8s.io/api.
STRATEGIES: dict[tuple[str, str], tuple[str, str | None]] = {
    ("V1ObjectMeta", "finalizers"): (MERGE, None),
    ("V1ObjectMeta", "ownerReferences"): (MERGE, "uid"),
    ("V1PodSpec", "volumes"): (f"{MERGE},{RETAIN_KEYS}", "name"),
    ("V1PodSpec", "initContainers"): (MERGE, "name"),
    ("V1PodSpec", "containers"): (MERGE, "name"),
    ("V1PodSpec", "ephemeralContainers"): (MERGE, "name"),
    ("V1PodSpec", "imagePullSecrets"): (MERGE, "name"),
    ("V1PodSpec", "hostAliases"): (MERGE, "ip"),
    ("V1PodSpec", "topologySpreadConstraints"): (MERGE, "topologyKey"),
    ("V1PodSpec", "schedulingGates"): (MERGE, "name"),
    ("V1PodSpec", "resourceClaims"): (f"{MERGE},{RETAIN_KEYS}", "name"),
    ("V1Container", "ports"): (MERGE, "containerPort"),
    ("V1Container", "env"): (MERGE, "name"),
    ("V1Container", "volumeMounts"): (MERGE, "mountPath"),
    ("V1Container", "volumeDevices"): (MERGE, "devicePath"),
    ("V1EphemeralContainer", "env"): (MERGE, "name"),
    ("V1EphemeralContainer", "volumeMounts"): (MERGE, "mountPath"),
    ("V1EphemeralContainer", "volumeDevices"): (MERGE, "devicePath"),
    ("V1DeploymentSpec", "strategy"): (RETAIN_KEYS, None),
    ("V1DeploymentStatus", "conditions"): (MERGE, "type"),
    ("V1ReplicaSetStatus", "conditions"): (MERGE, "type"),
    ("V1PodStatus", "conditions"): (MERGE, "type"),
    ("V1NodeStatus", "conditions"): (MERGE, "type"),
    ("V1NodeStatus", "addresses"): (MERGE, "type"),
    ("V1ServiceSpec", "ports"): (MERGE, "port"),
    ("V1ServiceStatus", "conditions"): (MERGE, "type"),
    ("V1JobStatus", "conditions"): (MERGE, "type"),
    ("V1PodDisruptionBudgetStatus", "conditions"): (MERGE, "type"),
    ("V2HorizontalPodAutoscalerStatus", "conditions"): (MERGE, "type"),
}
DIRECTIVE = "$patch"
RETAIN = "$retainKeys"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


class PatchError(ValueError):
    """A patch the API server refuses (it answers 422)."""


def json_merge(obj: dict[str, Any], patch: Any) -> dict[str, Any]:
    """RFC 7386 through the ``json-merge-patch`` library (which merges in place: a copy)."""
    if not isinstance(patch, dict):
        raise PatchError("a merge patch must be a JSON object")
    result = json_merge_patch.merge(copy.deepcopy(obj), copy.deepcopy(patch))
    if not isinstance(result, dict):
        raise PatchError("the merge patch left no object")
    return result


def json_patch(obj: dict[str, Any], ops: Any) -> dict[str, Any]:
    """RFC 6902 through the ``jsonpatch`` library."""
    if not isinstance(ops, list):
        raise PatchError("a JSON patch must be a list of operations")
    try:
        result = jsonpatch.JsonPatch(ops).apply(obj)  # copies the document
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
        raise PatchError(str(err)) from err
    if not isinstance(result, dict):
        raise PatchError("the JSON patch left no object")
    return result


@cache
def _types(model: str) -> dict[str, str] | None:
    import kubernetes.client.models as models

    cls = getattr(models, model, None)
    if cls is None:
        return None
    return {cls.attribute_map[a]: t for a, t in cls.openapi_types.items()}


def _field_type(model: str | None, field: str) -> str | None:
    if model is None:
        return None
    types = _types(model)
    return None if types is None else types.get(field)


def _item_model(type_name: str | None) -> str | None:
    """The model of a field's value: ``V1PodSpec``; ``List[V1Container]`` -> ``V1Container``."""
    if type_name is None:
        return None
    if type_name.startswith("List[") and type_name.endswith("]"):
        return _item_model(type_name[5:-1])
    if type_name.startswith(("Dict[", "str", "int", "bool", "float", "object", "datetime")):
        return None
    return type_name


def model_of(obj: dict[str, Any]) -> str | None:
    """``apps/v1`` + ``Deployment`` -> ``V1Deployment`` (None without apiVersion/kind)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None
    version = api_version.rsplit("/", 1)[-1]
    return f"{version[:1].upper()}{version[1:]}{kind}"


def strategic_merge_patch(obj: dict[str, Any], patch: Any) -> dict[str, Any]:
    """A strategic merge patch of ``obj`` (a copy), typed by the object's client model."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _merge_map(copy.deepcopy(obj), copy.deepcopy(patch), model_of(obj))


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], model: str | None
) -> dict[str, Any]:
    directive = patch.pop(DIRECTIVE, None)
    if directive == "replace":
        return _without_directives(patch)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise PatchError(f"unknown patch directive {directive!r}")
    retain_keys = patch.pop(RETAIN, None)
    if retain_keys is not None:
        if not isinstance(retain_keys, list) or not all(isinstance(k, str) for k in retain_keys):
            raise PatchError("$retainKeys must be a list of strings")
        extra = [k for k in patch if not k.startswith("$") and k not in retain_keys]
        if extra:
            raise PatchError(f"$retainKeys {retain_keys} must list every patched field {extra}")
        original = {k: v for k, v in original.items() if k in retain_keys}
    for key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        raise PatchError(f"{key}: $setElementOrder is not supported by this test server")
    deletions = {
        k[len(DELETE_FROM_PRIMITIVE) :]: patch.pop(k)
        for k in [k for k in patch if k.startswith(DELETE_FROM_PRIMITIVE)]
    }
    for field, values in deletions.items():
        if isinstance(original.get(field), list):
            original[field] = [v for v in original[field] if v not in values]
    for key, value in patch.items():
        if key.startswith("$"):
            raise PatchError(f"unknown patch directive {key!r}")
        if value is None:
            original.pop(key, None)
            continue
        field_type = _field_type(model, key)
        strategy, merge_key = STRATEGIES.get((model or "", key), ("", None))
        current = original.get(key)
        if isinstance(value, dict):
            child = _item_model(field_type)
            base = current if isinstance(current, dict) else {}
            original[key] = _merge_map(base, value, child)
        elif isinstance(value, list) and MERGE in strategy.split(","):
            base_list = current if isinstance(current, list) else []
            original[key] = _merge_list(base_list, value, merge_key, _item_model(field_type))
        else:
            original[key] = _without_directives(value)
    return original


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_without_directives(v) for v in value]
    return value


def _merge_list(
    original: list[Any], patch: list[Any], merge_key: str | None, model: str | None
) -> list[Any]:
    if any(isinstance(p, dict) and p.get(DIRECTIVE) == "replace" for p in patch):
        return [
            _without_directives(p)
            for p in patch
            if not (isinstance(p, dict) and p.get(DIRECTIVE) == "replace")
        ]
    if merge_key is None:  # a list of primitives with the merge strategy: a set union
        merged = list(original)
        for value in patch:
            if value not in merged:
                merged.append(value)
        return _order(merged, patch, original, lambda v: v)
    deleted: set[Any] = set()
    live = list(original)
    updates: list[dict[str, Any]] = []
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"map: {item!r} does not contain declared merge key: {merge_key}")
        if item.get(DIRECTIVE) == "delete":
            deleted.add(item[merge_key])
            continue
        updates.append(item)
    live = [it for it in live if not (isinstance(it, dict) and it.get(merge_key) in deleted)]
    for item in updates:
        idx = next(
            (
                i
                for i, it in enumerate(live)
                if isinstance(it, dict) and it.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if idx is None:
            live.append(_merge_map({}, item, model))
        else:
            live[idx] = _merge_map(live[idx], item, model)
    return _order(live, updates, original, lambda v: v.get(merge_key))


def _order(merged: list[Any], patch: list[Any], original: list[Any], key: Any) -> list[Any]:
    """apimachinery's order: patch items in patch order, the server-only ones interleaved by
    their live order (``normalizeElementOrder`` + ``mergeSortedSlice``)."""
    patch_keys = [key(p) for p in patch]
    in_patch = [m for m in merged if key(m) in patch_keys]
    in_patch.sort(key=lambda m: patch_keys.index(key(m)))
    server_only = [m for m in merged if key(m) not in patch_keys]
    live_keys = [key(o) for o in original]

    def index(item: Any) -> int:
        k = key(item)
        return live_keys.index(k) if k in live_keys else -1

    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if j >= len(in_patch):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(in_patch[j])
            j += 1
        else:
            li, ri = index(server_only[i]), index(in_patch[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(in_patch[j])
                j += 1
    return out
