"""Test configuration: offline Prefect, one Prefect test harness per run, seeded simulations.

Seeded tests take the ``sim_seed`` fixture and are marked ``@pytest.mark.seeds(n)``;
they run once per seed. A failing seeded test prints the command that replays
it: ``make replay TEST=<node id> SEED=<seed>`` (``pytest <node id> --seed=<seed>``).
``SWARMKIT_TEST_SEED_SCALE`` multiplies every seed count (``make soak`` sets it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_HOME", str(ROOT / ".prefect"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed", type=int, default=None, help="run seeded tests with this one seed (replay)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "seeds(n): run a seeded test for n seeds (0..n-1)")


def _seed_scale() -> float:
    return float(os.environ.get("SWARMKIT_TEST_SEED_SCALE", "1"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sim_seed" not in metafunc.fixturenames:
        return
    only = metafunc.config.getoption("--seed")
    if only is not None:
        seeds = [only]
    else:
        marker = metafunc.definition.get_closest_marker("seeds")
        count = int(marker.args[0]) if marker else 10
        seeds = list(range(max(1, int(count * _seed_scale()))))
    metafunc.parametrize("sim_seed", seeds, ids=[f"seed={s}" for s in seeds])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.failed and call.when == "call" and hasattr(item, "callspec"):
        seed = item.callspec.params.get("sim_seed")
        if seed is not None:
            base = item.nodeid.split("[", 1)[0]
            report.sections.append(
                (
                    "replay",
                    f"seed={seed}; replay with: make replay TEST='{base}' SEED={seed}",
                )
            )
    return report


@pytest.fixture(scope="session", autouse=True)
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server and database for the whole test run.

    ``SWARMKIT_TEST_PREFECT_HARNESS=0`` skips it (for pytest runs nested in tests).
    """
    if os.environ.get("SWARMKIT_TEST_PREFECT_HARNESS", "1") == "0":
        yield
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
