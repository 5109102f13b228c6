"""Demo flow of pattern 5: voters behind a litellm Router decide remediation safety by consensus."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from patterns.consensus_router.demo import (
    DEMO_MODEL_LIST,
    LOCAL_LLM_PROMPTS,
    demo_callables,
    demo_questions,
)
from tasks.consensus import consensus_decide, local_llm_voters


@flow(name="consensus-demo", log_prints=True)
async def consensus_demo(use_local_llm: bool = True) -> list[dict[str, Any]]:
    """Decide each demo remediation; publish votes, decisions, cost and latency as artifacts.

    Runs offline with Python-callable voters and litellm mock models; adds local
    Gemma 3 270M voters (the real local model, installed by default) when ``use_local_llm``.
    """
    extra = local_llm_voters(LOCAL_LLM_PROMPTS) if use_local_llm else []
    callables = demo_callables()
    summaries: list[dict[str, Any]] = []
    vote_rows: list[dict[str, Any]] = []
    for question in demo_questions():
        decision = await consensus_decide(
            question, DEMO_MODEL_LIST, callables=callables, extra_models=extra
        )
        summaries.append(decision.summary())
        vote_rows += [{"question": question.id, **vote.to_row()} for vote in decision.votes]
        print(
            f"{question.id}: {decision.outcome.value} {decision.key} "
            f"({decision.reason}; {decision.cost_usd:.2e} USD, {decision.wall_s * 1000:.0f} ms)"
        )
    await acreate_table_artifact(
        key="consensus-demo-decisions",
        table=summaries,
        description="Decisions: outcome, answer, confidence, rule, cost (USD) and latency",
    )
    await acreate_table_artifact(
        key="consensus-demo-votes",
        table=vote_rows,
        description="Every vote: status (answered, malformed, timed out, failed), cost, latency",
    )
    lines = ["| question | outcome | answer | rule | cost USD | wall ms | overhead ms |"]
    lines.append("|---|---|---|---|---|---|---|")
    lines += [
        f"| {s['question']} | {s['outcome']} | {s['answer']} | {s['rule']} | "
        f"{s['cost_usd']:.2e} | {s['wall_ms']} | {s['overhead_ms']} |"
        for s in summaries
    ]
    await acreate_markdown_artifact(
        key="consensus-demo-summary",
        markdown="# Consensus on remediation safety\n\n" + "\n".join(lines) + "\n",
        description="Cascade for routine changes, Byzantine quorum for the critical one",
    )
    return summaries


if __name__ == "__main__":
    import asyncio

    for row in asyncio.run(consensus_demo()):
        print(row)
