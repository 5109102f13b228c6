"""Two faults at once: the composer keeps each fault as it is alone, on one cluster."""

from __future__ import annotations

import os

import pytest

from apps.k8s.compose import PART_LABEL, compose, compose_pairs
from apps.k8s.exceptions import ScenarioError
from apps.k8s.kinds import Kind
from apps.k8s.scenario import load_catalog
from apps.k8s.sim.cluster import SimCluster
from apps.k8s.symptoms import is_resolved, missing_symptoms

CATALOG = load_catalog()
PAIRS = 6 * int(os.environ.get("SWARMKIT_TEST_SEED_SCALE", "1"))
COMPOSED = compose_pairs(list(CATALOG.values()), PAIRS, seed=20261204)


def test_the_second_part_gets_its_own_namespace_nodes_and_a_later_start() -> None:
    c = compose(CATALOG["node-not-ready"], CATALOG["bad-image-tag"], seed=3)
    a, b = c.parts
    assert a.namespace == CATALOG["node-not-ready"].namespace
    assert b.namespace == CATALOG["bad-image-tag"].namespace + "-2"
    assert all(n.startswith("node-b-") for n in b.node_names())
    assert set(a.node_names()).isdisjoint(b.node_names())
    assert c.scenario.node_names() == a.node_names() + b.node_names()
    first_b = min(f.at_s for f in b.faults)
    assert first_b == min(f.at_s for f in CATALOG["bad-image-tag"].faults) + c.offset_s
    for part, label in ((a, "a"), (b, "b")):
        deployments = [m for m in part.manifests if m["kind"] == "Deployment"]
        assert deployments and all(
            d["spec"]["template"]["spec"]["nodeSelector"][PART_LABEL] == label for d in deployments
        )
    sim = SimCluster.from_scenario(c.scenario, 0)
    sim.run_until(60)
    for pod in sim.list(Kind.POD):
        part = "b" if pod["metadata"]["namespace"].endswith("-2") else "a"
        assert pod["spec"]["nodeName"] in (b if part == "b" else a).node_names()


def test_composition_is_seeded() -> None:
    one = compose_pairs(list(CATALOG.values()), 3, seed=11)
    two = compose_pairs(list(CATALOG.values()), 3, seed=11)
    assert [(c.name, c.offset_s) for c in one] == [(c.name, c.offset_s) for c in two]
    assert one[0].scenario == two[0].scenario


def test_no_action_scenarios_and_self_pairs_are_refused() -> None:
    quiet = next(s for s in CATALOG.values() if s.ground_truth.no_action)
    with pytest.raises(ScenarioError, match="no-action"):
        compose(quiet, CATALOG["bad-image-tag"], seed=0)
    with pytest.raises(ScenarioError, match="two different"):
        compose(CATALOG["bad-image-tag"], CATALOG["bad-image-tag"], seed=0)


@pytest.mark.parametrize("c", COMPOSED, ids=[c.name for c in COMPOSED])
def test_both_faults_show_each_fix_clears_its_own_and_nothing_clears_neither(c) -> None:  # type: ignore[no-untyped-def]
    sc = c.scenario
    sim = SimCluster.from_scenario(sc, 0)
    sim.run_until(sc.ground_truth.detect_at_s)
    obs = sim.observe()
    for part in c.parts:
        assert missing_symptoms(part, obs) == [], f"{part.name} did not manifest in {c.name}"
    fixed = sim.fork()
    for part in c.parts:
        fixed.apply(part.ground_truth.acceptable[0])
    fixed.advance(sc.ground_truth.resolve_within_s)
    after = fixed.observe()
    for part in c.parts:
        ok, reasons = is_resolved(part, after)
        assert ok, f"{part.name} in {c.name}: {reasons}"
    left = sim.fork()
    left.advance(sc.ground_truth.resolve_within_s)
    untouched = left.observe()
    assert all(not is_resolved(part, untouched)[0] for part in c.parts)
