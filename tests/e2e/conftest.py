"""End-to-end fixtures: one real Prefect server process for the module, on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.procs import PY, Proc, base_env, free_port, poll_until


@dataclass
class PrefectServer:
    """A running ``prefect server start`` and where it keeps its state."""

    url: str
    ui: str
    home: Path
    proc: Proc


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    prefect = str(Path(PY).with_name("prefect"))
    proc = Proc(
        "prefect-server",
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        base_env(home) | {"PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api"},
    )
    try:
        proc.wait_for("Check out the dashboard", timeout_s=120)
        poll_until(lambda: _healthy(port), 60, what="the Prefect server's /api/health")
        yield PrefectServer(f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{port}", home, proc)
    finally:
        proc.stop()


def _healthy(port: int) -> bool | None:
    try:
        return (
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200 or None
        )
    except httpx.HTTPError:
        return None
