"""End-to-end fixtures: one real Prefect server process for the session, on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.procs import Proc, start_prefect_server


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
    proc, api, ui = start_prefect_server(home)
    try:
        yield PrefectServer(api, ui, home, proc)
    finally:
        proc.stop()
