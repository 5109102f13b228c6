"""A text-completion voter's calls reuse one connection of the pool's (litellm opens one per call)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from patterns.consensus_router import LabelSchema, Question, VoterPool, VoteStatus, parse_model_list
from patterns.consensus_router.pool import _shared_client_params

REPLY = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "m",
    "choices": [{"text": " yes", "index": 0, "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
}


def _entry(name: str, model: str, api_base: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"model": model, "api_key": "sk-test"}
    if api_base is not None:
        params["api_base"] = api_base
    return {"model_name": name, "litellm_params": params}


def test_only_single_text_completion_deployments_without_fallbacks_share_a_client() -> None:
    base = "http://127.0.0.1:1/v1"
    entries = [
        _entry("text", "text-completion-openai/m", base),
        _entry("chat", "openai/m", base),  # litellm keeps its own clients for chat models
        _entry("no-base", "text-completion-openai/m", None),
        _entry("balanced", "text-completion-openai/m", base),
        _entry("balanced", "text-completion-openai/m", "http://127.0.0.1:2/v1"),
    ]
    shared = _shared_client_params(entries, {})
    assert set(shared) == {"text"}
    assert shared["text"] == {"base_url": base, "api_key": "sk-test"}
    # a fallback would carry the client to another deployment: nothing is shared then
    assert _shared_client_params(entries, {"fallbacks": [{"text": ["chat"]}]}) == {}


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[int]]]:
    ports: list[int] = []  # the client port of every request: one per connection

    async def completions(request: web.Request) -> web.Response:
        await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        ports.append(peer[1] if peer else -1)
        return web.json_response(REPLY)

    app = web.Application()
    app.router.add_post("/v1/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/v1", ports
    await runner.cleanup()


async def test_calls_reuse_one_connection_until_the_pool_is_closed(
    server: tuple[str, list[int]],
) -> None:
    base, ports = server
    entry = _entry("local", "text-completion-openai/m", base)
    entry["litellm_params"]["input_cost_per_token"] = 1e-6
    entry["litellm_params"]["output_cost_per_token"] = 2e-6
    pool = VoterPool(parse_model_list({"model_list": [entry]}))
    q = Question("q1", "Safe?", LabelSchema(("yes", "no")))
    votes = [await pool.ask("local", q) for _ in range(3)]
    assert all(v.status is VoteStatus.ANSWERED and v.key == "yes" for v in votes)
    assert votes[0].cost_usd == pytest.approx(7 * 1e-6 + 1 * 2e-6)  # litellm still prices it
    assert len(ports) == 3 and len(set(ports)) == 1
    await pool.aclose()
    assert (await pool.ask("local", q)).key == "yes"  # a new client, a new connection
    assert len(set(ports)) == 2
    await pool.aclose()
