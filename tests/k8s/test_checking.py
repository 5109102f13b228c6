"""The scenario checker finds what is wrong with a scenario, and which scenarios are cascades."""

from __future__ import annotations

import msgspec

from apps.k8s.actions import RestartDeployment
from apps.k8s.checking import check_composed, check_scenario, is_cascade
from apps.k8s.compose import compose
from apps.k8s.scenario import load_catalog

CATALOG = load_catalog()


def test_a_sound_scenario_passes_all_three_checks() -> None:
    assert check_scenario(CATALOG["secret-key-rotated"]) == []
    assert check_scenario(CATALOG["rollout-in-progress"]) == []  # no action is right there


def test_a_fix_that_does_not_fix_and_a_symptom_that_never_shows_are_named() -> None:
    sc = CATALOG["secret-key-rotated"]
    wrong_fix = RestartDeployment(namespace="shop", name="orders")
    broken = msgspec.structs.replace(
        sc, ground_truth=msgspec.structs.replace(sc.ground_truth, acceptable=[wrong_fix])
    )
    problems = check_scenario(broken)
    assert len(problems) == 1 and problems[0].startswith(
        "kubectl -n shop rollout restart deployment/orders does not clear it"
    )
    no_fault = msgspec.structs.replace(sc, faults=[])
    problems = check_scenario(no_fault)
    assert any(p.startswith("symptom missing at detection") for p in problems)
    assert "it clears with no action" in problems


def test_cascades_are_those_whose_errors_show_away_from_the_cause() -> None:
    assert is_cascade(CATALOG["readiness-dependency-cascade"])
    assert is_cascade(CATALOG["init-migration-blocked"])
    assert not is_cascade(CATALOG["bad-image-tag"])
    assert not is_cascade(CATALOG["init-image-typo"])


def test_a_composition_passes_its_checks() -> None:
    c = compose(CATALOG["readiness-dependency-cascade"], CATALOG["secret-volume-typo"], seed=5)
    assert check_composed(c) == []


def test_the_catalog_has_the_breadth_the_issue_asks() -> None:
    scenarios = list(CATALOG.values())
    assert len(scenarios) >= 24
    assert sum(s.ground_truth.no_action for s in scenarios) >= 3
    assert sum(is_cascade(s) and not s.ground_truth.no_action for s in scenarios) >= 4
    first_catalog = {  # the first catalog predates the citation rule
        "aggressive-liveness-probe",
        "bad-image-tag",
        "config-key-removed",
        "cpu-throttling",
        "db-outage-cascade",
        "memory-leak-oom",
        "missing-env-var",
        "node-not-ready",
        "pvc-pending-storage-class",
        "quota-exceeded",
        "service-selector-mismatch",
        "traffic-spike-hpa-max",
        "unschedulable-resources",
        "wrong-readiness-probe",
    }
    for s in scenarios:
        assert s.name in first_catalog or "https://" in s.description, f"{s.name} cites nothing"
