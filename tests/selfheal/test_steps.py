"""Unit tests of the loop's steps on hand-made graphs, objects and clusters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apps.k8s.actions import (
    DrainNode,
    PatchConfigMap,
    PatchServiceSelector,
    RecreatePvc,
    RestartDeployment,
    RolloutUndo,
    ScaleDeployment,
)
from apps.k8s.cluster import Observation, ServiceMetrics
from apps.k8s.kinds import Kind
from apps.k8s.scenario import parse_scenario
from apps.k8s.settings import K8sSettings
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal.alerts import parse_alert
from apps.selfheal.changes import ChangeTracker, desired_state
from apps.selfheal.detect import Detector
from apps.selfheal.exceptions import HealerStateError, InvalidAlertError
from apps.selfheal.loop import Healer
from apps.selfheal.monitor import Monitors, merge_summaries, summarize_scope
from apps.selfheal.policy import (
    PolicyContext,
    check_allowlist,
    check_data_safety,
    check_disruption_budget,
)
from apps.selfheal.rootcause import Diagnoser, _significant
from apps.selfheal.settings import SelfHealSettings
from apps.selfheal.topology import Topology, personalized_pagerank
from patterns.core.loopthread import AsyncRuntime
from tests.selfheal.helpers import catalog

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


# ----------------------------------------------------------------------- a hand-made cluster
def _deploy(name: str, image: str, replicas: int = 2, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "payments-prod", "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": name,
                            "image": image,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
                            **container,
                        }
                    ]
                },
            },
        },
    }


def _service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "payments-prod"},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def cascade_scenario() -> dict[str, Any]:
    """gateway → ledger → vault; vault's new image crashes at start: errors show at the gateway."""
    return {
        "name": "hand-made-cascade",
        "title": "t",
        "nodes": [{"count": 2, "prefix": "worker"}],
        "manifests": [
            _deploy("gateway", "acme/gateway:1"),
            _deploy("ledger", "acme/ledger:7"),
            {
                **_deploy("vault", "acme/vault:3", replicas=1),
                "spec": {
                    **_deploy("vault", "acme/vault:3", replicas=1)["spec"],
                    "strategy": {"type": "Recreate"},
                },
            },
            _service("gateway"),
            _service("ledger"),
            _service("vault"),
        ],
        "images": {
            "acme/gateway:1": {"calls": [{"service": "ledger", "fraction": 0.5}]},
            "acme/ledger:7": {"calls": [{"service": "vault", "fraction": 1.0}]},
            "acme/vault:3": {},
            "acme/vault:4": {"requires": {"env": ["VAULT_TOKEN"]}},
        },
        "traffic": [{"namespace": "payments-prod", "service": "gateway", "rps": 80}],
        "faults": [
            {
                "type": "patch",
                "at_s": 90,
                "kind": "Deployment",
                "namespace": "payments-prod",
                "name": "vault",
                "patch": {
                    "spec": {
                        "template": {
                            "spec": {"containers": [{"name": "vault", "image": "acme/vault:4"}]}
                        }
                    }
                },
            }
        ],
        "ground_truth": {
            "root_cause": {"kind": "Deployment", "namespace": "payments-prod", "name": "vault"},
            "detect_at_s": 200,
            "resolve_within_s": 150,
            "acceptable": [{"type": "rollout_undo", "namespace": "payments-prod", "name": "vault"}],
            "wrong": [{"type": "restart", "namespace": "payments-prod", "name": "gateway"}],
            "symptoms": [
                {
                    "check": "metric",
                    "namespace": "payments-prod",
                    "service": "gateway",
                    "metric": "error_rate",
                    "above": 0.1,
                }
            ],
        },
    }


def test_a_cascade_the_loop_never_saw_is_traced_to_its_root_not_to_where_errors_show(
    tmp_path: Path,
) -> None:
    sc = parse_scenario(cascade_scenario())
    sim = SimCluster.from_scenario(sc)
    healer = Healer(sim, SelfHealSettings(), memory_dir=tmp_path)
    try:
        trajs = healer.run(healer.now_s() + 900, max_incidents=1)
    finally:
        healer.close()
    (t,) = trajs
    assert t.hypotheses[0].ref == "Deployment payments-prod/vault"
    assert t.hypotheses[0].kind == "bad_rollout"
    assert t.outcome == "healed", t.notes
    assert t.executions[-1].action == RolloutUndo(
        namespace="payments-prod", name="vault", to_revision=1
    )
    services = {s.name for s in t.incident.signals if s.object_kind == "Service"}
    assert services & {"gateway", "ledger"}, t.incident.signals  # the errors showed upstream


