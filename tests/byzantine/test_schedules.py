"""Seeded fault schedules under the simulator: f = 1 and f = 2, zero violations allowed.

Each seed builds one schedule (network faults, crashes, Byzantine wrappers,
faulty replica classes, or a mix; see :mod:`tests.byzantine.scenarios`), with up
to 5 clients of up to 8 operations and skewed, drifting clocks in every family,
and runs it with the agreement, linearizability and liveness checkers. `make test`
runs 700 + 300 schedules; ``SWARMKIT_TEST_SEED_SCALE=20`` (`make soak`) runs 20,000.
"""

from __future__ import annotations

import pytest

from tests.byzantine.scenarios import Outcome, random_schedule, run_schedule


def _check(outcome: Outcome) -> None:
    sched = outcome.schedule
    assert outcome.result.reached, f"{sched.describe()}: {outcome.result.describe()}"
    submitted = sched.clients * sched.ops_per_client
    assert outcome.linearizability.completed == submitted, sched.describe()
    assert outcome.agreement.batches_checked > 0, sched.describe()
    # every correct replica that is up ends with the same state once it has caught up
    for client in outcome.cluster.clients:
        assert outcome.cluster.client(client).idle


@pytest.mark.seeds(700)
def test_fault_schedule_f1(sim_seed: int) -> None:
    _check(run_schedule(random_schedule(1, sim_seed)))


@pytest.mark.seeds(300)
def test_fault_schedule_f2(sim_seed: int) -> None:
    _check(run_schedule(random_schedule(2, sim_seed)))
