"""The local Gemma 3 270M voter through llama.cpp's server and litellm (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from patterns.consensus_router import LabelSchema, Question, VoteStatus, local_llm
from patterns.core.exceptions import ConfigError
from tests.consensus_router.helpers import pool_of

PORT = 8765
AVAILABLE, REASON = local_llm.availability(port=PORT)
FEW_SHOT = (
    "Review: The pasta was overcooked and the waiter was rude.\nSentiment: negative\n\n"
    "Review: Lovely view from the balcony and a very comfortable bed.\nSentiment: positive\n\n"
    "Review: {payload[text]}\nSentiment:"
)


def test_server_is_loopback_only() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        local_llm.server_command(Path("model.gguf"), host="0.0.0.0")
    command = local_llm.server_command(Path("m.gguf"), port=9999)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--chat_format") + 1] == "gemma"


@pytest.mark.skipif(not AVAILABLE, reason=f"local LLM unavailable: {REASON}")
async def test_local_model_votes_with_token_priced_cost() -> None:
    with local_llm.LocalLLMServer(port=PORT) as server:
        entry = local_llm.model_entry("gemma", server.api_base, FEW_SHOT, timeout_s=120)
        pool = pool_of([entry])
        q = Question(
            "r1",
            "Sentiment?",
            LabelSchema(("positive", "negative")),
            payload={"text": "The battery dies before lunch every single day."},
        )
        vote = await pool.ask("gemma", q)
    assert vote.status is VoteStatus.ANSWERED, (vote.status, vote.raw, vote.error)
    assert vote.key == "negative" and vote.confidence is not None and 0 < vote.confidence <= 1
    expected = (
        vote.prompt_tokens * local_llm.INPUT_COST_PER_TOKEN_USD
        + vote.completion_tokens * local_llm.OUTPUT_COST_PER_TOKEN_USD
    )
    assert vote.prompt_tokens > 20 and vote.cost_usd == pytest.approx(expected)
