"""The whole loop on the simulated cluster: every catalog scenario, healthy clusters, faults in the loop."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from apps.k8s.actions import REDACTED_PREFIX, ApiOp, PatchSecret, parse_action
from apps.k8s.exceptions import ApiUnavailableError, InvalidActionError
from apps.k8s.kinds import Kind
from apps.k8s.settings import K8sSettings
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal import evaluation
from apps.selfheal.evaluation import full_loop_runner, healthy_variant, judge_case, strip_scenario
from apps.selfheal.learn import Experience
from apps.selfheal.loop import Healer, HealerFaults
from apps.selfheal.policy import Check
from apps.selfheal.settings import HealMode, SelfHealSettings
from patterns.memory.exceptions import StoreUnavailableError
from patterns.net.faults import FaultPlan, ScheduledCrash
from tests.selfheal.helpers import applied, catalog, heal

NAMES = sorted(catalog())


@pytest.mark.parametrize("name", NAMES)
def test_every_catalog_scenario_is_healed_safely_and_the_ground_truth_plays_no_part(
    name: str, tmp_path: Path
) -> None:
    sc = catalog()[name]
    result = judge_case(sc, 0, "full", full_loop_runner(tmp_path / "judged"))
    assert result.healed, (
        result.actions,
        result.trajectories[0].notes if result.trajectories else None,
    )
    assert result.unsafe == [] and result.invariants_broken == []
    if sc.ground_truth.no_action:
        assert result.actions == []
    else:
        assert result.root_top1, [h.ref for h in result.trajectories[0].hypotheses]
        gt = sc.ground_truth
        assert result.mttr_s is not None and result.mttr_s <= gt.detect_at_s + gt.resolve_within_s
    # the same scenario with its ground truth, name and text intact gives the same run
    _, _, trajs = heal(sc, tmp_path / "original")
    stripped = strip_scenario(sc)
    assert stripped.ground_truth != sc.ground_truth and stripped.name != sc.name
    assert applied(trajs) == result.actions
    if trajs:
        assert [h.ref for h in trajs[0].hypotheses] == [
            h.ref for h in result.trajectories[0].hypotheses
        ]


@pytest.mark.parametrize("name", NAMES)
def test_a_healthy_cluster_gets_no_action(name: str, tmp_path: Path) -> None:
    _, healer, trajs = heal(healthy_variant(catalog()[name]), tmp_path, max_incidents=None)  # type: ignore[arg-type]
    assert trajs == [] and healer.iterations > 50


def test_the_rules_playbook_is_a_weaker_baseline(tmp_path: Path) -> None:
    sc = catalog()["db-outage-cascade"]
    rules = judge_case(sc, 0, "rules", evaluation.rules_runner())
    idle = judge_case(sc, 0, "none", evaluation.idle_runner)
    assert not idle.healed and idle.actions == []
    assert rules.unsafe  # it restarts the service that shows the errors


# ------------------------------------------------------------------------- faults in the loop
def _heal_with(faults: HealerFaults, tmp_path: Path, name: str = "bad-image-tag") -> Any:
    return heal(catalog()[name], tmp_path, faults=faults)


def test_a_crashed_primary_replica_forces_a_view_change_and_the_action_still_commits(
    tmp_path: Path,
) -> None:
    plan = FaultPlan(seed=3, scheduled_crashes=[ScheduledCrash(node=0, at_s=0.0)])
    _, _, (t,) = _heal_with(HealerFaults(replica_plan=plan), tmp_path)
    assert t.outcome == "healed"
    (v,) = t.validations
    assert v.committed and v.view >= 1 and 0 not in v.signers


def test_one_byzantine_replica_cannot_block_or_pass_an_action(tmp_path: Path) -> None:
    _, _, (t,) = _heal_with(HealerFaults(replica_views={2: lambda op: False}), tmp_path / "a")
    assert t.outcome == "healed" and t.validations[0].accepts == 3 and t.validations[0].rejects == 1


def test_more_faulty_replicas_than_tolerated_stop_the_loop_safely(tmp_path: Path) -> None:
    views = {1: lambda op: False, 2: lambda op: False}
    sim, _, (t,) = _heal_with(HealerFaults(replica_views=views), tmp_path)
    assert t.outcome == "reported" and applied([t]) == []
    assert all(not v.committed for v in t.validations) and t.validations
    deploy = sim.get(Kind.DEPLOYMENT, "checkout", "shop")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/checkout:1.5.0-rc1"
    lines = (tmp_path / "trajectories.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["incident"]["id"] == t.incident.id  # the trajectory is kept


def test_a_crashed_monitor_lowers_coverage_and_the_loop_goes_on(tmp_path: Path) -> None:
    def crash(scope: str) -> None:
        if scope == "node/node-2":
            raise RuntimeError("monitor lost its node")

    _, _, (t,) = _heal_with(HealerFaults(monitor_crash=crash), tmp_path)
    assert t.outcome == "healed"
    assert any("failed: node/node-2" in n for n in t.notes)


def test_losing_voters_still_decides(tmp_path: Path) -> None:
    _, _, (t,) = _heal_with(HealerFaults(lost_voters={"evidence", "memory-outcomes"}), tmp_path)
    assert t.outcome == "healed"
    failed = {b.voter for b in t.votes[0].ballots if b.verdict in ("failed", "timed_out")}
    assert failed == {"evidence", "memory-outcomes"}


class FlakySim(SimCluster):
    """A simulated API server that answers 503/429 to the first ``fail`` writes of each kind."""

    fail: int = 0
    seen: int = 0

    def _execute(self, op: ApiOp, dry_run: bool) -> Any:
        if not dry_run and self.seen < self.fail:
            self.seen += 1
            raise ApiUnavailableError("HTTP 429: Too Many Requests")
        return super()._execute(op, dry_run)


@pytest.mark.parametrize("fail", [2, 100])
def test_the_api_failing_mid_apply_is_retried_then_given_up_safely(
    fail: int, tmp_path: Path
) -> None:
    sc = catalog()["bad-image-tag"]
    sim = FlakySim.from_scenario(sc)
    assert isinstance(sim, FlakySim)
    sim.fail = fail
    healer = Healer(sim, SelfHealSettings(), memory_dir=tmp_path)
    try:
        (t,) = healer.run(healer.now_s() + 900, max_incidents=1)
    finally:
        healer.close()
    if fail == 2:
        assert t.outcome == "healed" and sim.seen == 2
    else:
        assert t.outcome == "reported" and not any(e.applied for e in t.executions)
        assert "apply failed" in t.executions[0].message
        assert (tmp_path / "trajectories.jsonl").exists()


def test_an_action_outside_the_allowlist_is_never_applied_even_if_every_voter_approves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apps.selfheal import policy, vote

    yes = {name: (lambda a, c: Check(True, "yes")) for name in policy.POLICY_CHECKS}
    monkeypatch.setattr(vote, "POLICY_CHECKS", yes)
    monkeypatch.setattr(policy, "POLICY_CHECKS", yes)
    sc = catalog()["bad-image-tag"]
    sim = SimCluster.from_scenario(sc)
    healer = Healer(
        sim, SelfHealSettings(), K8sSettings(write_namespaces=["elsewhere"]), memory_dir=tmp_path
    )
    try:
        (t,) = healer.run(healer.now_s() + 900, max_incidents=1)
    finally:
        healer.close()
    assert t.votes and all(v.approved for v in t.votes)
    assert applied([t]) == [] and "refused at the gate" in t.executions[0].message
    image = sim.get(Kind.DEPLOYMENT, "checkout", "shop")["spec"]["template"]["spec"]["containers"][
        0
    ]["image"]
    assert image == "shop/checkout:1.5.0-rc1"


def test_dry_run_mode_validates_and_dry_runs_but_changes_nothing(tmp_path: Path) -> None:
    sim, healer, (t,) = heal(
        catalog()["bad-image-tag"], tmp_path, settings=SelfHealSettings(mode=HealMode.DRY_RUN)
    )
    assert healer.dry_run_only and t.outcome == "dry-run"
    (ex,) = t.executions
    assert not ex.applied and ex.dry_run_only and "would apply" in ex.dry_run_message
    image = sim.get(Kind.DEPLOYMENT, "checkout", "shop")["spec"]["template"]["spec"]["containers"][
        0
    ]["image"]
    assert image == "shop/checkout:1.5.0-rc1"


def test_a_failing_vector_store_loses_no_trajectory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_store = Experience._store
    calls = {"n": 0}

    def flaky(self: Experience, traj: Any) -> list[str]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise StoreUnavailableError("lancedb is down")
        return real_store(self, traj)

    monkeypatch.setattr(Experience, "_store", flaky)
    sc = catalog()["bad-image-tag"]
    sim = SimCluster.from_scenario(sc)
    healer = Healer(sim, SelfHealSettings(), memory_dir=tmp_path)
    try:
        (t,) = healer.run(healer.now_s() + 900, max_incidents=1)
        assert t.outcome == "healed" and any("memory unavailable" in n for n in t.notes)
        assert len(healer.experience.pending) == 1
        healer.tick()  # the next iteration stores it
        assert healer.experience.pending == []
        assert healer.experience.bank.stats().trajectories == 1
    finally:
        healer.close()
    assert len((tmp_path / "trajectories.jsonl").read_text().splitlines()) == 1


def test_a_repeated_incident_is_recognised_and_healed_sooner(tmp_path: Path) -> None:
    sc = catalog()["wrong-readiness-probe"]
    first = judge_case(sc, 0, "full", full_loop_runner(tmp_path))
    second = judge_case(sc, 1, "full", full_loop_runner(tmp_path))
    assert first.healed and second.healed
    assert first.trajectories[0].incident.recall_confidence == 0
    assert second.trajectories[0].incident.recall_confidence > 0
    assert second.mttr_s is not None and first.mttr_s is not None and second.mttr_s < first.mttr_s
    assert Experience(tmp_path).bank.stats().strategies >= 1


def test_a_fix_that_failed_is_tried_after_the_one_that_worked_next_time(tmp_path: Path) -> None:
    sc = catalog()["cpu-throttling-full-pool"]
    first = judge_case(sc, 0, "full", full_loop_runner(tmp_path))
    second = judge_case(sc, 1, "full", full_loop_runner(tmp_path))
    assert first.healed and second.healed
    assert first.attempts == 2 and first.trajectories[0].executions[0].rolled_back
    assert first.actions[0].startswith("kubectl -n shop scale deployment/search")
    assert second.attempts == 1
    assert second.actions == [
        "kubectl -n shop set resources deployment/search -c search --limits=cpu=500m"
    ]
    assert any(t.startswith("pitfall") for t in first.trajectories[0].learned)


def test_voter_reliability_learned_in_one_run_is_there_in_the_next(tmp_path: Path) -> None:
    heal(catalog()["bad-image-tag"], tmp_path)
    saved = json.loads((tmp_path / "voter-reliability.json").read_text())
    assert saved and "evidence" in saved
    sim = SimCluster.from_scenario(catalog()["bad-image-tag"])
    again = Healer(sim, SelfHealSettings(), memory_dir=tmp_path)
    try:
        assert again.voting.router.learner.snapshot() == saved
    finally:
        again.close()
    (tmp_path / "voter-reliability.json").write_text("{torn")
    broken = Healer(sim, SelfHealSettings(), memory_dir=tmp_path)
    try:
        assert broken.voting.router.learner.snapshot() == {}  # unreadable: start afresh, loudly
    finally:
        broken.close()


def test_a_secret_key_is_put_back_from_what_was_seen_and_never_stored(tmp_path: Path) -> None:
    sc = catalog()["secret-key-rotated"]
    value = "correct-horse-battery-staple"
    sim, _, trajs = heal(sc, tmp_path)
    assert trajs and trajs[0].outcome == "healed"
    assert applied(trajs) == [
        "kubectl -n shop patch secret/db-credentials data: DB_PASSWORD=<redacted>"
    ]
    secret = sim.get(Kind.SECRET, "db-credentials", "shop")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["DB_PASSWORD"] == value and data["password"] == value  # the added key is kept
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(value.encode() not in p.read_bytes() for p in written)
    assert all(base64.b64encode(value.encode()) not in p.read_bytes() for p in written)
    stored = json.loads((tmp_path / "trajectories.jsonl").read_text().splitlines()[0])
    (patch,) = [e["action"] for e in stored["executions"] if e["applied"]]
    assert patch["set"]["DB_PASSWORD"].startswith(REDACTED_PREFIX)
    with pytest.raises(InvalidActionError, match="redacted"):
        parse_action(patch)  # a stored record can never write its placeholder back


def test_a_secret_value_the_healer_never_saw_is_left_to_a_person(tmp_path: Path) -> None:
    sc = catalog()["secret-key-rotated"]
    # the rotation also changes the value, so the new object does not hold the old one either
    faults = [
        msgspec.structs.replace(
            f, patch={"data": {"DB_PASSWORD": None}, "stringData": {"password": "rotated"}}
        )
        if f.kind is Kind.SECRET
        else f
        for f in sc.faults
    ]
    sc = msgspec.structs.replace(sc, faults=faults)
    sim = SimCluster.from_scenario(sc, 0)
    first = Healer(sim, SelfHealSettings(), memory_dir=tmp_path, seed=0)
    first.tracker.poll(sim)  # saw the value before the fault ...
    state = tmp_path / "state.json"
    first.save_state(state)
    first.close()
    assert b"correct-horse" not in state.read_bytes()
    second = Healer(sim, SelfHealSettings(), memory_dir=tmp_path, seed=0)
    try:
        assert second.load_state(state)  # ... but a restarted healer only has digests
        last = max(f.at_s for f in sc.faults)
        trajs = second.run(second.now_s() + last + 600, max_incidents=1)
    finally:
        second.close()
    assert trajs and trajs[0].outcome == "reported"
    assert not any(isinstance(e.action, PatchSecret) for t in trajs for e in t.executions)
    assert "DB_PASSWORD" not in sim.get(Kind.SECRET, "db-credentials", "shop")["data"]
