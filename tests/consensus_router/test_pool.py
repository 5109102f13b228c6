"""The voter pool through litellm's Router: cost accounting, deadlines, failures, abstentions."""

from __future__ import annotations

import time

import pytest

from patterns.consensus_router import (
    CallableReply,
    CallableVoter,
    ConsensusRouter,
    Mode,
    Question,
    UnknownVoterError,
    VoteStatus,
)
from tests.consensus_router.helpers import (
    callable_entry,
    mock_entry,
    never_answers,
    pool_of,
    question,
)

IN_PRICE, OUT_PRICE = 3e-6, 1.2e-5  # USD per token


async def test_cost_is_litellm_accounting_with_model_list_prices() -> None:
    pool = pool_of(
        [mock_entry("hosted", "yes", IN_PRICE, OUT_PRICE), callable_entry("rules", price=2e-9)],
        {"rules": CallableVoter(lambda q: "no", in_thread=False)},
    )
    hosted = await pool.ask("hosted", question())
    rules = await pool.ask("rules", question())
    assert hosted.status is VoteStatus.ANSWERED and hosted.key == "yes"
    assert hosted.prompt_tokens > 0 and hosted.completion_tokens > 0
    expected = hosted.prompt_tokens * IN_PRICE + hosted.completion_tokens * OUT_PRICE
    assert hosted.cost_usd == pytest.approx(expected)
    assert rules.key == "no" and rules.prompt_tokens > 0 and rules.completion_tokens == 1
    assert rules.cost_usd == pytest.approx((rules.prompt_tokens + 1) * 2e-9)


async def test_slow_voter_is_cut_at_its_deadline_and_counted() -> None:
    pool = pool_of(
        [callable_entry("fast"), callable_entry("stuck", timeout=0.2)],
        {"fast": CallableVoter(lambda q: "yes", in_thread=False), "stuck": never_answers},
    )
    started = time.perf_counter()
    decision = await ConsensusRouter(pool).decide(question(), mode=Mode.ENSEMBLE, rule="plurality")
    wall = time.perf_counter() - started
    stuck = next(v for v in decision.votes if v.voter == "stuck")
    assert stuck.status is VoteStatus.TIMED_OUT and 0.19 <= stuck.latency_s < 1.0
    assert decision.decided and decision.key == "yes" and wall < 1.0
    assert decision.stages[0].tally.abstained == 1


async def test_decision_deadline_caps_every_voter() -> None:
    pool = pool_of(
        [callable_entry("stuck", timeout=30)], {"stuck": never_answers}, decision_timeout_s=0.2
    )
    started = time.perf_counter()
    decision = await ConsensusRouter(pool).decide(question(), mode=Mode.ENSEMBLE)
    assert time.perf_counter() - started < 1.0
    assert not decision.decided and decision.votes[0].status is VoteStatus.TIMED_OUT


def _boom(q: Question) -> str:
    raise RuntimeError("classifier crashed")


async def test_failing_voter_is_a_failed_vote() -> None:
    pool = pool_of([callable_entry("broken")], {"broken": _boom})
    failed = await pool.ask("broken", question())
    assert failed.status is VoteStatus.FAILED and "classifier crashed" in (failed.error or "")


async def test_router_retries_then_falls_back_to_a_backup_deployment() -> None:
    calls: list[str] = []

    def flaky(q: Question) -> str:
        calls.append("flaky")
        raise RuntimeError("overloaded")

    backup = callable_entry("backup")
    backup["model_info"] = {
        "voter": False
    }  # shorthand of {"voter": {"enabled": False}}  # a fallback target, not a voter of its own
    pool = pool_of(
        [callable_entry("flaky"), backup],
        {"flaky": CallableVoter(flaky, in_thread=False), "backup": lambda q: "no"},
        router={"num_retries": 1, "retry_after": 0, "fallbacks": [{"flaky": ["backup"]}]},
    )
    assert [v.name for v in pool.voters] == ["flaky"]
    rescued = await pool.ask("flaky", question())
    assert rescued.status is VoteStatus.ANSWERED and rescued.key == "no"
    assert rescued.served_by == "backup" and len(calls) == 2  # the first try and one retry


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("perhaps, it depends", VoteStatus.MALFORMED),
        ("yes and no", VoteStatus.MALFORMED),
        ('{"answer": "maybe"}', VoteStatus.MALFORMED),
        (None, VoteStatus.ABSTAINED),
    ],
)
async def test_malformed_and_empty_replies_are_abstentions(
    reply: str | None, status: VoteStatus
) -> None:
    pool = pool_of(
        [callable_entry("odd"), callable_entry("a"), callable_entry("b")],
        {
            "odd": CallableVoter(lambda q: reply, in_thread=False),
            "a": CallableVoter(lambda q: "yes", in_thread=False),
            "b": CallableVoter(lambda q: CallableReply("no", 0.6), in_thread=False),
        },
    )
    decision = await ConsensusRouter(pool).decide(question(), mode=Mode.ENSEMBLE, rule="plurality")
    odd = decision.votes[0]
    assert odd.status is status and odd.key is None
    assert not decision.decided and "tie" in decision.reason  # 1 yes, 1 no: never a guess
    assert decision.stages[0].tally.abstained == 1 and decision.stages[0].tally.answered == 2


async def test_mock_model_malformed_reply_is_an_abstention() -> None:
    pool = pool_of([mock_entry("chatty", "Well, it depends on many things.", 1e-6, 1e-6)])
    vote = await pool.ask("chatty", question())
    assert vote.status is VoteStatus.MALFORMED and vote.raw and vote.cost_usd > 0


async def test_thread_voter_and_payload_reach_the_callable() -> None:
    seen: list[object] = []

    def classify(q: Question) -> CallableReply:
        seen.append(q.payload["pixels"])
        return CallableReply("yes", 0.97)

    pool = pool_of([callable_entry("clf")], {"clf": classify})
    vote = await pool.ask("clf", question(pixels=[1, 2, 3]))
    assert seen == [[1, 2, 3]] and vote.key == "yes" and vote.confidence == 0.97


def test_unknown_callable_and_voter_are_config_errors() -> None:
    with pytest.raises(UnknownVoterError, match="ghost"):
        pool_of([callable_entry("ghost")], {})
    pool = pool_of([callable_entry("a")], {"a": lambda q: "yes"})
    with pytest.raises(UnknownVoterError):
        pool.spec("b")


async def test_chain_of_thought_answer_is_extracted_and_a_miss_is_malformed() -> None:
    from patterns.consensus_router import LabelSchema

    entries = [
        mock_entry("cot", "12 + 7 is 19, then 19 + 1 = 20. The answer is 20.", 1e-6, 1e-6),
        mock_entry("rambler", "I think it is 19 or maybe 20.", 1e-6, 1e-6),
    ]
    for entry in entries:
        entry["model_info"] = {"voter": {"extract": r"answer is (\d+)"}}
    pool = pool_of(entries)
    q = Question("a1", "What is 12 + 8?", LabelSchema([str(n) for n in range(50)]))
    cot, rambler = await pool.ask_many(["cot", "rambler"], q)
    assert cot.status is VoteStatus.ANSWERED and cot.key == "20"
    assert rambler.status is VoteStatus.MALFORMED and rambler.key is None
    assert rambler.raw is not None and "maybe" in rambler.raw
