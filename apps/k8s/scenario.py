"""Scenario files: manifests, image behaviours, traffic, timed faults and the ground truth."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from apps.k8s.actions import Action
from apps.k8s.behaviour import ImageBehaviour
from apps.k8s.exceptions import ScenarioError
from apps.k8s.kinds import KINDS, Kind
from apps.k8s.patching import PatchType, apply_patch
from apps.k8s.scenario_checks import check_manifest_schema, check_quantity
from apps.k8s.settings import SCENARIOS_DIR

NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
MANIFEST_KINDS = {
    "Deployment": Kind.DEPLOYMENT,
    "Service": Kind.SERVICE,
    "ConfigMap": Kind.CONFIG_MAP,
    "Secret": Kind.SECRET,
    "PodDisruptionBudget": Kind.POD_DISRUPTION_BUDGET,
    "Job": Kind.JOB,
    "PersistentVolumeClaim": Kind.PERSISTENT_VOLUME_CLAIM,
    "ResourceQuota": Kind.RESOURCE_QUOTA,
    "HorizontalPodAutoscaler": Kind.HORIZONTAL_POD_AUTOSCALER,
}


class _Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class NodeGroup(_Spec, frozen=True, kw_only=True):
    """``count`` identical nodes named ``<prefix>-1..`` (or one node called ``name``)."""

    name: Name | None = None
    prefix: Name = "node"
    count: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 1
    cpu: str = "4"
    memory: str = "16Gi"
    pods: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 110
    ephemeral_storage: str = "100Gi"  # the node filesystem (logs, writable layers, emptyDir)
    pid_max: Annotated[int, msgspec.Meta(ge=1024, le=4_194_304)] = 32768
    labels: dict[str, str] = {}
    taints: list[dict[str, Any]] = []


class TrafficSpec(_Spec, frozen=True, kw_only=True):
    """External requests per second arriving at a Service."""

    namespace: Name
    service: Name
    rps: NonNeg


class _Fault(_Spec, tag_field="type", frozen=True, kw_only=True):
    at_s: NonNeg


class PatchFault(_Fault, tag="patch", frozen=True, kw_only=True):
    """Someone changes an object (``kubectl patch``/``apply``/``set``)."""

    kind: Kind
    name: Name
    namespace: str = ""
    patch: Any
    patch_type: Literal["strategic", "merge", "json"] = "strategic"
    subresource: str | None = None


class ApplyFault(_Fault, tag="apply", frozen=True, kw_only=True):
    """Someone creates objects (``kubectl apply`` of new manifests)."""

    manifests: list[dict[str, Any]]


class DeleteFault(_Fault, tag="delete", frozen=True, kw_only=True):
    """Someone deletes an object."""

    kind: Kind
    name: Name
    namespace: str = ""


class ScaleFault(_Fault, tag="scale", frozen=True, kw_only=True):
    """Someone scales a deployment."""

    namespace: Name
    name: Name
    replicas: Annotated[int, msgspec.Meta(ge=0, le=1000)]


class NodeDownFault(_Fault, tag="node_down", frozen=True, kw_only=True):
    """A node's kubelet stops reporting (power loss, network partition)."""

    node: Name


class NodeUpFault(_Fault, tag="node_up", frozen=True, kw_only=True):
    """A node's kubelet reports again."""

    node: Name


class TrafficFault(_Fault, tag="traffic", frozen=True, kw_only=True):
    """External traffic at a Service changes to ``rps`` or by ``factor``."""

    namespace: Name
    service: Name
    rps: NonNeg | None = None
    factor: NonNeg | None = None


Fault = (
    PatchFault | ApplyFault | DeleteFault | ScaleFault | NodeDownFault | NodeUpFault | TrafficFault
)


class ResourceRef(_Spec, frozen=True, kw_only=True):
    """One object: the root cause of a scenario."""

    kind: Kind
    name: Name
    namespace: str = ""