# ------------------------------------------------------------------------------ the random walk
def test_the_walk_gathers_at_the_deepest_anomalous_dependency() -> None:
    fe, orders, db, dbd, fed = (
        (Kind.SERVICE, "s", "frontend"),
        (Kind.SERVICE, "s", "orders"),
        (Kind.SERVICE, "s", "db"),
        (Kind.DEPLOYMENT, "s", "db"),
        (Kind.DEPLOYMENT, "s", "frontend"),
    )
    edges = {fe: {orders, fed}, orders: {db}, db: {dbd}}
    anomaly = {fe: 0.6, orders: 1.0, db: 1.0, dbd: 1.0, fed: 0.0}
    pr = personalized_pagerank([fe, orders, db, dbd, fed], edges, anomaly)
    assert max(pr, key=lambda r: pr[r]) == dbd
    assert pr[dbd] > pr[orders] > pr[fe]
    anomaly[dbd] = 0.0  # the workload is fine: the Service itself is the deepest anomaly
    pr = personalized_pagerank([fe, orders, db, dbd, fed], edges, anomaly)
    assert max(pr, key=lambda r: pr[r]) == db


# ------------------------------------------------------------------------------- change tracking
def test_a_restart_annotation_alone_is_not_a_suspect_change() -> None:
    sc = catalog()["config-key-removed"]
    sim = SimCluster.from_scenario(sc)
    tracker = ChangeTracker()
    tracker.poll(sim)
    sim.run_until(100)
    changes = tracker.poll(sim)
    by_kind = {c.kind: c for c in changes}
    cm, deploy = by_kind[Kind.CONFIG_MAP], by_kind[Kind.DEPLOYMENT]
    assert cm.fields == ["data.redis.url"] and cm.before is not None
    assert cm.before["data"]["redis.url"].startswith("redis://")
    assert _significant(cm)
    assert deploy.fields == ["template.metadata.annotations.kubectl.kubernetes.io/restartedAt"]
    assert not _significant(deploy)


def test_tracker_state_survives_a_round_trip() -> None:
    sim = SimCluster.from_scenario(catalog()["config-key-removed"])
    tracker = ChangeTracker()
    tracker.poll(sim)
    sim.run_until(100)
    tracker.poll(sim)
    again = ChangeTracker()
    again.load_state(json.loads(json.dumps(tracker.to_state())))
    assert again.history == tracker.history and again.current == tracker.current


# ------------------------------------------------------------------------------------- detection
def _healthy_obs() -> Observation:
    sim = SimCluster.from_scenario(catalog()["db-outage-cascade"])
    sim.run_until(55)
    return sim.observe()


def test_a_healthy_cluster_gives_no_signal() -> None:
    det = Detector()
    assert det.signals(_healthy_obs(), 55.0) == []


def test_a_metric_far_above_its_rolling_baseline_is_an_anomaly() -> None:
    det = Detector(baseline_window=20, z_threshold=6.0)
    base = Observation("2026-11-24T10:00:00Z", {}, [], [])
    for i in range(10):
        base.service_metrics = [ServiceMetrics("ns", "api", 50, 0.001, 20, 60 + i % 3)]
        assert det.signals(base, float(i)) == []
    base.service_metrics = [ServiceMetrics("ns", "api", 50, 0.001, 20, 400)]
    (sig,) = det.signals(base, 11.0)
    assert sig.kind == "latency_p99_msAnomaly" and sig.name == "api" and sig.source == "stat"
    assert det.persisted([sig], 2) == []  # one observation is not yet an incident
    assert det.persisted(det.signals(base, 12.0), 2) != []


def test_new_workloads_get_a_grace_period() -> None:
    sim = SimCluster.from_scenario(catalog()["aggressive-liveness-probe"])
    sim.run_until(30)  # slow starters: nothing available yet, but only 30 s old
    assert not [s for s in Detector().signals(sim.observe(), 30.0) if s.source == "rule"]


