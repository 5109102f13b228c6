"""Paired significance (McNemar's exact test) and the memoryless operator-frequency prior."""

from __future__ import annotations

import math

import pytest

from patterns.codegen.evaluation import binomial_two_sided, frequency_prior, mcnemar
from patterns.codegen.records import EditFormat, Step, TestOutcome, Trajectory


def test_mcnemar_counts_only_discordant_pairs() -> None:
    a = [True] * 10 + [False] * 2 + [True] * 50 + [False] * 30
    b = [False] * 10 + [True] * 2 + [True] * 50 + [False] * 30
    test = mcnemar(a, b)
    assert (test.a_only, test.b_only) == (10, 2)
    # two-sided exact binomial: 2 * P(X <= 2 | n=12, p=1/2) = 2 * (1 + 12 + 66) / 4096
    assert math.isclose(test.p_value, 2 * 79 / 4096)
    assert mcnemar(b, a).p_value == test.p_value  # symmetric


def test_mcnemar_without_discordant_pairs_is_one_and_checks_lengths() -> None:
    assert mcnemar([True, False], [True, False]).p_value == 1.0
    assert binomial_two_sided(3, 6) == 1.0  # capped at 1
    with pytest.raises(ValueError, match="differ in length: 2 and 3"):
        mcnemar([True, False], [True, False, True])


def _trajectory(tags: tuple[str, ...] | None) -> Trajectory:
    ok = tags is not None
    step = Step(
        index=0,
        candidate_id="c",
        edit="e",
        format=EditFormat.SEARCH_REPLACE,
        tags=tags or ("op:x",),
        outcome=TestOutcome(passed=ok),
    )
    return Trajectory(id="t", task_id="t", task="t", context={}, steps=(step,), success=ok)


def test_frequency_prior_is_the_share_of_winning_edits_per_tag() -> None:
    trajectories = [
        _trajectory(("op:widen-comparison", "fam:comparison-boundary")),
        _trajectory(("op:widen-comparison", "ctx:if")),
        _trajectory(("op:swap-arithmetic",)),
        _trajectory(None),  # failed: ignored
    ]
    prior = frequency_prior(trajectories, ("op:",))
    assert prior == {"op:swap-arithmetic": pytest.approx(1 / 3), "op:widen-comparison": 2 / 3}
    assert "fam:comparison-boundary" in frequency_prior(trajectories)
    assert frequency_prior([_trajectory(None)]) == {}
