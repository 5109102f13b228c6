"""The local Gemma 3 270M through llama.cpp's server and litellm.Router: real prompts, real replies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from litellm import Router

from patterns.consensus_router import LabelSchema, Question, VoteStatus, local_llm
from patterns.core.exceptions import ConfigError
from tests.consensus_router.helpers import pool_of

FEW_SHOT = (
    "Review: The pasta was overcooked and the waiter was rude.\nSentiment: negative\n\n"
    "Review: Lovely view from the balcony and a very comfortable bed.\nSentiment: positive\n\n"
    "Review: {payload[text]}\nSentiment:"
)


def test_server_is_loopback_only() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        local_llm.server_command(Path("model.gguf"), host="0.0.0.0")
    with pytest.raises(ConfigError, match="loopback"):
        local_llm.LocalLLMServer(host="10.0.0.1")
    command = local_llm.server_command(Path("m.gguf"), port=9999)
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--port") + 1] == "9999"
    assert "--embeddings" not in command
    assert "--embeddings" in local_llm.server_command(Path("m.gguf"), embeddings=True)


async def test_router_embedding_of_the_real_model_is_stable_and_priced(
    local_llm_server: local_llm.LocalLLMServer,
) -> None:
    """The embedding voter's input: mean-pooled Gemma states through litellm.Router."""
    params = local_llm.embedding_params(local_llm_server.api_base, timeout_s=120)
    router = Router(model_list=[{"model_name": "embed", "litellm_params": params}], num_retries=0)
    texts = [
        "Delete namespace billing-prod and everything in it.",
        "Delete namespace billing-prod and everything in it.",
        "Lovely view from the balcony and a very comfortable bed.",
    ]
    reply = await router.aembedding(model="embed", input=texts)
    vectors = [np.asarray(d["embedding"]) for d in reply.data]
    assert len(vectors) == 3 and vectors[0].shape == vectors[2].shape and vectors[0].size >= 256
    unit = [v / np.linalg.norm(v) for v in vectors]
    same, other = float(unit[0] @ unit[1]), float(unit[0] @ unit[2])
    assert same > 0.999 and other < same - 0.01, (same, other)  # batching moves the last digits
    tokens = reply.usage.prompt_tokens
    assert tokens > 20
    cost = reply._hidden_params["response_cost"]
    assert cost == pytest.approx(tokens * local_llm.INPUT_COST_PER_TOKEN_USD)


async def test_router_completion_reaches_the_real_model(
    local_llm_server: local_llm.LocalLLMServer,
) -> None:
    """A plain litellm.Router, the model list entry the pool uses, one real completion."""
    entry = local_llm.model_entry("gemma", local_llm_server.api_base, "{question}", timeout_s=120)
    router = Router(model_list=[entry], num_retries=0)
    prompt = "Country: Italy\nCapital: Rome\n\nCountry: Spain\nCapital: Madrid\n\nCountry: France\nCapital:"
    response = await router.atext_completion(model="gemma", prompt=prompt, max_tokens=4)
    text = response.choices[0].text
    assert text.strip().split()[0].strip(".,") == "Paris", text
    assert response.usage.prompt_tokens > 20 and response.usage.completion_tokens >= 1
    assert response.model.endswith(local_llm.MODEL_ALIAS)


async def test_local_model_votes_with_token_priced_cost(
    local_llm_server: local_llm.LocalLLMServer,
) -> None:
    entry = local_llm.model_entry("gemma", local_llm_server.api_base, FEW_SHOT, timeout_s=120)
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


async def test_a_reply_outside_the_schema_is_an_abstention_not_a_crash(
    local_llm_server: local_llm.LocalLLMServer,
) -> None:
    """The real model continues a story; the yes/no schema cannot parse it: MALFORMED."""
    entry = local_llm.model_entry(
        "storyteller", local_llm_server.api_base, "Once upon a time, in a small village,"
    )
    entry["litellm_params"]["stop"] = []
    pool = pool_of([entry], max_tokens=8)
    q = Question("s1", "Safe?", LabelSchema(("yes", "no")))
    vote = await pool.ask("storyteller", q)
    assert vote.status is VoteStatus.MALFORMED, (vote.status, vote.raw)
    assert vote.raw and vote.completion_tokens == 8 and vote.key is None
