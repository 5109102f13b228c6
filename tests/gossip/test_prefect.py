"""The gossip task body and the demo flow, run for real under the Prefect test harness."""

from __future__ import annotations

import asyncio
import re

import pytest
from prefect.client.orchestration import get_client

from flows.demo_gossip import gossip_demo
from patterns.core.exceptions import ConfigError
from patterns.gossip import Edit, EditOp, demo_edits
from tasks.gossip import gossip_sync


def expected_document(edits: list[Edit]) -> tuple[dict[str, float], list[str], list[str]]:
    keys: dict[str, float] = {}
    items: list[str] = []
    tokens: list[str] = []
    for e in sorted(edits, key=lambda e: e.at_s):
        if e.op is EditOp.SET:
            keys[e.key] = float(e.value)
        elif e.op is EditOp.DELETE:
            keys.pop(e.key, None)
        elif e.op is EditOp.APPEND:
            items.append(e.value)
        elif e.op is EditOp.INSERT_TEXT:
            tokens.append(e.value)
    return keys, sorted(items), sorted(tokens)


def test_task_body_replicates_concurrent_edits_under_loss() -> None:
    edits = demo_edits(12, writers=4, edits_per_writer=5, seed=3)
    report = gossip_sync.fn(12, edits, seed=3, loss=0.3, duplicate=0.1, reorder=0.2)
    keys, items, tokens = expected_document(edits)
    assert report.converged and report.nodes == 12 and report.edits == len(edits)
    assert report.document["map"] == keys
    assert sorted(report.document["array"]) == items
    assert sorted(re.findall(r"\[[^\]]*\]", report.document["text"])) == tokens
    assert all(row["equal"] == "yes" for row in report.per_node)
    assert int(report.details["lost_messages"]) > 0  # the loss happened
    assert report.rounds_per_node > 10 and report.messages > 0 and report.bytes > 0
    assert report.timeline[-1][1] == 12  # every node ends holding the final document


def test_task_accepts_edits_as_plain_dicts_and_refuses_bad_ones() -> None:
    report = gossip_sync.fn(
        3,
        [
            {"node": 1, "op": "set", "key": "a", "value": "b"},
            {"node": 2, "op": "append", "value": 1},
        ],
    )
    assert report.document == {"map": {"a": "b"}, "array": [1.0], "text": ""}
    with pytest.raises(ConfigError, match=r"outside 0\.\.2"):
        gossip_sync.fn(3, [{"node": 3, "op": "set", "key": "a"}])
    with pytest.raises(ConfigError, match="invalid"):
        gossip_sync.fn(3, [{"node": 0, "op": "explode"}])
    with pytest.raises(ConfigError, match="nodes must be in"):
        gossip_sync.fn(0, [])


def test_demo_flow_runs_and_publishes_artifacts() -> None:
    report = gossip_demo(nodes=10, writers=3, edits_per_writer=4, seed=2, loss=0.2)
    assert report.converged and len(report.per_node) == 10

    async def artifacts() -> dict[str, str]:
        async with get_client() as client:
            arts = await client.read_artifacts()
        return {a.key: str(a.data) for a in arts if a.key}

    found = asyncio.run(artifacts())
    assert {"gossip-demo-summary", "gossip-demo-nodes"} <= set(found)
    assert "converged" in found["gossip-demo-summary"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"at_s": float("nan")}, "at_s=nan must be a finite"),  # used to grow memory forever
        ({"at_s": float("inf")}, "at_s=inf must be a finite"),
        ({"value": 2**70}, "does not fit in 64 bits"),  # a pycrdt panic, not an Exception
        ({"value": float("nan")}, "nan is not a finite number"),  # a false 'deletion lost'
        ({"value": {1, 2}}, "of type set is not JSON-like"),
        ({"value": {"a": [1, {2: 3}]}}, "non-string key 2"),
    ],
)
def test_edits_a_document_cannot_hold_are_refused_naming_the_field(
    edit: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        gossip_sync.fn(3, [{"node": 0, "op": "set", "key": "a", "value": 1, **edit}])


def test_an_edit_after_the_run_ends_is_refused_not_dropped() -> None:
    from patterns.gossip import replicate

    with pytest.raises(ConfigError, match=r"at_s=1000\.0 is at or after max_time_s=600"):
        replicate(3, [{"node": 0, "op": "set", "key": "a", "value": 1, "at_s": 1000.0}])
