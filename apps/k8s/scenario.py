"""Scenario files: manifests, image behaviours, traffic, timed faults and the ground truth."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from apps.k8s.actions import Action
from apps.k8s.behaviour import ImageBehaviour
from apps.k8s.exceptions import ScenarioError
from apps.k8s.kinds import Kind
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


def validate_scenario(sc: Scenario, source: str = "<scenario>") -> None:
    """Check what the schema cannot: references between manifests, faults and the ground truth."""
    known: set[tuple[Kind, str, str]] = set()
    for i, obj in enumerate(sc.manifests):
        known.add(_check_manifest(obj, f"{source}: manifests[{i}]"))
    nodes = set(sc.node_names())
    last_fault = 0.0
    for i, fault in enumerate(sc.faults):
        where = f"{source}: faults[{i}]"
        last_fault = max(last_fault, fault.at_s)
        if isinstance(fault, ApplyFault):
            for j, obj in enumerate(fault.manifests):
                known.add(_check_manifest(obj, f"{where}.manifests[{j}]"))
        elif isinstance(fault, PatchFault | DeleteFault):
            ns = fault.namespace or ("default" if fault.kind is not Kind.NODE else "")
            if fault.kind is Kind.NODE:
                if fault.name not in nodes:
                    raise ScenarioError(f"{where}.name: unknown node {fault.name!r}")
            elif (fault.kind, ns, fault.name) not in known:
                raise ScenarioError(
                    f"{where}.name: no {fault.kind.value} {ns}/{fault.name} in the manifests"
                )
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
    for i, t in enumerate(sc.traffic):
        if (Kind.SERVICE, t.namespace, t.service) not in known:
            raise ScenarioError(
                f"{source}: traffic[{i}].service: no Service {t.namespace}/{t.service}"
            )
    services = {(ns, name) for kind, ns, name in known if kind is Kind.SERVICE}
    for image, beh in sc.images.items():
        for j, call in enumerate(beh.calls):
            name = call.service.split(".")[0]
            if not any(svc == name for _, svc in services):
                raise ScenarioError(
                    f"{source}: images[{image!r}].calls[{j}].service: no Service {call.service!r}"
                )
    _check_acyclic(sc, source)
    gt = sc.ground_truth
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
