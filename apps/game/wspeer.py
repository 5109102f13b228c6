"""A Python peer of the world over the Yjs websocket protocol (what browsers speak).

It keeps a local pycrdt document in sync with a pycrdt-websocket room through
pycrdt's own :class:`~pycrdt.Provider` (sync step 1/2, then updates), over the
``websockets`` client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pycrdt import Doc, Provider
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from apps.game.world import WorldView, doc_snapshot, ensure_roots, read_world


class _Channel:
    """pycrdt's Channel protocol over a websockets client connection."""

    def __init__(self, ws: ClientConnection, path: str) -> None:
        self._ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> _Channel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed as err:
            raise StopAsyncIteration from err

    async def send(self, message: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(message)

    async def recv(self) -> bytes:
        msg = await self._ws.recv()
        return msg if isinstance(msg, bytes) else msg.encode()


class WebsocketPeer:
    """``async with WebsocketPeer("ws://host:port/world") as peer: ...``"""

    def __init__(self, url: str) -> None:
        self.url = url
        self.doc: Doc[Any] = Doc()
        ensure_roots(self.doc)
        self._changed = asyncio.Event()
        self._stack = contextlib.AsyncExitStack()
        self.doc.observe(lambda _e: self._changed.set())

    async def __aenter__(self) -> WebsocketPeer:
        ws = await self._stack.enter_async_context(connect(self.url, max_size=2**24))
        path = "/" + self.url.split("/", 3)[-1] if self.url.count("/") >= 3 else "/"
        await self._stack.enter_async_context(Provider(self.doc, _Channel(ws, path)))
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def view(self) -> WorldView:
        """The world as this peer sees it."""
        return read_world(doc_snapshot(self.doc))

    def edit(self, fn: Callable[[Doc[Any]], None]) -> None:
        """Run ``fn(doc)`` in one transaction; the provider ships the update."""
        with self.doc.transaction():
            fn(self.doc)

    async def wait_for(self, predicate: Callable[[WorldView], bool], timeout_s: float) -> WorldView:
        """Wait (on document changes, no polling) until ``predicate(view)`` holds."""
        async with asyncio.timeout(timeout_s):
            while True:
                view = self.view()
                if predicate(view):
                    return view
                self._changed.clear()
                await self._changed.wait()