class ObjectSymptom(_Spec, tag_field="check", tag="object", frozen=True, kw_only=True):
    """At least ``min_count`` objects whose value at ``path`` passes the comparison.

    ``absent: true`` means the path must be missing (an Endpoints without addresses).
    ``persists_after_fix: true`` marks a symptom of the root cause itself (a dead node)
    that a remediation works around rather than removes.
    """

    kind: Kind
    namespace: str = ""
    name: str | None = None
    labels: dict[str, str] | None = None
    path: str
    equals: Any = None
    one_of: list[Any] | None = None
    at_least: float | None = None
    at_most: float | None = None
    absent: bool = False
    min_count: Annotated[int, msgspec.Meta(ge=1)] = 1
    persists_after_fix: bool = False


class EventSymptom(_Spec, tag_field="check", tag="event", frozen=True, kw_only=True):
    """An event with this reason (about objects of this kind, name prefix, message)."""

    reason: Name
    namespace: str | None = None
    involved_kind: Kind | None = None
    name_prefix: str | None = None
    message_contains: str | None = None
    type: Literal["Normal", "Warning"] | None = None


class MetricSymptom(_Spec, tag_field="check", tag="metric", frozen=True, kw_only=True):
    """A service metric above and/or below a bound."""

    namespace: Name
    service: Name
    metric: Literal["request_rate_rps", "error_rate", "latency_p50_ms", "latency_p99_ms"]
    above: float | None = None
    below: float | None = None
    persists_after_fix: bool = False


Symptom = ObjectSymptom | EventSymptom | MetricSymptom


class Invariants(_Spec, frozen=True, kw_only=True):
    """What a correct fix must keep: namespaces that stay healthy, objects nobody may change."""

    healthy_namespaces: list[Name] = []
    unchanged: list[ResourceRef] = []


class GroundTruth(_Spec, frozen=True, kw_only=True):
    """What is really wrong, which remediations fix it and which do not.

    ``no_action: true`` says the right answer is to do nothing (a blip that clears by
    itself, a rollout in progress, a problem outside the healer's allowlist): the judge
    counts any write as a failure, and ``acceptable`` stays empty.
    """

    root_cause: ResourceRef
    acceptable: list[Action] = []
    wrong: Annotated[list[Action], msgspec.Meta(min_length=1)]
    symptoms: Annotated[list[Symptom], msgspec.Meta(min_length=1)]
    detect_at_s: NonNeg
    resolve_within_s: Annotated[float, msgspec.Meta(gt=0)]
    no_action: bool = False
    invariants: Invariants = msgspec.field(default_factory=Invariants)


class Scenario(_Spec, frozen=True, kw_only=True):
    """A failure scenario of the simulated cluster."""

    name: Name
    title: str
    description: str = ""
    seed: Annotated[int, msgspec.Meta(ge=0)] = 0
    nodes: Annotated[list[NodeGroup], msgspec.Meta(min_length=1)]
    storage_classes: list[str] = msgspec.field(default_factory=lambda: ["standard"])
    manifests: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1)]
    images: dict[str, ImageBehaviour]
    traffic: list[TrafficSpec] = []
    faults: list[Fault] = []
    ground_truth: GroundTruth

    @property
    def namespace(self) -> str:
        """The namespace of the root cause (or of the first manifest for a node cause)."""
        if self.ground_truth.root_cause.namespace:
            return self.ground_truth.root_cause.namespace
        return str(self.manifests[0].get("metadata", {}).get("namespace") or "default")

    def node_names(self) -> list[str]:
        """Names of every node the scenario creates, in order."""
        names = []
        for group in self.nodes:
            if group.name:
                names.append(group.name)
            else:
                names += [f"{group.prefix}-{i}" for i in range(1, group.count + 1)]
        return names


