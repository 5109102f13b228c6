"""Held-out scenarios: failures written outside the catalog, in other namespaces and shapes.

``tests/selfheal/scenarios/`` holds 33 scenario files written by two people who had not built
the loop, in the catalog's format: cascades across two and three namespaces, a fault in
another service than the one showing symptoms, two no-action cases, two bad edits of one
Deployment in a row, node pressure the kubelet holds for its transition period after a right
fix, a Secret key the application itself misses (no kubelet error names the key), a
workload stuck on a dependency in another namespace that only its manifest names, a
mistyped storage class among several real ones, a quota that caps an autoscaler. Before the
fixes these tests pin, the loop healed 12 of them. The loop sees them stripped, as the judge
gives them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from apps.k8s.actions import PatchHpa, RecreatePvc, RolloutUndo
from apps.k8s.checking import check_scenario
from apps.k8s.kinds import Kind
from apps.k8s.objects import name_of
from apps.k8s.scenario import Scenario, load_scenario
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal.changes import ChangeTracker, seconds_of
from apps.selfheal.evaluation import CaseResult, full_loop_runner, judge_case
from apps.selfheal.propose import CHANGE_BURST_S, Proposer, _closest_name
from apps.selfheal.records import Incident, Signal
from apps.selfheal.rootcause import rank_root_causes
from apps.selfheal.settings import SelfHealSettings
from apps.selfheal.topology import Topology, declared_services

HELD_OUT = Path(__file__).resolve().parent / "scenarios"


def _load(name: str) -> Scenario:
    return load_scenario(HELD_OUT / f"{name}.yaml")


def _healed(name: str, tmp_path: Path) -> CaseResult:
    """The whole loop on held-out scenario ``name``, as the judge runs it; it must heal."""
    result = judge_case(_load(name), 0, "full", full_loop_runner(tmp_path))
    assert result.healed, (name, result.actions)
    return result


def test_every_held_out_scenario_passes_its_own_checks() -> None:
    names = sorted(p.stem for p in HELD_OUT.glob("*.yaml"))
    assert len(names) >= 3
    assert {n: check_scenario(_load(n)) for n in names} == {n: [] for n in names}


def test_two_bad_edits_in_a_row_are_undone_together(tmp_path: Path) -> None:
    result = _healed("two-bad-edits-same-deployment", tmp_path)
    # one write: back to the revision before both edits, not the one between them
    assert result.actions == [
        RolloutUndo(namespace="payments-eu", name="settlement", to_revision=1).describe()
    ]
    assert result.attempts == 1 and result.root_top1


def _tracked(sc: Scenario, times: tuple[float, ...]) -> tuple[SimCluster, ChangeTracker]:
    """The scenario's simulated cluster run to each of ``times``, its changes tracked."""
    sim = SimCluster.from_scenario(sc)
    tracker = ChangeTracker()
    tracker.poll(sim)
    for t in times:
        sim.run_until(t)
        tracker.poll(sim)
    return sim, tracker


def test_only_edits_close_together_count_as_one_run() -> None:
    sc = _load("two-bad-edits-same-deployment")
    sim, tracker = _tracked(sc, (110.0, 130.0, 200.0))
    ref = (Kind.DEPLOYMENT, "payments-eu", "settlement")
    edits = [c for c in tracker.changes_of(*ref) if not c.own]
    assert len(edits) == 2 and edits[1].at_s - edits[0].at_s < CHANGE_BURST_S
    prop = Proposer(Topology.build(sim.observe()), tracker, SelfHealSettings())
    first, *rest = prop._rollout("payments-eu", "settlement")
    assert first[0] == RolloutUndo(namespace="payments-eu", name="settlement", to_revision=1)
    assert any(
        a == RolloutUndo(namespace="payments-eu", name="settlement", to_revision=2)
        for a, _, _ in rest
    )  # the one-step undo stays a fallback
    earlier = dataclasses.replace(edits[0], at_s=edits[0].at_s - CHANGE_BURST_S - 60)
    tracker.history[tracker.history.index(edits[0])] = earlier  # long before the second edit
    undos = [a for a, _, _ in prop._rollout("payments-eu", "settlement")]
    assert RolloutUndo(namespace="payments-eu", name="settlement", to_revision=1) not in undos


