"""Two faults at once: a seeded composer of catalog scenarios.

Real incidents overlap. :func:`compose` puts two scenarios on one simulated cluster:
the second one's namespaces get a suffix (``shop`` → ``shop-2``), its nodes a prefix of
their own (``node-3`` → ``node-b-3``), and each part's workloads are pinned to its own
nodes (a ``nodeSelector`` on the part's label), so each fault behaves as it does alone
while both share the API server, the scheduler's clock and the healer's attention. The
second part's faults start a seeded offset later. The result keeps both ground truths
(:attr:`ComposedScenario.parts`), renamed to match the merged cluster.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from apps.k8s.exceptions import ScenarioError
from apps.k8s.scenario import Scenario, parse_scenario

PART_LABEL = "swarmkit.io/compose-part"
MAX_OFFSET_S = 60.0  # the second fault starts up to this long after the first
OFFSET_STEP_S = 5.0
_NAMESPACE_KEYS = ("namespace", "target_namespace")
_WORKLOAD_KINDS = ("Deployment", "Job")


@dataclass(frozen=True)
class ComposedScenario:
    """One cluster with two faults: the merged scenario and each part's own ground truth."""

    scenario: Scenario
    parts: tuple[Scenario, Scenario]
    offset_s: float

    @property
    def name(self) -> str:
        """``first+second``."""
        return self.scenario.name