# ----------------------------------------------------------------------------------- monitoring
def test_monitors_merge_up_the_tree_and_a_crashed_one_only_lowers_coverage() -> None:
    sim = SimCluster.from_scenario(catalog()["node-not-ready"])
    sim.run_until(150)
    obs = sim.observe()
    runtime = AsyncRuntime()
    try:
        mon = Monitors(runtime, fanout=2)
        full = mon.run(obs)

        def crash(scope: str) -> None:
            if scope == "node/node-1":
                raise RuntimeError("monitor died")

        mon.fault = crash
        part = mon.run(obs)
    finally:
        runtime.close()
    scopes = Monitors.scopes(obs)
    assert full.coverage == full.monitors == len(scopes) and not full.failed
    assert full.summary.nodes_not_ready == 1 and full.summary.nodes == 3
    direct = [summarize_scope(obs, s) for s in scopes]
    assert full.summary.pods == sum(d.pods for d in direct if d.scope.startswith("ns/"))
    assert part.failed == ["node/node-1"] and part.coverage == len(scopes) - 1
    merged, cov, _, _ = merge_summaries(
        scopes, {d.scope: d for d in direct if d.scope != "node/node-1"}, 2
    )
    assert merged == part.summary and cov == part.coverage


# ------------------------------------------------------------------------------------- policies
def _ctx(sim: SimCluster, **k8s: Any) -> PolicyContext:
    return PolicyContext(sim, sim.observe(), SelfHealSettings(), K8sSettings(**k8s), 0.2, 1)


def test_policies_refuse_protected_namespaces_bound_claims_and_emptying_a_service() -> None:
    sim = SimCluster.from_scenario(catalog()["db-outage-cascade"])
    sim.run_until(55)
    ctx = _ctx(sim, write_namespaces=["*"])
    assert not check_allowlist(RestartDeployment(namespace="kube-system", name="coredns"), ctx).ok
    assert not check_allowlist(
        RolloutUndo(namespace="shop", name="db"), _ctx(sim, write_namespaces=["other"])
    ).ok
    assert not check_allowlist(
        RolloutUndo(namespace="shop", name="db"), ctx
    ).ok  # no older revision
    assert check_allowlist(ScaleDeployment(namespace="shop", name="orders", replicas=3), ctx).ok
    bound = check_data_safety(
        RecreatePvc(namespace="shop", name="db-data", storage_class="standard"), ctx
    )
    assert not bound.ok and "bound" in bound.reason
    assert not check_disruption_budget(
        ScaleDeployment(namespace="shop", name="db", replicas=0), ctx
    ).ok
    db_node = next(
        p["spec"]["nodeName"]
        for p in sim.list(Kind.POD, "shop")
        if p["metadata"]["name"].startswith("db-")
    )
    verdict = check_disruption_budget(DrainNode(node=db_node), ctx)
    assert not verdict.ok and "shop/db" in verdict.reason


# --------------------------------------------------------------------------------- proposals
def test_proposals_restore_what_the_change_feed_saw_before(tmp_path: Path) -> None:
    sc = catalog()["config-key-removed"]
    sim = SimCluster.from_scenario(sc)
    healer = Healer(sim, SelfHealSettings(), memory_dir=tmp_path)
    try:
        (t,) = healer.run(healer.now_s() + 600, max_incidents=1)
    finally:
        healer.close()
    first = t.proposals[0].action
    assert isinstance(first, PatchConfigMap)
    assert first.set == {"redis.url": "redis://redis.shop.svc:6379/0"}
    assert "<" in first.describe() and "redis://" not in first.describe()  # values never shown


def test_a_selector_with_no_history_is_matched_to_the_closest_workload() -> None:
    sc = catalog()["service-selector-mismatch"]
    sim = SimCluster.from_scenario(sc)
    sim.run_until(120)  # the tracker starts after the change: no history to restore from
    obs = sim.observe()
    from apps.selfheal.propose import Proposer

    prop = Proposer(Topology.build(obs), ChangeTracker(), SelfHealSettings())
    (action, _, why), *_ = prop._selector("shop", "payments")
    assert action == PatchServiceSelector(
        namespace="shop", name="payments", selector={"app": "payments"}
    )
    assert "closest" in why


def test_the_diagnoser_names_a_quota_that_blocks_pods_when_nothing_changed() -> None:
    sim = SimCluster.from_scenario(catalog()["quota-exceeded"])
    sim.run_until(150)
    obs = sim.observe()
    diag = Diagnoser(Topology.build(obs), ChangeTracker())
    from apps.selfheal.detect import Detector as D
    from apps.selfheal.records import Incident

    sigs = D().signals(obs, 150.0)
    hyps = diag.rank(
        Incident(id="i", detected_at=obs.time, namespace="shop", signals=sigs, signature="s"), 150.0
    )
    kinds = {h.ref: h.kind for h in hyps}
    assert kinds.get("ResourceQuota shop/compute-quota") == "quota_exhausted"


