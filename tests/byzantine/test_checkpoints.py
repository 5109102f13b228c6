"""Checkpoints every K sequence numbers, stable proofs, garbage collection, state transfer."""

from __future__ import annotations

from patterns.byzantine.events import BatchExecuted, CheckpointStable, StateInstalled
from patterns.byzantine.simulation import sim_cluster
from patterns.net.faults import FaultPlan, ScheduledCrash, ScheduledPartition
from tests.byzantine.helpers import cluster, get, kv, put, run_ops
from tests.byzantine.scenarios import TEST_SETTINGS

SMALL = TEST_SETTINGS.model_copy(
    update={"checkpoint_interval": 2, "watermark_window": 4, "batch_max_requests": 1}
)


def test_checkpoints_become_stable_every_k_and_the_log_below_is_collected() -> None:
    c = cluster(settings=SMALL)
    run_ops(c, c.clients[0], [put("k", str(i)) for i in range(9)])
    c.sim.run(max_time=c.sim.now + 0.5)  # let the last checkpoint messages arrive
    for rep in c.replicas().values():
        assert rep.last_executed == 9
        assert rep.low == 8  # the last multiple of K=2 executed
        assert all(seq > rep.low for seq in rep.slots)
        assert all(seq > rep.low for seq in rep.p_set) and all(seq > rep.low for seq in rep.q_set)
        assert set(rep.snapshots) == {8}
        assert all(seq > rep.low for seq in rep.checkpoints)
    stable = sorted({e.seq for _, _, e in c.sim.events if isinstance(e, CheckpointStable)})
    assert stable == [2, 4, 6, 8]


def test_the_primary_never_orders_beyond_the_high_watermark() -> None:
    # two backups crashed: nothing commits (no 2f+1), so the window never moves
    plan = FaultPlan(seed=5, scheduled_crashes=[ScheduledCrash(2, 0.0), ScheduledCrash(3, 0.0)])
    settings = SMALL.model_copy(update={"pipeline_depth": 100})
    c = sim_cluster(1, 6, plan, settings=settings)
    for cid in c.clients:
        c.submit(cid, put("k", str(cid)))
    c.sim.run(max_time=0.3)  # shorter than the view-change timeout
    primary = c.replica(0)
    assert primary.low == 0 and primary.next_seq - 1 == primary.window == 4
    assert len(primary.queue) == 2  # the rest waits for the window to move


def test_a_restarted_replica_without_state_catches_up_by_state_transfer() -> None:
    plan = FaultPlan(seed=6, scheduled_crashes=[ScheduledCrash(3, 0.001, 2.0)])
    c = cluster(plan=plan, settings=SMALL)
    run_ops(c, c.clients[0], [put("k", str(i)) for i in range(10)])
    assert c.sim.now < 2.0
    c.sim.run(until=lambda s: 3 in s.alive and c.replica(3).last_executed >= 10, max_time=5.0)
    rep3 = c.replica(3)
    installed = [e for _, n, e in c.sim.events if n == 3 and isinstance(e, StateInstalled)]
    assert installed and installed[0].seq >= 8
    assert rep3.state_digest == c.replica(0).state_digest
    assert rep3.replies == c.replica(0).replies  # the reply table travels with the state
    (res,) = run_ops(c, c.clients[0], [get("k")])
    assert kv(res).value == "9"


def test_a_replica_that_missed_batches_catches_up_from_commit_certificates() -> None:
    # replica 3 is cut off briefly: the others keep the log (no checkpoint yet at K=16)
    settings = TEST_SETTINGS.model_copy(update={"checkpoint_interval": 16, "watermark_window": 64})
    plan = FaultPlan(
        seed=7, scheduled_partitions=[ScheduledPartition(0.0, 0.3, [[3], [0, 1, 2, 4]])]
    )
    c = cluster(plan=plan, settings=settings)
    run_ops(c, c.clients[0], [put("k", str(i)) for i in range(4)])
    c.sim.run(until=lambda s: c.replica(3).last_executed == 4, max_time=3.0)
    executed = [e.seq for _, n, e in c.sim.events if n == 3 and isinstance(e, BatchExecuted)]
    assert executed == [1, 2, 3, 4]  # executed from certificates, in order, no state transfer
    assert not [e for _, n, e in c.sim.events if isinstance(e, StateInstalled)]
