"""Patch semantics of the API server: JSON merge patch, JSON patch and strategic merge patch."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from apps.k8s.exceptions import InvalidObjectError
from apps.k8s.objects import deep_copy


class PatchType(StrEnum):
    """A patch type, as the HTTP Content-Type the API server expects."""

    STRATEGIC = "application/strategic-merge-patch+json"
    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"


# Merge keys of the lists that strategic merge patch merges item by item (from the API's
# ``x-kubernetes-patch-merge-key``); every other list is replaced whole.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",  # a container's; a Service's ports merge by "port"
    "imagePullSecrets": "name",
    "conditions": "type",
}


def apply_patch(obj: dict[str, Any], patch: Any, patch_type: PatchType) -> dict[str, Any]:
    """Return a patched deep copy of ``obj``; raises :class:`InvalidObjectError` on a bad patch."""
    if patch_type is PatchType.JSON:
        if not isinstance(patch, list):
            raise InvalidObjectError("a JSON patch must be a list of operations")
        return json_patch(obj, patch)
    if not isinstance(patch, dict):
        raise InvalidObjectError(f"a {patch_type.name.lower()} patch must be an object")
    if patch_type is PatchType.MERGE:
        result = merge_patch(obj, patch)
    else:
        result = strategic_merge(obj, patch)
    if not isinstance(result, dict):
        raise InvalidObjectError("a patch must leave an object")
    return result


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: maps merge, ``null`` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return deep_copy(patch)
    result: dict[str, Any] = deep_copy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


_CONTAINER_FIELDS = frozenset({"containers", "initContainers", "ephemeralContainers"})
_DELETE_FROM = "$deleteFromPrimitiveList/"


def _merge_key(key: str, parent: str) -> str | None:
    if key == "ports" and parent not in _CONTAINER_FIELDS:
        return "port"  # ServiceSpec.ports (patchMergeKey=port)
    return MERGE_KEYS.get(key)


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch: like a merge patch, but lists with a merge key merge by item.

    ``field`` is the name of the field ``target`` is the value (or a list item) of.
    Directives: ``$patch: replace|delete`` on maps and list items, ``$retainKeys``,
    ``$deleteFromPrimitiveList/<field>``; ``null`` deletes a key. Merged lists are
    ordered as the API server orders them: the patch's items in its order, the items
    only the server had kept in their order around them.
    """
    if not isinstance(patch, dict):
        return deep_copy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: deep_copy(v) for k, v in patch.items() if not k.startswith("$")}
    if directive == "delete":
        return {}
    result: dict[str, Any] = deep_copy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            name = key[len(_DELETE_FROM) :]
            if isinstance(result.get(name), list) and isinstance(value, list):
                result[name] = [v for v in result[name] if v not in value]
        if key.startswith("$"):
            continue
        merge_key = _merge_key(key, field)
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and merge_key is not None:
            result[key] = _merge_list(result.get(key), value, merge_key, key)
        else:
            result[key] = strategic_merge(result.get(key), value, key)
    return result


def _merge_list(target: Any, patch: list[Any], key: str, field: str) -> list[Any]:
    live: list[Any] = deep_copy(target) if isinstance(target, list) else []
    if any(isinstance(e, dict) and e.get("$patch") == "replace" for e in patch):
        return [
            {k: deep_copy(v) for k, v in e.items() if k != "$patch"}
            for e in patch
            if not (isinstance(e, dict) and e.get("$patch") == "replace")
        ]
    patched: list[Any] = []  # the patch's items, merged, in the patch's order
    for entry in patch:
        if not isinstance(entry, dict) or key not in entry:
            raise InvalidObjectError(f"items of {field} need the merge key {key!r}")
        idx = next((i for i, it in enumerate(live) if it.get(key) == entry[key]), None)
        old = live.pop(idx) if idx is not None else None
        if entry.get("$patch") != "delete":
            patched.append((idx, strategic_merge(old if old is not None else {}, entry, field)))
    order = {it.get(key): i for i, it in enumerate(target if isinstance(target, list) else [])}
    server_only = [(order.get(it.get(key), -1), it) for it in live]
    # interleave: a server-only item goes before a patched one that the server had later;
    # items new to the server come first (apimachinery's mergeSortedSlice)
    out: list[Any] = []
    while patched or server_only:
        if patched and (
            not server_only
            or patched[0][0] is None
            or server_only[0][0] > order.get(patched[0][1].get(key), -1)
        ):
            out.append(patched.pop(0)[1])
        else:
            out.append(server_only.pop(0)[1])
    return out


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise InvalidObjectError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(obj: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """RFC 6902 JSON patch (``add``, ``replace``, ``remove``, ``test``) on a deep copy."""
    doc: dict[str, Any] = deep_copy(obj)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise InvalidObjectError(f"invalid JSON patch operation {op!r}")
        parts = _pointer(op["path"])
        if not parts:
            raise InvalidObjectError("JSON patch on the whole document is not supported")
        parent: Any = doc
        for part in parts[:-1]:
            parent = _child(parent, part, op["path"])
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            if _child(parent, last, op["path"]) != op.get("value"):
                raise InvalidObjectError(f"JSON patch test failed at {op['path']}")
        elif kind in ("add", "replace"):
            value = deep_copy(op.get("value"))
            if isinstance(parent, list):
                if last == "-":
                    parent.append(value)
                else:
                    idx = int(last)
                    if kind == "add":
                        parent.insert(idx, value)
                    else:
                        parent[idx] = value
            elif isinstance(parent, dict):
                if kind == "replace" and last not in parent:
                    raise InvalidObjectError(f"JSON patch replace of a missing path {op['path']}")
                parent[last] = value
            else:
                raise InvalidObjectError(f"JSON patch path {op['path']} is not a container")
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            elif isinstance(parent, dict) and last in parent:
                del parent[last]
            else:
                raise InvalidObjectError(f"JSON patch remove of a missing path {op['path']}")
        else:
            raise InvalidObjectError(f"unsupported JSON patch op {kind!r}")
    return doc


def _child(node: Any, part: str, path: str) -> Any:
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise InvalidObjectError(f"JSON patch path {path} does not exist")
