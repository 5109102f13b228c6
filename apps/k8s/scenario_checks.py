"""Load-time checks of scenario manifests: every field against the Kubernetes API schema.

A scenario's manifests are plain mappings, so a typo (``replicas: "three"``, ``memory:
256Mx``, ``contianers:``) used to pass the loader and fail later inside the simulator,
or never. Here each manifest is walked against the API's own types, as the official
``kubernetes`` client's models declare them (``openapi_types``/``attribute_map`` of
``V1Deployment``, ``V2HorizontalPodAutoscaler``, ...): unknown fields, wrong JSON types
and malformed resource quantities are errors naming the field path
(``manifests[0].spec.template.spec.containers[0].resources.limits.memory``).

Quantities follow the grammar of ``k8s.io/apimachinery/pkg/api/resource.Quantity``
(a signed decimal number, then a binary-SI suffix ``Ki..Ei``, a decimal-SI suffix
``n u m k M G T P E`` or an exponent ``e3``); resource requests, limits and quota must
not be negative, and a request may not exceed its limit (the API server's own check).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from apps.k8s.exceptions import ScenarioError
from apps.k8s.quantity import parse_quantity

# k8s.io/apimachinery/pkg/api/resource/quantity.go: <signedNumber><suffix>
QUANTITY_RE = re.compile(
    r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)
# (model, attribute) pairs whose values (or map values) are resource quantities.
QUANTITY_FIELDS: frozenset[tuple[str, str]] = frozenset(
    {
        ("V1ResourceRequirements", "limits"),
        ("V1ResourceRequirements", "requests"),
        ("V1VolumeResourceRequirements", "limits"),
        ("V1VolumeResourceRequirements", "requests"),
        ("V1ResourceQuotaSpec", "hard"),
        ("V1EmptyDirVolumeSource", "size_limit"),
        ("V2MetricTarget", "average_value"),
        ("V2MetricTarget", "value"),
    }
)
_LIST_RE = re.compile(r"^List\[(.+)\]$")
_DICT_RE = re.compile(r"^Dict\[str, (.+)\]$")


def value_kind(value: Any, *, json: bool = False) -> str:
    """What a decoded YAML (or, with ``json``, JSON) value is, for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array" if json else "a list"
    if isinstance(value, Mapping):
        return "an object" if json else "a mapping"
    return type(value).__name__


@cache
def _model(name: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """(JSON field -> type, JSON field -> attribute) of a client model, or None if unknown."""
    import kubernetes.client.models as models  # the API schema, as the official client ships it

    cls = getattr(models, name, None)
    if cls is None:
        return None
    types: dict[str, str] = cls.openapi_types
    fields: dict[str, str] = cls.attribute_map
    return {fields[a]: t for a, t in types.items()}, {fields[a]: a for a in types}


def model_name(api_version: str, kind: str) -> str:
    """The client model of a manifest: ``apps/v1`` + ``Deployment`` -> ``V1Deployment``."""
    version = api_version.rsplit("/", 1)[-1]
    return f"{version[:1].upper()}{version[1:]}{kind}"


def check_quantity(value: Any, where: str, *, non_negative: bool = True) -> float:
    """A resource quantity's value; raises :class:`ScenarioError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ScenarioError(f"{where}: expected a quantity such as 500m or 256Mi, got {value!r}")
    if isinstance(value, str) and not QUANTITY_RE.match(value):
        raise ScenarioError(
            f"{where}: invalid quantity {value!r} (a number with an optional suffix: "
            "Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or an exponent such as e3)"
        )
    amount = parse_quantity(value)
    if non_negative and amount < 0:
        raise ScenarioError(f"{where}: quantity {value!r} must not be negative")
    return amount


def _check_value(value: Any, type_name: str, where: str, quantity: bool) -> None:
    if quantity:
        if _DICT_RE.match(type_name) is None:
            check_quantity(value, where)
            return
        if not isinstance(value, Mapping):
            raise ScenarioError(f"{where}: expected a mapping, got {value_kind(value)}")
        for key, item in value.items():
            check_quantity(item, f"{where}.{key}")
        return
    if (m := _LIST_RE.match(type_name)) is not None:
        if not isinstance(value, list):
            raise ScenarioError(f"{where}: expected a list, got {value_kind(value)} ({value!r})")
        for i, item in enumerate(value):
            _check_value(item, m.group(1), f"{where}[{i}]", False)
        return
    if (m := _DICT_RE.match(type_name)) is not None:
        if not isinstance(value, Mapping):
            raise ScenarioError(f"{where}: expected a mapping, got {value_kind(value)}")
        for key, item in value.items():
            if not isinstance(key, str):
                raise ScenarioError(f"{where}: key {key!r} must be a string")
            _check_value(item, m.group(1), f"{where}.{key}", False)
        return
    if type_name == "str" or type_name == "datetime":
        if not isinstance(value, str):
            raise ScenarioError(
                f"{where}: expected a string, got {value_kind(value)} ({value!r}); quote it"
            )
    elif type_name == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ScenarioError(
                f"{where}: expected an integer, got {value_kind(value)} ({value!r})"
            )
    elif type_name == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ScenarioError(f"{where}: expected a number, got {value_kind(value)} ({value!r})")
    elif type_name == "bool":
        if not isinstance(value, bool):
            raise ScenarioError(f"{where}: expected true or false, got {value!r}")
    elif type_name == "object":  # IntOrString in the API types these models cover
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ScenarioError(
                f"{where}: expected an integer or a string, got {value_kind(value)} ({value!r})"
            )
    else:
        check_object(value, type_name, where)


def check_object(value: Any, model: str, where: str) -> None:
    """Check a mapping against client model ``model`` (fields, types, quantities)."""
    schema = _model(model)
    if schema is None:  # a type this client does not know: nothing to check it against
        return
    types, attrs = schema
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {value_kind(value)} ({value!r})")
    for key, item in value.items():
        if key not in types:
            raise ScenarioError(
                f"{where}.{key}: unknown field (not in the Kubernetes {model} schema: "
                f"{', '.join(sorted(types))})"
            )
        if item is None:
            continue  # an explicit null is the field's absence
        _check_value(item, types[key], f"{where}.{key}", (model, attrs[key]) in QUANTITY_FIELDS)
    if model in ("V1ResourceRequirements", "V1VolumeResourceRequirements"):
        _check_requests_within_limits(value, where)


def _check_requests_within_limits(resources: Mapping[str, Any], where: str) -> None:
    limits = resources.get("limits") or {}
    for name, request in (resources.get("requests") or {}).items():
        if name in limits and parse_quantity(request) > parse_quantity(limits[name]):
            raise ScenarioError(
                f"{where}.requests.{name}: {request!r} must be less than or equal to "
                f"{name} limit {limits[name]!r}"
            )


def check_manifest_schema(obj: Mapping[str, Any], where: str) -> None:
    """Check a whole manifest (``apiVersion``/``kind`` already known) against the API schema."""
    check_object(obj, model_name(str(obj["apiVersion"]), str(obj["kind"])), where)