def _check_manifest(obj: Mapping[str, Any], where: str) -> tuple[Kind, str, str]:
    if not isinstance(obj, Mapping):
        raise ScenarioError(f"{where}: a manifest must be a mapping")
    for key in ("apiVersion", "kind", "metadata"):
        if key not in obj:
            raise ScenarioError(f"{where}.{key}: required field is missing")
    kind = obj["kind"]
    if kind not in MANIFEST_KINDS:
        raise ScenarioError(
            f"{where}.kind: unsupported kind {kind!r} (supported: {sorted(MANIFEST_KINDS)})"
        )
    expected = KINDS[MANIFEST_KINDS[kind]].api_version
    if obj["apiVersion"] != expected:
        raise ScenarioError(
            f"{where}.apiVersion: {obj['apiVersion']!r} is not served for {kind} (use {expected!r})"
        )
    check_manifest_schema(obj, where)
    md = obj["metadata"]
    if not isinstance(md, Mapping) or not md.get("name"):
        raise ScenarioError(f"{where}.metadata.name: required field is missing")
    if kind == "Deployment":
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            raise ScenarioError(f"{where}.spec: required field is missing")
        match = ((spec.get("selector") or {}).get("matchLabels")) or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not match:
            raise ScenarioError(f"{where}.spec.selector.matchLabels: required field is missing")
        if any(labels.get(k) != v for k, v in match.items()):
            raise ScenarioError(
                f"{where}.spec.template.metadata.labels: do not match spec.selector.matchLabels"
            )
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers")
        if not containers:
            raise ScenarioError(f"{where}.spec.template.spec.containers: required field is missing")
        for i, c in enumerate(containers):
            for key in ("name", "image"):
                if not c.get(key):
                    raise ScenarioError(
                        f"{where}.spec.template.spec.containers[{i}].{key}: required field is missing"
                    )
    return MANIFEST_KINDS[kind], str(md.get("namespace") or "default"), str(md["name"])


# The kind of object each action's ``namespace``/``name`` (or ``node``) names.
_ACTION_TARGETS: dict[str, Kind] = {
    "rollout_undo": Kind.DEPLOYMENT,
    "restart": Kind.DEPLOYMENT,
    "scale": Kind.DEPLOYMENT,
    "patch_resources": Kind.DEPLOYMENT,
    "patch_env": Kind.DEPLOYMENT,
    "patch_probe": Kind.DEPLOYMENT,
    "patch_scheduling": Kind.DEPLOYMENT,
    "patch_configmap": Kind.CONFIG_MAP,
    "patch_secret": Kind.SECRET,
    "patch_pdb": Kind.POD_DISRUPTION_BUDGET,
    "suspend_job": Kind.JOB,
    "scale_job": Kind.JOB,
    "patch_hpa": Kind.HORIZONTAL_POD_AUTOSCALER,
    "patch_service_selector": Kind.SERVICE,
    "patch_resource_quota": Kind.RESOURCE_QUOTA,
    "recreate_pvc": Kind.PERSISTENT_VOLUME_CLAIM,
}
_PATCH_TYPES = {
    "strategic": PatchType.STRATEGIC,
    "merge": PatchType.MERGE,
    "json": PatchType.JSON,
}


def _check_nodes(sc: Scenario, source: str) -> None:
    for i, group in enumerate(sc.nodes):
        for field in ("cpu", "memory", "ephemeral_storage"):
            where = f"{source}: nodes[{i}].{field}"
            if check_quantity(getattr(group, field), where) <= 0:
                raise ScenarioError(f"{where}: {getattr(group, field)!r} must be positive")


def _check_path(path: str, where: str) -> None:
    """A symptom's dotted path: non-empty, no empty element (``a..b``, ``.a``, ``a.``)."""
    if not path.strip():
        raise ScenarioError(f"{where}: the path is empty (a dotted path such as status.phase)")
    if any(not part.strip() for part in path.split(".")):
        raise ScenarioError(
            f"{where}: {path!r} has an empty element (a dotted path such as "
            "status.containerStatuses.0.ready)"
        )


def _images(obj: Mapping[str, Any]) -> set[str]:
    """Images of a workload's containers and init containers (Deployment or Job)."""
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {
        str(c.get("image"))
        for key in ("containers", "initContainers")
        for c in spec.get(key) or []
        if isinstance(c, Mapping) and c.get("image")
    }


def _containers(obj: Mapping[str, Any]) -> set[str]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {
        str(c.get("name")) for key in ("containers", "initContainers") for c in spec.get(key) or []
    }


