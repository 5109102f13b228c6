"""The browser scenario shared by the test and the benchmark: the real server, two Chromium pages, a Python peer.

The server runs as a child process (``python -m deployments.game_server``) on a free
port with its own data directory; the pages load the npm bundle it serves; the
Python peer joins the same room through :class:`apps.game.wspeer.WebsocketPeer`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from apps.game.world import WorldView, put_progress, put_rating, rating_key
from apps.game.wspeer import WebsocketPeer
from tests.e2e.procs import PY, Proc, answers, base_env, free_port, poll_until

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "apps" / "game" / "web" / "dist" / "game.js"
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
WAIT_MS = 30_000


def skip_reason() -> str | None:
    """Why the browser scenario cannot run here (None if it can)."""
    if CHROMIUM is None:
        return "chromium is not installed (make test installs Debian's chromium when it can)"
    if not BUNDLE.exists():
        return "the page bundle is not built: npm is needed (make game-web)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


def start_server(data_dir: Path) -> tuple[Proc, str]:
    """The game server on a free port; its process and base URL once the world is up."""
    port = free_port()
    env = base_env(data_dir / "prefect") | {
        "SWARMKIT_GAME__PORT": str(port),
        "SWARMKIT_GAME__DATA_DIR": str(data_dir),
    }
    proc = Proc("game-server", [PY, "-m", "deployments.game_server"], env)
    proc.wait_for("game world", timeout_s=120)
    host = f"127.0.0.1:{port}"
    # the world is ready in the app's startup, before uvicorn binds the port: wait for HTTP
    poll_until(
        lambda: answers(f"http://{host}/api/peers"),
        60,
        interval_s=0.05,
        what="the game server's HTTP port",
    )
    return proc, host


def _has(view: WorldView, key: str, stars: int) -> bool:
    return bool(view.ratings.get(key, {}).get("stars") == stars)


def _gossip_peers_hold(host: str, keys: set[str]) -> list[dict[str, Any]]:
    import httpx

    def check() -> list[dict[str, Any]] | None:
        peers: list[dict[str, Any]] = httpx.get(f"http://{host}/api/peers", timeout=5).json()
        ok = peers and all(keys <= set(p["ratings"]) and p["same_as_room"] for p in peers)
        return peers if ok else None

    return poll_until(check, 30, interval_s=0.05, what="the gossip peers to hold the ratings")


async def _ratings(page: Any) -> dict[str, Any]:
    raw = await page.evaluate("() => JSON.stringify(window.game.ratings.toJSON())")
    return {k: json.loads(v) for k, v in json.loads(raw).items()}


async def scenario(host: str, screenshot: Path | None = None, rounds: int = 10) -> dict[str, Any]:
    """Concurrent edits from two pages and the Python peer; convergence and latency."""
    from playwright.async_api import async_playwright

    url = f"http://{host}/"
    async with WebsocketPeer(f"ws://{host}/world") as py, async_playwright() as p:
        view = await py.wait_for(lambda v: len(v.levels) >= 2, 120)
        level_ids = sorted(view.levels)
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        pages = []
        for name in ("alice", "bob"):
            page = await browser.new_page(viewport={"width": 1200, "height": 760})
            await page.goto(f"{url}?player={name}")
            await page.wait_for_function(
                f"() => window.game && window.game.levelIds().length >= {len(level_ids)}",
                timeout=WAIT_MS,
            )
            pages.append(page)
        a, b = pages
        target = level_ids[0]
        # keyboard play on page A
        await a.evaluate(f"() => window.game.select({json.dumps(target)})")
        await a.locator("#board").click()
        for key in ("ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp") * 3:
            await a.keyboard.press(key)
        state = await a.locator("#state").inner_text()
        # concurrent edits: two pages click a star, the Python peer rates and records progress
        await b.evaluate(f"() => window.game.select({json.dumps(target)})")

        async def py_edit() -> None:
            def fn(doc: Any) -> None:
                put_rating(doc, target, "carol", 5, time.time())
                put_progress(doc, "carol", target, True, 42, time.time())

            py.edit(fn)

        await asyncio.gather(
            a.locator("#stars button[data-s='4']").click(),
            b.locator("#stars button[data-s='2']").click(),
            py_edit(),
        )
        want = {rating_key(target, n) for n in ("alice", "bob", "carol")}
        await py.wait_for(lambda v: want <= set(v.ratings), 30)
        js_want = json.dumps(sorted(want))
        for page in pages:
            await page.wait_for_function(
                f"() => {js_want}.every(k => window.game.ratings.has(k))", timeout=WAIT_MS
            )
        seen = [await _ratings(a), await _ratings(b), py.view().ratings]
        # ... and the Python gossip peers behind the server (QUIC) hold them too
        gossip = await asyncio.to_thread(_gossip_peers_hold, host, want)
        converged = seen[0] == seen[1] == seen[2]
        stars = {n: seen[2][rating_key(target, n)]["stars"] for n in ("alice", "bob", "carol")}
        # live update without reload: page B asks for a level, page A receives it
        before = len(await a.evaluate("() => window.game.levelIds()"))
        await b.locator("#new").click()
        await b.wait_for_function(
            "() => /accepted|no level/.test(document.getElementById('reqstatus').textContent)",
            timeout=120_000,
        )
        status = await b.locator("#reqstatus").inner_text()
        if status.startswith("accepted"):
            await a.wait_for_function(
                f"() => window.game.levelIds().length > {before}", timeout=WAIT_MS
            )
        after = len(await a.evaluate("() => window.game.levelIds()"))
        # latency: a rating made in page A until the Python peer holds it
        lat = []
        for i in range(rounds):
            lvl = level_ids[i % len(level_ids)]
            s = 1 + i % 5
            t0 = time.perf_counter()
            await a.evaluate(f"() => window.game.rate({json.dumps(lvl)}, {s})")
            key = rating_key(lvl, "alice")
            await py.wait_for(functools.partial(_has, key=key, stars=s), 30)
            lat.append((time.perf_counter() - t0) * 1000)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            await a.evaluate(f"() => window.game.select({json.dumps(target)})")
            await a.screenshot(path=str(screenshot))
        await browser.close()
    return {
        "converged": converged,
        "gossip_peers": gossip,
        "stars": stars,
        "play_state": state,
        "new_level_status": status,
        "levels_before": before,
        "levels_after": after,
        "browser_convergence_ms": statistics.median(lat),
        "latencies_ms": lat,
    }


def run(data_dir: Path, screenshot: Path | None = None, rounds: int = 10) -> dict[str, Any]:
    """Start the server, run the scenario, stop the server."""
    proc, host = start_server(data_dir)
    try:
        return asyncio.run(scenario(host, screenshot, rounds))
    except BaseException:
        print(proc.tail())
        raise
    finally:
        proc.stop()