def _walk(value: Any, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    if isinstance(value, dict):
        return fn({k: _walk(v, fn) for k, v in value.items()})
    if isinstance(value, list):
        return [_walk(v, fn) for v in value]
    return value


def _renamer(
    ns_map: dict[str, str], node_map: dict[str, str]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def rename(d: dict[str, Any]) -> dict[str, Any]:
        for key in _NAMESPACE_KEYS:
            if isinstance(d.get(key), str) and d[key] in ns_map:
                d[key] = ns_map[d[key]]
        if isinstance(d.get("healthy_namespaces"), list):
            d["healthy_namespaces"] = [ns_map.get(n, n) for n in d["healthy_namespaces"]]
        for key in ("node", "nodeName"):
            if isinstance(d.get(key), str) and d[key] in node_map:
                d[key] = node_map[d[key]]
        if d.get("kind") == "Node" and isinstance(d.get("name"), str):
            d["name"] = node_map.get(d["name"], d["name"])
        text = d.get("message_contains")
        if isinstance(text, str):
            for old, new in node_map.items():
                text = re.sub(rf"(?<![\w-]){re.escape(old)}(?![\w-])", new, text)
            for old, new in ns_map.items():  # "in Secret shop/db" (not an image "shop/web")
                text = re.sub(rf"(?<= ){re.escape(old)}/", f"{new}/", text)
            # the scheduler counts every node of the merged cluster ("0/6 nodes are
            # available: 3 Insufficient cpu, 3 node(s) didn't match ..."): keep the reason
            text = re.sub(r"^\d+/\d+ nodes are available: ", "", text).rstrip(".")
            d["message_contains"] = text
        service = d.get("service")
        if isinstance(service, str) and "." in service:
            name, _, ns = service.partition(".")
            if ns in ns_map:
                d["service"] = f"{name}.{ns_map[ns]}"
        return d

    return rename


def _namespaces(sc: Scenario) -> set[str]:
    out = {str((m.get("metadata") or {}).get("namespace") or "default") for m in sc.manifests}
    out.add(sc.namespace)
    return out


def _pin(data: dict[str, Any], part: str) -> None:
    """Label the part's nodes and keep its workloads on them."""
    for group in data["nodes"]:
        group["labels"] = {**(group.get("labels") or {}), PART_LABEL: part}

    def pin(d: dict[str, Any]) -> dict[str, Any]:
        if d.get("kind") in _WORKLOAD_KINDS and isinstance(d.get("spec"), dict):
            tpl = d["spec"].get("template")
            if isinstance(tpl, dict):
                spec = tpl.setdefault("spec", {})
                spec["nodeSelector"] = {**(spec.get("nodeSelector") or {}), PART_LABEL: part}
        return d

    data["manifests"] = _walk(data["manifests"], pin)
    for fault in data.get("faults") or []:
        if fault.get("type") == "apply":
            fault["manifests"] = _walk(fault["manifests"], pin)


def _part(
    sc: Scenario, part: str, ns_suffix: str, node_suffix: str, offset: float
) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(sc)
    ns_map = {ns: f"{ns}{ns_suffix}" for ns in _namespaces(sc)} if ns_suffix else {}
    node_map: dict[str, str] = {}
    if node_suffix:
        for group in data["nodes"]:
            if group.get("name"):
                node_map[group["name"]] = f"{group['name']}-{node_suffix}"
                group["name"] = node_map[group["name"]]
            else:
                prefix = group.get("prefix", "node")
                for i in range(1, int(group.get("count", 1)) + 1):
                    node_map[f"{prefix}-{i}"] = f"{prefix}-{node_suffix}-{i}"
                group["prefix"] = f"{prefix}-{node_suffix}"
    data = _walk(data, _renamer(ns_map, node_map))
    _pin(data, part)
    for fault in data.get("faults") or []:
        fault["at_s"] = float(fault["at_s"]) + offset
    gt = data["ground_truth"]
    gt["detect_at_s"] = float(gt["detect_at_s"]) + offset
    return data


def compose(first: Scenario, second: Scenario, seed: int) -> ComposedScenario:
    """Both scenarios on one cluster, the second's faults a seeded offset later.

    Raises:
        ScenarioError: either part needs no action (nothing to compose), or both ship a
            different behaviour under one image name.
    """
    for sc in (first, second):
        if sc.ground_truth.no_action:
            raise ScenarioError(f"{sc.name}: a no-action scenario cannot be composed")
    if first.name == second.name:
        raise ScenarioError(f"{first.name}: compose two different scenarios")
    rng = random.Random(seed)
    offset = OFFSET_STEP_S * rng.randint(0, int(MAX_OFFSET_S / OFFSET_STEP_S))
    a = _part(first, "a", "", "", 0.0)
    b = _part(second, "b", "-2", "b", offset)
    for image, beh in b["images"].items():
        if image in a["images"] and a["images"][image] != beh:
            raise ScenarioError(
                f"{first.name}+{second.name}: image {image!r} behaves differently in each part"
            )
    name = f"{first.name}+{second.name}"
    part_a = parse_scenario({**a, "name": first.name}, name)
    part_b = parse_scenario({**b, "name": second.name}, name)
    gta, gtb = a["ground_truth"], b["ground_truth"]
    merged = {
        **a,
        "name": name,
        "title": f"{first.title} / {second.title}",
        "description": f"{first.name} and, {offset:.0f} s later, {second.name}",
        "seed": seed,
        "nodes": a["nodes"] + b["nodes"],
        "storage_classes": sorted(set(a["storage_classes"]) | set(b["storage_classes"])),
        "manifests": a["manifests"] + b["manifests"],
        "images": {**a["images"], **b["images"]},
        "traffic": a["traffic"] + b["traffic"],
        "faults": sorted(a["faults"] + b["faults"], key=lambda f: float(f["at_s"])),
        "ground_truth": {
            **gta,
            "acceptable": gta["acceptable"] + gtb["acceptable"],
            "wrong": gta["wrong"] + gtb["wrong"],
            "symptoms": gta["symptoms"] + gtb["symptoms"],
            "detect_at_s": max(gta["detect_at_s"], gtb["detect_at_s"]),
            "resolve_within_s": max(gta["resolve_within_s"], gtb["resolve_within_s"]),
            "invariants": {
                "healthy_namespaces": gta["invariants"]["healthy_namespaces"]
                + gtb["invariants"]["healthy_namespaces"],
                "unchanged": gta["invariants"]["unchanged"] + gtb["invariants"]["unchanged"],
            },
        },
    }
    return ComposedScenario(parse_scenario(merged, name), (part_a, part_b), offset)


def compose_pairs(catalog: Sequence[Scenario], count: int, seed: int) -> list[ComposedScenario]:
    """``count`` seeded compositions of distinct actionable catalog scenarios."""
    actionable = sorted((s for s in catalog if not s.ground_truth.no_action), key=lambda s: s.name)
    if len(actionable) < 2:
        raise ScenarioError("composing needs at least two scenarios that need an action")
    rng = random.Random(seed)
    out: list[ComposedScenario] = []
    seen: set[tuple[str, str]] = set()
    attempts = 0
    while len(out) < count and attempts < 50 * count:
        attempts += 1
        first, second = rng.sample(actionable, 2)
        if (first.name, second.name) in seen:
            continue
        seen.add((first.name, second.name))
        try:
            out.append(compose(first, second, rng.randrange(2**31)))
        except ScenarioError:
            continue  # an image both parts define differently: another pair
    return out
