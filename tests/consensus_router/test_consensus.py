"""The cascade's escalation paths, critical questions under quorum, and learning from feedback."""

from __future__ import annotations

import pytest

from patterns.consensus_router import (
    CallableReply,
    ConsensusRouter,
    Mode,
    Outcome,
    QuorumConfigError,
    VoteStatus,
)
from tests.consensus_router.helpers import (
    Recorder,
    callable_entry,
    never_answers,
    pool_of,
    question,
)

# Prices (USD per token) rank the voters: cheap < mid < big1 = big2.
ENTRIES = [
    callable_entry("cheap", price=1e-9),
    callable_entry("mid", price=1e-8),
    callable_entry("big1", price=1e-6),
    callable_entry("big2", price=1e-6),
]


def router_for(
    answers: dict[str, str | CallableReply | None], **settings: object
) -> tuple[ConsensusRouter, Recorder]:
    recorder = Recorder(answers)
    return ConsensusRouter(pool_of(ENTRIES, recorder.callables(), **settings)), recorder


def test_tiers_rank_by_price_unless_every_voter_sets_one() -> None:
    cr, _ = router_for(dict.fromkeys(["cheap", "mid", "big1", "big2"], "yes"))
    assert cr.pool.tiers() == [("cheap",), ("mid",), ("big1", "big2")]
    tiered = [callable_entry(n, price=p, tier=t) for n, p, t in (("x", 1e-6, 0), ("y", 1e-9, 1))]
    pool = pool_of(tiered, {"x": lambda q: "yes", "y": lambda q: "yes"})
    assert pool.tiers() == [("x",), ("y",)]


async def test_confident_cheap_voter_decides_alone() -> None:
    cr, rec = router_for(
        {"cheap": CallableReply("yes", 0.995), "mid": "no", "big1": "no", "big2": "no"}
    )
    d = await cr.decide(question())
    assert d.decided and d.key == "yes" and d.mode is Mode.CASCADE and rec.asked == ["cheap"]
    assert len(d.stages) == 1 and d.cost_usd == pytest.approx(d.votes[0].cost_usd)


async def test_low_confidence_escalates_to_the_next_tier() -> None:
    cr, rec = router_for(
        {
            "cheap": CallableReply("yes", 0.6),
            "mid": CallableReply("yes", 0.995),
            "big1": "no",
            "big2": "no",
        }
    )
    d = await cr.decide(question())
    assert rec.asked == ["cheap", "mid"] and d.decided and d.key == "yes" and d.escalated
    assert "below 0.99" in d.stages[0].tally.reason
    assert d.cost_usd == pytest.approx(sum(v.cost_usd for v in d.votes))


async def test_disagreement_escalates_to_the_full_ensemble() -> None:
    cr, rec = router_for(
        {
            "cheap": CallableReply("yes", 0.6),  # not sure enough: escalate
            "mid": CallableReply("no", 0.995),  # sure, but disagrees: escalate again
            "big1": CallableReply("no", 0.9),
            "big2": CallableReply("no", 0.9),
        }
    )
    d = await cr.decide(question())
    assert sorted(rec.asked) == ["big1", "big2", "cheap", "mid"] and len(d.stages) == 3
    assert "agreement 0.50" in d.stages[1].tally.reason
    assert d.decided and d.key == "no" and d.rule == "weighted"


async def test_lower_agreement_lets_a_confident_later_stage_stop_despite_an_early_dissent() -> None:
    answers: dict[str, str | CallableReply | None] = {
        "cheap": CallableReply("yes", 0.6),  # an unsure dissent
        "mid": CallableReply("no", 0.995),  # sure: the posterior is above 0.99
        "big1": "no",
        "big2": "no",
    }
    unanimous, asked_all = router_for(answers)  # default: every vote so far must agree
    assert len((await unanimous.decide(question())).stages) == 3
    assert sorted(asked_all.asked) == ["big1", "big2", "cheap", "mid"]
    relaxed, asked_two = router_for(answers, cascade_min_agreement=0.5)
    d = await relaxed.decide(question())
    assert d.decided and d.key == "no" and asked_two.asked == ["cheap", "mid"]
    assert len(d.stages) == 2 and d.stages[1].tally.confidence >= 0.99


async def test_abstaining_cheap_voter_escalates() -> None:
    cr, rec = router_for(
        {"cheap": "unsure", "mid": CallableReply("no", 0.99), "big1": "no", "big2": "no"}
    )
    d = await cr.decide(question())
    assert rec.asked == ["cheap", "mid"] and d.key == "no"
    assert d.votes[0].status is VoteStatus.MALFORMED


