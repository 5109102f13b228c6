"""The game's web server: the page, the shared world over the Yjs websocket protocol, level requests.

``python -m deployments.game_server`` (``make game``) serves, on ``SWARMKIT_GAME__HOST``
and ``SWARMKIT_GAME__PORT``:

* ``GET /``: the page (``apps/game/web/index.html``) and ``/dist/game.js``, the bundle
  of yjs + y-websocket that ``make game-web`` builds with npm and esbuild;
* ``ws://.../<room>``: the world document through pycrdt-websocket (standard Yjs sync
  protocol); browsers and Python peers (:class:`apps.game.wspeer.WebsocketPeer`) join it;
* ``POST /api/levels?player=NAME``: a personalized level, generated, voted on by the
  five voters and, if accepted, written into the world (it reaches every page through
  the CRDT);
* ``GET /api/health``: counts; ``GET /api/peers``: what each Python gossip peer holds.

With ``SWARMKIT_GAME__GOSSIP_PEERS=n`` (3 by default) the server also runs ``n`` Python
peers replicating the world by pattern-3 gossip over QUIC (mutual TLS, loopback; the
cluster CA under ``data_dir/certs``); peer 0 is bridged to the websocket room
(:class:`apps.game.bridge.RoomBridge`), so browser and gossip peers share one world.

The world is saved under ``data_dir`` (one Yjs update) every few seconds and on exit,
and reloaded at start. Ratings made in pages are stored into LanceDB memory, where
the bandit learns from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from pycrdt import Doc
from pycrdt.websocket import ASGIServer, WebsocketServer, YRoom, exception_logger
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from apps.game.bridge import RoomBridge, doc_fingerprint
from apps.game.exceptions import GameError
from apps.game.service import GameService
from apps.game.settings import GameSettings, get_game_settings
from apps.game.world import ROOTS, WorldView, doc_snapshot, ensure_roots, read_world
from patterns.byzantine.local import stop_runtime
from patterns.core.cli import SETTINGS_ERRORS, report_settings_error
from patterns.gossip import GossipNode, GossipSettings, gossip_codec
from patterns.net.quic import QuicCluster

log = logging.getLogger("swarmkit.game")
WEB_DIR = Path(__file__).resolve().parent.parent / "apps" / "game" / "web"
SAVE_EVERY_S = 5.0
LEARN_EVERY_S = 0.5
ROOM_NOT_FOUND = 4404  # websocket close code for a path that is not the world room
SEED_LEVELS = 3  # levels made at start when the world is empty

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class GameServer:
    """The world document, its websocket room and the game service, for one process."""

    def __init__(self, settings: GameSettings | None = None) -> None:
        self.settings = settings or get_game_settings()
        self.data_dir = Path(self.settings.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.doc: Doc[Any] = Doc()
        ensure_roots(self.doc)
        self._load()
        self.ws = WebsocketServer(
            rooms_ready=True, auto_clean_rooms=False, exception_handler=exception_logger, log=log
        )
        self.room_path = f"/{self.settings.room}"
        self.known: set[str] = set(self.view().levels)  # read on the loop, used by voter threads
        self.service = GameService(self.settings, lambda: self.known)
        self.quic: QuicCluster[GossipNode] | None = None
        self.bridge: RoomBridge | None = None
        self._sync_pending = False
        self.app = self._build()

    # -- the world ---------------------------------------------------------------------------
    @property
    def save_path(self) -> Path:
        """Where the world is saved."""
        return self.data_dir / f"{self.settings.room}.ydoc"

    def _load(self) -> None:
        if self.save_path.exists():
            data = self.save_path.read_bytes()
            try:
                self.doc.apply_update(data)
            except Exception as err:  # keep the file: a person may want it back
                bad = self.save_path.with_suffix(".unreadable")
                self.save_path.rename(bad)
                log.error("world file unreadable (%s); kept as %s, starting empty", err, bad)

    def save(self) -> None:
        """Write the whole world atomically."""
        self._write(self.doc.get_update())

    def view(self) -> WorldView:
        """The world as plain Python."""
        return read_world(doc_snapshot(self.doc))

    # -- HTTP --------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(WEB_DIR / "index.html")

    async def health(self, request: Request) -> Response:
        view = self.view()
        return JSONResponse(
            {
                "levels": len(view.levels),
                "ratings": len(view.ratings),
                "votes": len(view.votes),
                "bundle": (WEB_DIR / "dist" / "game.js").exists(),
                "room": self.room_path,
            }
        )

    async def peers(self, request: Request) -> Response:
        out = []
        if self.quic is not None:
            room_fp = doc_fingerprint(self.doc)
            for nid, node in sorted(self.quic.nodes.items()):
                view = read_world(node.snapshot())
                out.append(
                    {
                        "node": nid,
                        "levels": len(view.levels),
                        "ratings": {k: r.get("stars") for k, r in view.ratings.items()},
                        "same_as_room": node.fingerprint == room_fp,
                    }
                )
        return JSONResponse(out)

    # -- gossip peers --------------------------------------------------------------------------
    async def _start_gossip(self) -> None:
        n = self.settings.gossip_peers
        cfg = GossipSettings()
        nodes = [GossipNode(i, range(n), settings=cfg, roots=ROOTS) for i in range(n)]
        self.quic = QuicCluster(nodes, gossip_codec(), self.data_dir / "certs")
        await self.quic.start()
        hub = self.quic.runtimes[0]
        self.bridge = RoomBridge(self.doc, hub.call)
        hub.add_listener(self._schedule_sync)
        self.doc.observe(lambda _e: self._schedule_sync())
        self._schedule_sync()
        log.info("%d gossip peers over QUIC, peer 0 bridged to the room", n)

    def _schedule_sync(self) -> None:
        # Never sync inside a transaction's observer: run once, soon, on the loop.
        if self._sync_pending or self.bridge is None:
            return
        self._sync_pending = True
        asyncio.get_running_loop().call_soon(self._sync)

    def _sync(self) -> None:
        self._sync_pending = False
        if self.bridge is not None and self.quic is not None and 0 in self.quic.alive:
            try:
                self.bridge.sync()
            except Exception:
                log.exception("bridge sync failed")

    async def _stop_gossip(self) -> None:
        if self.quic is not None:
            self.bridge = None
            for rt in self.quic.runtimes.values():
                await stop_runtime(rt)

    async def request_level(self, request: Request) -> Response:
        player = request.query_params.get("player", "")
        raw = request.query_params.get("difficulty")
        try:
            difficulty = float(raw) if raw else None
            if difficulty is not None and not 0 <= difficulty <= 1:
                raise ValueError("difficulty must be in 0..1")
            offer = await anyio.to_thread.run_sync(self.service.offer, player, difficulty)
        except (GameError, ValueError) as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        offer.apply(self.doc)
        self.known.update(self.view().levels)
        return JSONResponse(
            {
                "accepted": offer.accepted,
                "level": offer.record.get("id"),
                "votes": [v.to_dict() for v in offer.verdicts],
            }
        )

    def _build(self) -> ASGIApp:
        routes: list[Route | Mount] = [
            Route("/", self.index),
            Route("/api/health", self.health),
            Route("/api/peers", self.peers),
            Route("/api/levels", self.request_level, methods=["POST"]),
        ]
        dist = WEB_DIR / "dist"
        if dist.is_dir():
            routes.append(Mount("/dist", StaticFiles(directory=dist), name="dist"))
        else:
            routes.append(
                Route(
                    "/dist/game.js",
                    lambda r: PlainTextResponse(
                        "document.body.innerHTML='<pre>the page bundle is not built: run make game-web</pre>'",
                        media_type="text/javascript",
                    ),
                )
            )
        http = Starlette(routes=routes, lifespan=self._lifespan)
        sockets = ASGIServer(self.ws)

        async def app(
            scope: Scope,
            receive: Callable[[], Awaitable[Any]],
            send: Callable[[Any], Awaitable[None]],
        ) -> None:
            if scope["type"] == "websocket":
                if scope["path"] != self.room_path:  # only the world room exists
                    await receive()  # websocket.connect
                    await send({"type": "websocket.close", "code": ROOM_NOT_FOUND})
                    return
                await sockets(dict(scope), receive, send)
            else:
                await http(scope, receive, send)

        return app

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        async with self.ws:
            room = YRoom(ready=True, ydoc=self.doc, exception_handler=exception_logger, log=log)
            self.ws.rooms[self.room_path] = room
            await self.ws.start_room(room)
            if self.settings.gossip_peers:
                await self._start_gossip()
            tasks = [asyncio.create_task(self._every(SAVE_EVERY_S, self._save_soon))]
            tasks.append(asyncio.create_task(self._every(LEARN_EVERY_S, self._learn)))
            if not self.view().levels and os.environ.get("SWARMKIT_GAME_SEED_LEVELS", "1") != "0":
                tasks.append(asyncio.create_task(self._seed()))
            log.info("game world %s ready", self.room_path)
            try:
                yield
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._stop_gossip()
                self.save()
                self.service.close()

    async def _every(self, period_s: float, fn: Callable[[], Awaitable[None] | None]) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                result = fn()
                if result is not None:
                    await result
            except Exception:
                log.exception("periodic %s failed", getattr(fn, "__name__", fn))

    async def _save_soon(self) -> None:
        # Encode on the loop (the document's thread), write the file in a worker thread.
        data = self.doc.get_update()
        await anyio.to_thread.run_sync(self._write, data)

    def _write(self, data: bytes) -> None:
        tmp = self.save_path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(self.save_path)

    async def _learn(self) -> None:
        view = self.view()  # read on the loop; memory writes in a worker thread
        self.known.update(view.levels)
        if view.ratings:
            new = await anyio.to_thread.run_sync(self.service.learn, view)
            if new:
                log.info("stored %d new ratings in memory", new)

    async def _seed(self) -> None:
        for i in range(SEED_LEVELS):
            offer = await anyio.to_thread.run_sync(self.service.offer, "welcome", 0.2 + 0.3 * i)
            offer.apply(self.doc)
            self.known.update(self.view().levels)


def main() -> None:
    """Serve the game on the configured host and port."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        server = GameServer()
    except SETTINGS_ERRORS as err:  # one line per bad SWARMKIT_GAME__ variable, exit 2
        raise SystemExit(report_settings_error(err)) from None
    s = server.settings
    print(
        f"game: http://{s.host}:{s.port}/ (world room {server.room_path}, data in {s.data_dir})",
        flush=True,
    )
    uvicorn.run(server.app, host=s.host, port=s.port, log_level="warning", ws="websockets-sansio")


if __name__ == "__main__":
    main()
