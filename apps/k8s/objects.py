"""Kubernetes-shaped objects (dicts as the API's JSON) and helpers to read them."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from patterns.core.exceptions import ConfigError

T = TypeVar("T")
KubeObject = dict[str, Any]
"""One API object exactly as the API's JSON: ``apiVersion``, ``kind``, ``metadata``, ..."""

SIM_EPOCH = dt.datetime(2026, 11, 24, 10, 0, 0, tzinfo=dt.UTC)  # virtual time 0 of the simulator
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"

_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder()


def deep_copy(obj: T) -> T:
    """A deep copy of JSON-shaped data (dicts, lists, scalars), faster than ``copy.deepcopy``."""
    out: T = _decoder.decode(_encoder.encode(obj))
    return out


def canonical_json(obj: Any) -> bytes:
    """JSON bytes with sorted keys, for equality and hashing of templates."""
    return _encoder.encode(obj)


def iso_time(t: dt.datetime) -> str:
    """RFC 3339 time in UTC with a ``Z`` suffix and whole seconds, as the API writes it."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.lru_cache(maxsize=65536)
def sim_time(seconds: float) -> str:
    """The RFC 3339 timestamp of virtual time ``seconds`` of the simulator."""
    return iso_time(SIM_EPOCH + dt.timedelta(seconds=seconds))


def parse_time(text: str) -> dt.datetime:
    """Parse an RFC 3339 timestamp of the API."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` of an object (empty dict if missing)."""
    value = obj.get("metadata") or {}
    return value if isinstance(value, dict) else {}


def name_of(obj: Mapping[str, Any]) -> str:
    """``metadata.name``."""
    return str(meta(obj).get("name", ""))


def namespace_of(obj: Mapping[str, Any]) -> str:
    """``metadata.namespace`` ("" for cluster-scoped objects)."""
    return str(meta(obj).get("namespace") or "")


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """``metadata.labels``."""
    return dict(meta(obj).get("labels") or {})


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """``metadata.annotations``."""
    return dict(meta(obj).get("annotations") or {})


def get_path(obj: Any, path: str) -> Any:
    """Value at a dotted path (``status.containerStatuses.0.state.waiting.reason``); None if absent.

    A path element ``*`` maps the rest of the path over every item of a list and
    returns the list of results (absent ones dropped).
    """
    parts = path.split(".") if path else []
    return _get_parts(obj, parts)


def _get_parts(obj: Any, parts: list[str]) -> Any:
    cur = obj
    for i, part in enumerate(parts):
        if part == "*":
            if not isinstance(cur, list):
                return None
            out = [_get_parts(item, parts[i + 1 :]) for item in cur]
            return [v for v in out if v is not None]
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            idx = int(part)
            cur = cur[idx] if -len(cur) <= idx < len(cur) else None
        else:
            return None
        if cur is None:
            return None
    return cur


_SEL_RE = re.compile(r"^\s*(!?)([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*))?\s*$")
_SET_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def parse_selector(selector: str | None) -> list[tuple[str, str, tuple[str, ...]]]:
    """Parse a label or field selector into ``(key, op, values)`` requirements.

    Supports ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``, ``k notin (a,b)``.
    """
    if not selector:
        return []
    reqs: list[tuple[str, str, tuple[str, ...]]] = []
    for term in _split_terms(selector):
        set_match = _SET_RE.match(term)
        if set_match:
            values = tuple(v.strip() for v in set_match.group(3).split(",") if v.strip())
            reqs.append((set_match.group(1), set_match.group(2), values))
            continue
        match = _SEL_RE.match(term)
        if match is None:
            raise ConfigError(f"invalid selector term {term!r}")
        neg, key, op, value = match.groups()
        if op is None:
            reqs.append((key, "!exists" if neg else "exists", ()))
        else:
            reqs.append((key, "!=" if op == "!=" else "=", (value,)))
    return reqs


def _split_terms(selector: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur)
    return terms


def matches_requirements(
    values: Mapping[str, Any], reqs: list[tuple[str, str, tuple[str, ...]]]
) -> bool:
    """Whether a label map (or flattened fields) satisfies every requirement."""
    for key, op, vals in reqs:
        present = key in values and values[key] is not None
        value = str(values[key]) if present else None
        if op == "=" and value != vals[0]:
            return False
        if op == "!=" and value == vals[0]:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
        if op == "in" and value not in vals:
            return False
        if op == "notin" and value in vals:
            return False
    return True


def selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """Equality-based map selector (a Service's ``spec.selector``); an empty one matches nothing."""
    if not selector:
        return False
    return all(labels.get(k) == v for k, v in selector.items())


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A ``LabelSelector`` (``matchLabels`` + ``matchExpressions``); an empty one matches all."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr["key"], expr["operator"], tuple(expr.get("values") or ())
        op_map = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
        if not matches_requirements(labels, [(key, op_map[op], vals)]):
            return False
    return True


def format_label_selector(labels: Mapping[str, str]) -> str:
    """``{"app": "x", "tier": "y"}`` -> ``"app=x,tier=y"``."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def condition(obj: Mapping[str, Any], ctype: str) -> dict[str, Any] | None:
    """The status condition of type ``ctype``, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod's ``Ready`` condition is True."""
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def is_node_ready(node: Mapping[str, Any]) -> bool:
    """Whether the node's ``Ready`` condition is True."""
    cond = condition(node, "Ready")
    return bool(cond and cond.get("status") == "True")


def owner_uid(obj: Mapping[str, Any]) -> str | None:
    """uid of the controlling owner reference, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None