def test_a_fix_under_node_pressure_is_verified_after_the_kubelet_lets_go(tmp_path: Path) -> None:
    result = _healed("disk-pressure-log-flood", tmp_path)
    assert result.actions == [
        RolloutUndo(namespace="telemetry", name="ingest", to_revision=1).describe()
    ]
    (traj,) = result.trajectories
    (execution,) = traj.executions
    assert execution.verified  # not rolled back while the DiskPressure taint was held


def test_a_changed_secret_explains_a_crash_better_than_unknown(tmp_path: Path) -> None:
    result = _healed("secret-key-envfrom-auth", tmp_path)
    assert result.root_top1, result.actions
    top = result.trajectories[0].hypotheses[0]
    assert (top.kind, top.object_kind, top.name) == ("config_change", "Secret", "jwt-keys")


def test_addresses_a_manifest_names_are_dependencies_of_its_workload() -> None:
    services = {("mq", "rabbitmq"), ("orders", "db"), ("orders", "cache")}
    template = {
        "spec": {
            "initContainers": [
                {"name": "wait", "command": ["sh", "-c", "until nc -z db 5432; do sleep 2; done"]}
            ],
            "containers": [
                {
                    "name": "app",
                    "env": [
                        {"name": "AMQP_URL", "value": "amqp://u:p@rabbitmq.mq:5672/v"},
                        {"name": "CACHE", "value": "cache:6379"},
                        {"name": "NOTE", "value": "a cache in front of redis"},  # words only
                        {"name": "OTHER", "value": "http://search.other.svc.cluster.local"},
                    ],
                }
            ],
        }
    }
    assert declared_services(template, "orders", services) == {
        ("mq", "rabbitmq"),
        ("orders", "db"),
        ("orders", "cache"),
    }
    assert declared_services(template, "billing", services) == {("mq", "rabbitmq")}


def test_a_workload_stuck_on_a_scaled_away_dependency_names_the_dependency(
    tmp_path: Path,
) -> None:
    sim, tracker = _tracked(_load("init-waits-cross-ns-broker"), (100.0, 210.0, 330.0))
    obs = sim.observe()
    topo = Topology.build(obs)
    consumer, broker = (Kind.DEPLOYMENT, "orders", "consumer"), (Kind.SERVICE, "mq", "rabbitmq")
    assert broker in topo.edges[consumer]  # from its AMQP_URL and its init container's nc
    signals = [  # only what shows in orders: the broker's own outage left out
        Signal(
            source="rule",
            kind="RecentRestart",
            object_kind="Pod",
            namespace="orders",
            name=name_of(p),
            detail="wait-for-broker exited 1 (Error)",
        )
        for p in obs.of(Kind.POD, "orders")
        if "consumer" in name_of(p)
        and any(
            (s.get("state") or {}).get("waiting")
            for s in (p.get("status") or {}).get("initContainerStatuses") or []
        )
    ]
    assert signals
    incident = Incident(
        id="i", detected_at=obs.time, namespace="orders", signals=signals, signature="s"
    )
    hyps, _ = rank_root_causes(topo, tracker, incident, seconds_of(obs.time))
    assert (hyps[0].kind, hyps[0].ref) == ("scaled_down", "Deployment mq/rabbitmq")


def test_a_dependency_scaled_to_zero_is_healed_before_its_callers_fail(tmp_path: Path) -> None:
    result = _healed("init-waits-cross-ns-broker", tmp_path)
    assert result.root_top1, result.actions
    assert result.actions == ["kubectl -n mq scale deployment/rabbitmq --replicas=1"]


def test_a_mistyped_storage_class_is_replaced_by_the_one_meant(tmp_path: Path) -> None:
    result = _healed("pvc-storageclass-typo-multi", tmp_path)
    assert result.root_top1, result.actions
    assert result.actions == [
        RecreatePvc(
            namespace="analytics", name="clickhouse-data", storage_class="premium-rwo"
        ).describe()
    ]  # not the default class: a database silently moved to another tier


def test_only_one_clearly_nearest_name_counts_as_meant() -> None:
    classes = ["standard", "premium-rwo", "balanced-rwo"]
    assert _closest_name("premium-rwo-ssd", classes) == "premium-rwo"
    assert _closest_name("fast-ssd", ["standard"]) is None  # nothing like it
    assert _closest_name("gp3", ["gp2", "gp4"]) is None  # two equally near: no guess