def _check_actions(
    sc: Scenario,
    source: str,
    objects: Mapping[tuple[Kind, str, str], Mapping[str, Any]],
    nodes: set[str],
) -> None:
    gt = sc.ground_truth
    for group, actions in (("acceptable", gt.acceptable), ("wrong", gt.wrong)):
        for i, action in enumerate(actions):
            where = f"{source}: ground_truth.{group}[{i}]"
            raw = msgspec.to_builtins(action)
            for field in ("requests", "limits", "hard"):
                for res, value in (raw.get(field) or {}).items():
                    check_quantity(value, f"{where}.{field}.{res}")
            node = raw.get("node")
            if node is not None and node not in nodes:
                raise ScenarioError(f"{where}.node: unknown node {node!r}")
            kind = _ACTION_TARGETS.get(raw["type"])
            if kind is None or raw.get("name") is None:
                continue
            target = objects.get((kind, raw["namespace"], raw["name"]))
            if target is None:
                raise ScenarioError(
                    f"{where}.name: no {kind.value} {raw['namespace']}/{raw['name']} in the "
                    "manifests"
                )
            container = raw.get("container")
            if container is not None and container not in _containers(target):
                raise ScenarioError(
                    f"{where}.container: {raw['name']} has no container {container!r} "
                    f"(it has {sorted(_containers(target))})"
                )


