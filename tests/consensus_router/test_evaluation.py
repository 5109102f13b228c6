"""The evaluation harness on a small labeled set with scripted voters of known accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patterns.consensus_router import (
    CallableReply,
    CallableVoter,
    Question,
    SchemaError,
    evaluate,
    load_labeled,
)
from tests.consensus_router.helpers import callable_entry, pool_of

N = 20
GOLD = ["yes" if i % 2 == 0 else "no" for i in range(N)]


def other(label: str) -> str:
    return "no" if label == "yes" else "yes"


def right(voter: str, i: int) -> bool:
    """Which questions each scripted voter gets right."""
    return {"good": i % 10 != 0, "fair": i % 4 != 1, "cheap": i % 3 != 0}[voter]


def scripted(voter: str) -> CallableVoter:
    def answer(q: Question) -> CallableReply:
        i = int(q.payload["i"])
        ok = right(voter, i)
        confidence = (0.99 if ok else 0.6) if voter == "cheap" else None
        return CallableReply(GOLD[i] if ok else other(GOLD[i]), confidence)

    return CallableVoter(answer, in_thread=False)


@pytest.fixture
def labeled(tmp_path: Path) -> Path:
    path = tmp_path / "set.jsonl"
    schema = {"type": "label", "labels": ["yes", "no"]}
    rows = [
        {
            "id": f"q{i}",
            "question": f"q{i}?",
            "schema": schema,
            "gold": GOLD[i],
            "payload": {"i": i},
        }
        for i in range(N)
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return path


async def test_report_side_by_side(labeled: Path) -> None:
    items = load_labeled(labeled)
    assert len(items) == N and items[3].gold == "no" and items[3].question.payload == {"i": 3}
    prices = {"cheap": 1e-9, "fair": 1e-7, "good": 1e-6}
    pool = pool_of(
        [callable_entry(n, price=p) for n, p in prices.items()], {n: scripted(n) for n in prices}
    )
    report = await evaluate(pool, items, dataset="scripted")
    for voter in prices:
        expected = sum(right(voter, i) for i in range(N)) / N
        assert report.arm(voter)["accuracy"] == pytest.approx(expected)
    plurality = sum(sum(right(v, i) for v in prices) >= 2 for i in range(N)) / N
    assert report.arm("plurality")["accuracy"] == pytest.approx(plurality)
    assert report.arm("majority")["accuracy"] == pytest.approx(plurality)  # 3 voters, 2 labels
    with pytest.raises(KeyError):
        report.arm("quorum")  # 3 voters < 3f+1 = 4: skipped
    per_call = {v: report.arm(v)["cost_usd"] for v in prices}
    assert report.arm("plurality")["cost_usd"] == pytest.approx(sum(per_call.values()))
    cascade = report.arm("cascade")
    assert cascade["questions"] == N and 1.0 <= cascade["calls_per_q"] < 3.0
    head = report.headline()
    assert head["best_single_error"] == pytest.approx(0.1)  # 'good'
    assert head["cascade_cost_ratio"] == pytest.approx(
        report.arm("weighted/noncritical")["cost_usd"] / cascade["cost_usd"]
    )
    assert head["cascade_cost_ratio"] > 1.0
    assert head["overhead_ms"] >= 0.0 and len(report.overhead_ms) == N
    assert "| cascade |" in report.markdown()


async def test_replayed_cascade_matches_the_live_one(labeled: Path) -> None:
    items = load_labeled(labeled)
    prices = {"cheap": 1e-9, "fair": 1e-7, "good": 1e-6}
    pool = pool_of(
        [callable_entry(n, price=p) for n, p in prices.items()], {n: scripted(n) for n in prices}
    )
    live = (await evaluate(pool, items, rules=("weighted",))).arm("cascade")
    replayed = (await evaluate(pool, items, rules=("weighted",), replay_cascade=True)).arm(
        "cascade"
    )
    for key in ("accuracy", "no_answer", "calls_per_q", "escalation_rate"):
        assert replayed[key] == live[key]
    assert replayed["cost_usd"] == pytest.approx(live["cost_usd"])


def test_bad_rows_are_schema_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    schema = {"type": "label", "labels": ["yes", "no"]}
    path.write_text(json.dumps({"question": "q", "schema": schema, "gold": "maybe"}) + "\n")
    with pytest.raises(SchemaError, match="row 0"):
        load_labeled(path)
    path.write_text("{not json\n")
    with pytest.raises(SchemaError, match="not JSON"):
        load_labeled(path)
