"""The Prefect UI of a real server, in headless Chromium: a healing run's artifacts render.

Uses Debian's ``chromium`` (``make test`` installs it when it can) through Playwright's
Python driver, which launches that binary; no browser is downloaded.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import PrefectServer
from tests.e2e.procs import PY, Proc, base_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUN = textwrap.dedent(
    """
    import sys
    from flows.self_healing import self_healing
    state = self_healing(scenario="bad-image-tag", memory_dir=sys.argv[1], return_state=True)
    print("FLOW-RUN", state.state_details.flow_run_id, state.type.value, flush=True)
    """
)


def healing_run(server: PrefectServer, tmp: Path) -> str:
    """Run the self-healing flow against the server; its flow-run id."""
    proc = Proc("flow", [PY, "-c", RUN, str(tmp / "memory")], base_env(server.home, server.url))
    try:
        line = proc.wait_for("FLOW-RUN", timeout_s=180)
    finally:
        proc.stop()
    _, run_id, state = line.split()
    assert state == "COMPLETED", proc.tail()
    return run_id


def check_artifacts_in_browser(ui: str, run_id: str, shots: Path) -> dict[str, float]:
    """Open the run in the UI, its artifacts, the MTTR plot and the incident table; screenshots."""
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    seen = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{ui}/runs/flow-run/{run_id}", wait_until="networkidle")
        page.get_by_text("Artifacts", exact=True).first.click()
        for key in ("selfheal-incidents", "selfheal-mttr", "selfheal-votes", "selfheal-health"):
            page.get_by_text(key, exact=True).wait_for(timeout=20000)
            seen += 1
        page.screenshot(path=str(shots / "run-artifacts.png"), full_page=True)
        page.get_by_text("selfheal-mttr", exact=True).click()
        img = page.locator("img[alt='Time to recover across runs']")
        img.wait_for(timeout=20000)
        width, complete = img.evaluate("e => [e.naturalWidth, e.complete]")
        assert complete and width > 100, "the MTTR plot did not render"
        page.screenshot(path=str(shots / "mttr-plot.png"), full_page=True)
        page.go_back(wait_until="networkidle")
        page.get_by_text("Artifacts", exact=True).first.click()
        page.get_by_text("selfheal-incidents", exact=True).click()
        page.get_by_text("healed", exact=True).first.wait_for(timeout=20000)
        page.get_by_text("bad_rollout: Deployment shop/checkout").first.wait_for(timeout=20000)
        page.screenshot(path=str(shots / "incident-table.png"), full_page=True)
        browser.close()
    return {"ui_artifacts_seen": float(seen)}


@pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it as root)"
)
def test_the_ui_shows_the_healing_runs_artifacts(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    run_id = healing_run(prefect_server, tmp_path)
    figures = check_artifacts_in_browser(prefect_server.ui, run_id, tmp_path / "shots")
    assert figures["ui_artifacts_seen"] >= 2
    assert (tmp_path / "shots" / "mttr-plot.png").stat().st_size > 10000