# ----------------------------------------------------------------------------- alerts and state
def test_alertmanager_and_generic_alerts_parse_and_bad_ones_name_the_field() -> None:
    hint = parse_alert((SHARED / "alertmanager_webhook_example.json").read_text())
    assert (
        hint.namespaces == ["shop"]
        and hint.alertnames == ["KubePodCrashLooping"]
        and hint.firing == 1
    )
    assert parse_alert({"alertname": "HighErrors", "namespace": "api"}).namespaces == ["api"]
    with pytest.raises(InvalidAlertError, match="alertname"):
        parse_alert({"namespace": "x"})
    with pytest.raises(InvalidAlertError, match=r"alerts\[0\].labels.namespace"):
        parse_alert(
            {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {}}]}
        )
    with pytest.raises(InvalidAlertError, match="version"):
        parse_alert(
            {"version": "3", "status": "firing", "alerts": [{"status": "firing", "labels": {}}]}
        )
    with pytest.raises(InvalidAlertError, match="not valid JSON"):
        parse_alert("{nope")


def test_loop_state_round_trips_and_a_corrupt_file_is_reported_and_left_alone(
    tmp_path: Path,
) -> None:
    sim = SimCluster.from_scenario(catalog()["bad-image-tag"])
    healer = Healer(sim, SelfHealSettings(), memory_dir=tmp_path / "m")
    try:
        for _ in range(8):
            healer.tick()
            sim.wait(15)
        path = tmp_path / "state.json"
        healer.save_state(path)
        other = Healer(sim, SelfHealSettings(), memory_dir=tmp_path / "m2")
        try:
            assert other.load_state(path)
            assert other.tracker.history == healer.tracker.history
            assert dict(other.detector.seen) == dict(healer.detector.seen)
            path.write_text("{torn")
            with pytest.raises(HealerStateError, match="unreadable"):
                other.load_state(path)
            assert path.read_text() == "{torn"
            assert not other.load_state(tmp_path / "absent.json")
        finally:
            other.close()
    finally:
        healer.close()


def test_desired_state_ignores_what_controllers_write() -> None:
    d = {"spec": {"replicas": 2, "template": {"a": 1}, "paused": False}, "status": {"x": 1}}
    assert desired_state(Kind.DEPLOYMENT, d) == {"replicas": 2, "template": {"a": 1}}


def test_the_vote_summary_names_voters_rule_veto_and_earlier_proposals() -> None:
    from apps.selfheal.records import Ballot, VoteRecord
    from apps.selfheal.report import vote_summary

    def ballot(voter: str, verdict: str) -> Ballot:
        return Ballot(voter=voter, verdict=verdict, confidence=1.0, reason="")

    vetoed = VoteRecord(
        proposal=0,
        rule="weighted (vetoed by policy-allowlist)",
        approved=False,
        ballots=[ballot("memory", "approve"), ballot("policy-allowlist", "reject")],
        support=0.5,
    )
    passed = VoteRecord(
        proposal=1,
        rule="quorum",
        approved=True,
        ballots=[ballot("a", "approve"), ballot("b", "approve"), ballot("c", "abstain")],
        support=0.9,
    )

    class Traj:
        votes: list[VoteRecord] = []

    t = Traj()
    assert vote_summary(t) == "no vote"  # type: ignore[arg-type]
    t.votes = [vetoed]
    assert vote_summary(t) == (  # type: ignore[arg-type]
        "1 of 2 voters approve; weighted rule: rejected, vetoed by policy-allowlist"
    )
    t.votes = [vetoed, passed]
    assert vote_summary(t) == (  # type: ignore[arg-type]
        "2 of 3 voters approve; quorum rule: approved (1 of 2 proposals approved)"
    )


def test_the_undo_of_a_write_is_read_once_the_controller_caught_up() -> None:
    from apps.k8s.actions import revision_of
    from apps.selfheal.execute import inverse_action
    from tests.selfheal.helpers import catalog

    sim = SimCluster.from_scenario(catalog()["bad-image-tag"], 0)
    sim.wait(sim.scenario.ground_truth.detect_at_s)  # the bad image rolled out: revision 2
    name, ns = "checkout", "shop"
    sim.apply(RolloutUndo(namespace=ns, name=name, to_revision=1))  # revision 3, template of 1
    stale = revision_of(sim.get(Kind.DEPLOYMENT, name, ns))
    undo = inverse_action(RestartDeployment(namespace=ns, name=name), sim)
    assert isinstance(undo, RolloutUndo)
    synced = revision_of(sim.get(Kind.DEPLOYMENT, name, ns))
    assert undo.to_revision == synced == 3  # the template now running, not revision 2
    assert stale in (2, 3)  # what an immediate read may have said