def test_a_quota_is_raised_for_every_pod_the_autoscaler_wants(tmp_path: Path) -> None:
    result = _healed("quota-caps-autoscaler-tenant", tmp_path)
    assert result.root_top1, result.actions
    assert result.actions == [  # room for all of them at once, nothing else touched
        "kubectl -n tenant-blue patch resourcequota/tenant-blue-quota hard: pods=8"
    ]


def test_an_autoscaler_below_its_maximum_gets_no_higher_maximum() -> None:
    sc = _load("quota-caps-autoscaler-tenant")
    sim = SimCluster.from_scenario(sc)
    sim.run_until(300)
    obs = sim.observe()
    (hpa,) = obs.of(Kind.HORIZONTAL_POD_AUTOSCALER, "tenant-blue")
    assert hpa["status"]["desiredReplicas"] < hpa["spec"]["maxReplicas"]  # the quota binds
    prop = Proposer(Topology.build(obs), ChangeTracker(), SelfHealSettings())
    assert prop._hpa("tenant-blue", "search-api") == []
    hpa["status"]["desiredReplicas"] = hpa["spec"]["maxReplicas"]  # at its maximum: raise it
    (action, _, _), *_ = prop._hpa("tenant-blue", "search-api")
    assert isinstance(action, PatchHpa) and action.max_replicas > hpa["spec"]["maxReplicas"]


def _held_out_names() -> list[str]:
    return sorted(p.stem for p in HELD_OUT.glob("*.yaml"))


@pytest.mark.parametrize("name", _held_out_names())
def test_every_held_out_scenario_is_healed_safely(name: str, tmp_path: Path) -> None:
    """The whole loop on each held-out file, as the judge runs it: healed (or, for a
    ``no_action`` case, left alone), no write the ground truth calls wrong, no invariant
    broken."""
    result = _healed(name, tmp_path)
    assert result.unsafe == [] and result.invariants_broken == [], (name, result.actions)


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("canary-bad-build-shared-service", "rollout undo deployment/ledger-api-canary"),
        ("token-errors-readiness-cascade", "rollout undo deployment/token-svc"),
    ],
)
def test_a_release_that_only_answers_errors_is_blamed_through_its_service(
    name: str, write: str, tmp_path: Path
) -> None:
    # its pods run and stay ready: the errors show on the Service that selects them
    result = _healed(name, tmp_path)
    assert len(result.actions) == 1 and write in result.actions[0]


def test_a_protected_add_on_crashing_beside_the_incident_does_not_undo_a_right_fix(
    tmp_path: Path,
) -> None:
    result = _healed("kube-system-noise-plus-liveness-port", tmp_path)
    assert result.attempts == 1  # verified, not rolled back because kube-system stayed broken
    assert all("kube-system" not in a for a in result.actions)
    pitfalls = [x for t in result.trajectories for x in t.learned if x.startswith("pitfall")]
    assert pitfalls == []  # the right fix is not remembered as a mistake


def test_the_judge_runs_on_while_a_second_incident_is_open(tmp_path: Path) -> None:
    # two faults in two namespaces at once: healing the first must not end the judged run
    result = _healed("two-teams-two-incidents", tmp_path)
    assert {a.split()[2] for a in result.actions} >= {"ads", "mail"}
    assert result.root_top1  # scored on the incident about the root cause's namespace


def test_a_forgotten_cordon_is_undone_not_the_release_it_holds_up(tmp_path: Path) -> None:
    result = _healed("forgotten-cordon-blocks-rollout", tmp_path)
    assert result.actions == ["kubectl uncordon pool-a-2"]
    assert result.root_top1


def test_a_job_bursting_far_above_its_cpu_request_is_the_noisy_neighbour(tmp_path: Path) -> None:
    # the starved API is in another namespace and uses 12% of its own limit: no throttling
    result = _healed("batch-noisy-neighbour-cpu", tmp_path)
    assert len(result.actions) == 1 and "job/nightly-rollup" in result.actions[0]
    assert "suspend" in result.actions[0] and result.root_top1