def _check_patch_fault(
    fault: PatchFault, where: str, objects: dict[tuple[Kind, str, str], Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    """The patch has its type's shape, applies to its object, and leaves a valid manifest."""
    shape_ok = isinstance(fault.patch, list if fault.patch_type == "json" else dict)
    if not shape_ok:
        want = "a list of operations" if fault.patch_type == "json" else "a mapping"
        raise ScenarioError(f"{where}.patch: a {fault.patch_type} patch must be {want}")
    if fault.subresource is not None:
        if fault.subresource != "scale" or fault.kind is not Kind.DEPLOYMENT:
            raise ScenarioError(
                f"{where}.subresource: {fault.subresource!r} is not served for "
                f"{fault.kind.value} (only a Deployment's 'scale')"
            )
        replicas = (fault.patch.get("spec") or {}).get("replicas")
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ScenarioError(
                f"{where}.patch.spec.replicas: expected a non-negative integer, got {replicas!r}"
            )
        return None
    key = (fault.kind, fault.namespace or "default", fault.name)
    target = objects.get(key)
    if target is None:
        return None  # a node, or an object the caller has already reported
    if fault.kind is Kind.SECRET:  # the patch meets the Secret as the API server stores it
        target = _stored_secret(target)
    try:
        patched = apply_patch(dict(target), fault.patch, _PATCH_TYPES[fault.patch_type])
    except Exception as err:  # the API server would answer 422
        raise ScenarioError(f"{where}.patch: does not apply to {fault.name}: {err}") from err
    if fault.kind is Kind.SECRET:
        patched = _stored_secret(patched)
    _check_manifest(patched, f"{where}.patch (applied to {fault.kind.value} {fault.name})")
    objects[key] = patched
    return patched


def _stored_secret(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A Secret as the API server stores it: ``stringData`` merged into ``data`` (base64).

    ``stringData`` is write-only, so a fault that patches ``/data/KEY`` of a Secret its
    manifest wrote with ``stringData`` applies, as it would on a cluster.
    """
    out = copy.deepcopy(dict(obj))
    string_data = out.pop("stringData", None) or {}
    data = dict(out.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data or "data" in out:
        out["data"] = data
    return out


def validate_scenario(sc: Scenario, source: str = "<scenario>") -> None:
    """Check what the schema cannot: manifests against the API schema, quantities, and
    references between manifests, faults and the ground truth; errors name the field path."""
    known: set[tuple[Kind, str, str]] = set()
    objects: dict[tuple[Kind, str, str], Mapping[str, Any]] = {}
    seen_objects: list[Mapping[str, Any]] = []  # every version: manifests, applied, patched
    for i, obj in enumerate(sc.manifests):
        key = _check_manifest(obj, f"{source}: manifests[{i}]")
        known.add(key)
        objects[key] = obj
        seen_objects.append(obj)
    _check_nodes(sc, source)
    nodes = set(sc.node_names())
    last_fault = 0.0
    for i, fault in enumerate(sc.faults):
        where = f"{source}: faults[{i}]"
        last_fault = max(last_fault, fault.at_s)
        if isinstance(fault, ApplyFault):
            for j, obj in enumerate(fault.manifests):
                key = _check_manifest(obj, f"{where}.manifests[{j}]")
                known.add(key)
                objects[key] = obj
                seen_objects.append(obj)
        elif isinstance(fault, PatchFault | DeleteFault):
            ns = fault.namespace or ("default" if fault.kind is not Kind.NODE else "")
            if fault.kind is Kind.NODE:
                if fault.name not in nodes:
                    raise ScenarioError(f"{where}.name: unknown node {fault.name!r}")
            elif (fault.kind, ns, fault.name) not in known:
                raise ScenarioError(
                    f"{where}.name: no {fault.kind.value} {ns}/{fault.name} in the manifests"
                )
            if isinstance(fault, PatchFault):
                patched = _check_patch_fault(fault, where, objects)
                if patched is not None:
                    seen_objects.append(patched)
        elif isinstance(fault, ScaleFault):
            if (Kind.DEPLOYMENT, fault.namespace, fault.name) not in known:
                raise ScenarioError(f"{where}.name: no Deployment {fault.namespace}/{fault.name}")
        elif isinstance(fault, NodeDownFault | NodeUpFault):
            if fault.node not in nodes:
                raise ScenarioError(f"{where}.node: unknown node {fault.node!r}")
        elif isinstance(fault, TrafficFault):
            if (fault.rps is None) == (fault.factor is None):
                raise ScenarioError(f"{where}: exactly one of rps and factor is required")
            if (Kind.SERVICE, fault.namespace, fault.service) not in known:
                raise ScenarioError(
                    f"{where}.service: no Service {fault.namespace}/{fault.service}"
                )
    used_images = {img for obj in seen_objects for img in _images(obj)}
    for i, t in enumerate(sc.traffic):
        if (Kind.SERVICE, t.namespace, t.service) not in known:
            raise ScenarioError(
                f"{source}: traffic[{i}].service: no Service {t.namespace}/{t.service}"
            )
    services = {(ns, name) for kind, ns, name in known if kind is Kind.SERVICE}
    for image, beh in sc.images.items():
        if image not in used_images:
            raise ScenarioError(
                f"{source}: images[{image!r}]: no container of the manifests or faults runs "
                f"this image (a typo in the tag? used: {sorted(used_images)})"
            )
        for j, call in enumerate(beh.calls):
            name = call.service.split(".")[0]
            if not any(svc == name for _, svc in services):
                raise ScenarioError(
                    f"{source}: images[{image!r}].calls[{j}].service: no Service {call.service!r}"
                )
        for j, dep in enumerate(beh.readiness_depends_on):
            name = dep.service.split(".")[0]
            if not any(svc == name for _, svc in services):
                raise ScenarioError(
                    f"{source}: images[{image!r}].readiness_depends_on[{j}].service: "
                    f"no Service {dep.service!r}"
                )
    for i, obj in enumerate(sc.manifests):
        if obj.get("kind") == "HorizontalPodAutoscaler":
            ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
            ns = str(obj["metadata"].get("namespace") or "default")
            if (
                ref.get("kind") != "Deployment"
                or (Kind.DEPLOYMENT, ns, ref.get("name")) not in known
            ):
                raise ScenarioError(
                    f"{source}: manifests[{i}].spec.scaleTargetRef: no Deployment "
                    f"{ns}/{ref.get('name')} to scale (kind {ref.get('kind')!r})"
                )
    _check_acyclic(sc, source)
    gt = sc.ground_truth
    for i, symptom in enumerate(gt.symptoms):
        where = f"{source}: ground_truth.symptoms[{i}]"
        if isinstance(symptom, ObjectSymptom):
            _check_path(symptom.path, f"{where}.path")
            if symptom.absent and (
                symptom.equals is not None
                or symptom.one_of is not None
                or symptom.at_least is not None
                or symptom.at_most is not None
            ):
                raise ScenarioError(f"{where}.absent: cannot be combined with a comparison")
        elif isinstance(symptom, MetricSymptom):
            if symptom.above is None and symptom.below is None:
                raise ScenarioError(f"{where}: a metric symptom needs above and/or below")
            if (Kind.SERVICE, symptom.namespace, symptom.service) not in known:
                raise ScenarioError(
                    f"{where}.service: no Service {symptom.namespace}/{symptom.service}"
                )
    _check_actions(sc, source, objects, nodes)
    if gt.no_action and gt.acceptable:
        raise ScenarioError(
            f"{source}: ground_truth.acceptable: must be empty when no_action is true"
        )
    if not gt.no_action and not gt.acceptable:
        raise ScenarioError(
            f"{source}: ground_truth.acceptable: at least one action (or no_action: true)"
        )
    for i, ref in enumerate(gt.invariants.unchanged):
        ns = ref.namespace or ("default" if ref.kind is not Kind.NODE else "")
        if ref.kind is Kind.NODE:
            if ref.name not in nodes:
                raise ScenarioError(
                    f"{source}: ground_truth.invariants.unchanged[{i}]: unknown node {ref.name!r}"
                )
        elif (ref.kind, ns, ref.name) not in known:
            raise ScenarioError(
                f"{source}: ground_truth.invariants.unchanged[{i}]: no {ref.kind.value} {ns}/{ref.name}"
            )
    rc = gt.root_cause
    if rc.kind is Kind.NODE:
        if rc.name not in nodes:
            raise ScenarioError(f"{source}: ground_truth.root_cause.name: unknown node {rc.name!r}")
    elif (rc.kind, rc.namespace or "default", rc.name) not in known:
        raise ScenarioError(
            f"{source}: ground_truth.root_cause: no {rc.kind.value} {rc.namespace}/{rc.name}"
        )
    if gt.detect_at_s <= last_fault:
        raise ScenarioError(
            f"{source}: ground_truth.detect_at_s: {gt.detect_at_s} must come after the last fault"
            f" ({last_fault})"
        )


def _check_acyclic(sc: Scenario, source: str) -> None:
    graph = {img: [c.service.split(".")[0] for c in beh.calls] for img, beh in sc.images.items()}
    svc_images: dict[str, set[str]] = {}
    for obj in sc.manifests:
        if obj.get("kind") != "Deployment":
            continue
        labels = obj["spec"]["template"]["metadata"].get("labels", {})
        images = {c["image"] for c in obj["spec"]["template"]["spec"]["containers"]}
        for svc in sc.manifests:
            if svc.get("kind") == "Service":
                sel = (svc.get("spec") or {}).get("selector") or {}
                if sel and all(labels.get(k) == v for k, v in sel.items()):
                    svc_images.setdefault(svc["metadata"]["name"], set()).update(images)
    state: dict[str, int] = {}

    def visit(svc: str, trail: list[str]) -> None:
        if state.get(svc) == 1:
            raise ScenarioError(
                f"{source}: images: the service call graph has a cycle: {' -> '.join([*trail, svc])}"
            )
        if state.get(svc) == 2:
            return
        state[svc] = 1
        for img in svc_images.get(svc, ()):
            for callee in graph.get(img, ()):
                visit(callee, [*trail, svc])
        state[svc] = 2

    for start in list(svc_images):
        visit(start, [])


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate a decoded YAML document as a scenario; errors name the file and the field."""
    try:
        scenario = msgspec.convert(data, type=Scenario)
    except msgspec.ValidationError as err:
        raise ScenarioError(f"{source}: {err}") from err
    validate_scenario(scenario, source)
    return scenario


def load_scenario(name_or_path: str | Path, directory: Path = SCENARIOS_DIR) -> Scenario:
    """Load and validate a scenario file.

    Args:
        name_or_path: A catalog name (``bad-image-tag``) or a path to a YAML file.
        directory: Where catalog names are looked up.

    Returns:
        The validated scenario.

    Raises:
        ScenarioError: the file is unreadable or malformed; the message names the field.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = directory / f"{name_or_path}.yaml"
    try:
        text = path.read_text()
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read scenario: {err}") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path}: invalid YAML: {err}") from err
    scenario = parse_scenario(data, str(path.name))
    if scenario.name != path.stem:
        raise ScenarioError(f"{path.name}: name: {scenario.name!r} differs from the file name")
    return scenario


def scenario_names(directory: Path = SCENARIOS_DIR) -> list[str]:
    """Names of the scenarios in the catalog, sorted."""
    return sorted(p.stem for p in directory.glob("*.yaml"))


def load_catalog(directory: Path = SCENARIOS_DIR) -> dict[str, Scenario]:
    """Every scenario of the catalog, by name."""
    return {name: load_scenario(name, directory) for name in scenario_names(directory)}