async def test_final_stage_tie_is_no_decision_with_votes() -> None:
    cr, _ = router_for({"cheap": "yes", "mid": "no", "big1": "yes", "big2": "no"})
    d = await cr.decide(question())
    assert d.outcome is Outcome.NO_DECISION and d.key is None and d.value is None
    assert len(d.votes) == 4 and "tie" in d.reason


async def test_critical_question_goes_to_all_under_quorum() -> None:
    cr, rec = router_for(
        {"cheap": CallableReply("yes", 0.999), "mid": "yes", "big1": "yes", "big2": "no"}
    )
    d = await cr.decide(question(critical=True))
    assert d.mode is Mode.CRITICAL and sorted(rec.asked) == ["big1", "big2", "cheap", "mid"]
    assert d.decided and d.rule == "quorum" and d.key == "yes"  # 3 = 2f+1 of 4


async def test_critical_question_without_quorum_is_no_decision() -> None:
    cr, _ = router_for(
        {"cheap": CallableReply("yes", 0.999), "mid": "yes", "big1": "no", "big2": None}
    )
    d = await cr.decide(question(critical=True))
    assert not d.decided and "no quorum" in d.reason and len(d.votes) == 4


async def test_critical_question_with_too_few_voters_is_refused() -> None:
    cr, rec = router_for(dict.fromkeys(["cheap", "mid", "big1", "big2"], "yes"), byzantine_f=2)
    with pytest.raises(QuorumConfigError):
        await cr.decide(question(critical=True))
    assert rec.asked == []


async def test_feedback_teaches_the_cascade_to_distrust_a_cheap_voter() -> None:
    cr, rec = router_for(
        {
            "cheap": CallableReply("yes", 0.995),
            "mid": CallableReply("no", 0.995),
            "big1": "no",
            "big2": "no",
        }
    )
    first = await cr.decide(question("q1"))
    assert first.key == "yes" and rec.asked == ["cheap"]  # trusted on its word at first
    for _ in range(6):
        cr.feedback(first, "no")  # it was wrong
    assert cr.learner.accuracy("cheap", 0.995) == pytest.approx(
        1.99 / 8
    )  # Beta(1.99, 0.01) + 6 misses
    rec.asked.clear()
    again = await cr.decide(question("q2"))
    assert rec.asked[:2] == ["cheap", "mid"] and again.key == "no"


async def test_slow_voter_in_cascade_never_blocks_past_its_deadline() -> None:
    recorder = Recorder({"cheap": CallableReply("yes", 0.6)})
    callables = {**recorder.callables(), "stuck": never_answers}
    pool = pool_of(
        [callable_entry("cheap", 1e-9), callable_entry("stuck", 1e-6, timeout=0.1)], callables
    )
    d = await ConsensusRouter(pool).decide(question())
    assert [v.status for v in d.votes] == [VoteStatus.ANSWERED, VoteStatus.TIMED_OUT]
    assert d.decided and d.key == "yes" and d.wall_s < 1.0
    assert d.overhead_s == pytest.approx(d.wall_s - sum(s.slowest_vote_s for s in d.stages))


async def test_a_monitored_router_stops_asking_a_voter_that_turned_liar() -> None:
    from patterns.consensus_router import AgreementMonitor

    entries = [*ENTRIES, callable_entry("big3", price=1e-6)]
    answers: dict[str, str | CallableReply | None] = dict.fromkeys(
        ["cheap", "mid", "big1", "big2", "big3"], "yes"
    )
    answers["big1"] = "no"  # agreed on every labelled question, disagrees from now on
    recorder = Recorder(answers)
    monitor = AgreementMonitor(dict.fromkeys(answers, 0.95), alpha=1e-3, min_questions=5)
    cr = ConsensusRouter(pool_of(entries, recorder.callables()), monitor=monitor)
    for k in range(8):
        recorder.asked.clear()
        d = await cr.decide(question(f"q{k}"), mode=Mode.ENSEMBLE)
        assert d.key == "yes"
    assert monitor.quarantined() == frozenset({"big1"})
    assert "big1" not in recorder.asked and sorted(recorder.asked) == [
        "big2",
        "big3",
        "cheap",
        "mid",
    ]
    # A critical question is still decided by a quorum of the others (4 = 3f+1 left).
    d = await cr.decide(question("c", critical=True))
    assert d.decided and [v.voter for v in d.votes if v.voter == "big1"] == []
