"""The consensus_decide task body, Secret-block key resolution, and the demo flow run for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from prefect.blocks.system import Secret

from flows.demo_consensus import consensus_demo
from patterns.consensus_router import Mode, RouterSettings, VoteStatus
from patterns.consensus_router.demo import DEMO_MODEL_LIST, demo_callables, demo_questions
from tasks.consensus import consensus_decide, resolve_secrets

HARNESS = os.environ.get("SWARMKIT_TEST_PREFECT_HARNESS", "1") != "0"
needs_harness = pytest.mark.skipif(not HARNESS, reason="needs the session Prefect test harness")


async def test_task_body_decides_critical_question_by_quorum() -> None:
    delete_ns = next(q for q in demo_questions() if q.critical)
    decision = await consensus_decide.fn(delete_ns, DEMO_MODEL_LIST, callables=demo_callables())
    assert decision.mode is Mode.CRITICAL and decision.rule == "quorum"
    assert decision.decided and decision.key == "unsafe"
    statuses = {v.voter: v.status for v in decision.votes}
    assert statuses["slow-reviewer"] is VoteStatus.TIMED_OUT
    assert statuses["mock-large-llm"] is VoteStatus.ANSWERED
    assert decision.cost_usd == pytest.approx(sum(v.cost_usd for v in decision.votes))


@needs_harness
async def test_secret_blocks_fill_api_key_references(tmp_path: Path) -> None:
    await Secret(value="sk-from-block-424242").save("swarmkit-test-router-key", overwrite=True)
    path = tmp_path / "models.yaml"
    path.write_text(
        "model_list:\n"
        "  - model_name: hosted\n"
        "    litellm_params: {model: openai/x, api_key: secret/swarmkit-test-router-key}\n"
    )
    settings = await resolve_secrets(path, RouterSettings())
    secret = settings.api_keys["swarmkit-test-router-key"]
    assert secret.get_secret_value() == "sk-from-block-424242"
    assert "sk-from-block" not in repr(settings) and "sk-from-block" not in str(settings)


@needs_harness
async def test_demo_flow_runs_offline() -> None:
    rows = await consensus_demo(use_local_llm=False)
    by_id = {r["question"]: r for r in rows}
    assert set(by_id) == {q.id for q in demo_questions()}
    assert by_id["delete-ns"]["outcome"] == "decided" and by_id["delete-ns"]["answer"] == "unsafe"
    assert by_id["delete-ns"]["rule"] == "quorum"
    assert by_id["rollback-web"]["answer"] == "safe" and by_id["rollback-web"]["mode"] == "cascade"
    assert by_id["drain-node"]["answer"] == "unsafe"
    assert all(r["cost_usd"] > 0 and r["wall_ms"] > 0 for r in rows)
