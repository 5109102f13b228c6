"""A Kubernetes API server for tests: kmock's KubernetesEmulator served over real HTTP.

kmock's emulator stores objects as plain JSON merges. This subclass gives it the API
semantics the real backend relies on: strategic-merge, merge and JSON patches,
server-side dry run, resourceVersions, paging, the ``scale`` and ``eviction``
subresources, finite watch streams (as if ``timeoutSeconds`` expired) and 410 Gone.
kmock's request log and DSL stay available for assertions and error injection.

Patches are applied by code independent of the project's (``apps.k8s.patching``, which
the simulator uses): ``json-merge-patch`` (RFC 7386), ``jsonpatch`` (RFC 6902) and the
typed strategic merge of :mod:`tests.k8s.strategic_merge`; an unknown patch
Content-Type is 415, as on a real API server.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import attrs
import kmock
from kmock._internal import apps as kmock_apps

from apps.k8s.kinds import KINDS, Kind
from apps.k8s.objects import (
    deep_copy,
    get_path,
    matches_requirements,
    parse_selector,
)
from tests.k8s.strategic_merge import PatchError, json_merge, json_patch, strategic_merge_patch

T = TypeVar("T")
Key = tuple[str, str, str, str, str]  # group, version, plural, namespace, name


PATCHERS: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "application/strategic-merge-patch+json": strategic_merge_patch,
    "application/merge-patch+json": json_merge,
    "application/json-patch+json": json_patch,
}


def _status(code: int, reason: str, message: str) -> kmock.KubernetesError:
    return kmock.KubernetesError(status=code, reason=reason, message=message)


@attrs.define(kw_only=True)
class ApiEmulator(kmock.KubernetesEmulator):
    """KubernetesEmulator with patch types, dry run, resourceVersions and subresources."""

    db: dict[Key, dict[str, Any]] = attrs.field(factory=dict, init=False)
    log: list[tuple[int, str, Key, dict[str, Any]]] = attrs.field(factory=list, init=False)
    rv: int = attrs.field(default=100, init=False)
    log_start: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.fallback["post", re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/]+/eviction")] << (
            self._serve_eviction
        )

    async def _handle(self, request: kmock.Request) -> Any:
        # Skip KubernetesEmulator's naive JSON-merge bookkeeping; reactions, then our fallbacks.
        return await kmock_apps.RawHandler._handle(self, request)

    # storage -------------------------------------------------------------------------------
    def put(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object as if created (fills uid, resourceVersion)."""
        info = KINDS[kind]
        obj = deep_copy(obj)
        md = obj.setdefault("metadata", {})
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", kind.value)
        md.setdefault("uid", f"uid-{md['name']}")
        key = (info.group, info.version, info.plural, md.get("namespace", ""), md["name"])
        self._store(key, obj, "ADDED")
        return obj

    def put_raw(self, group: str, version: str, plural: str, obj: dict[str, Any]) -> None:
        """Store an object of any resource (e.g. metrics.k8s.io PodMetrics)."""
        md = obj["metadata"]
        self._store((group, version, plural, md.get("namespace", ""), md["name"]), obj, "ADDED")

    def find(self, kind: Kind, name: str, namespace: str = "") -> dict[str, Any] | None:
        """The stored object, or None."""
        info = KINDS[kind]
        return self.db.get((info.group, info.version, info.plural, namespace, name))

    def _store(self, key: Key, obj: dict[str, Any], etype: str) -> None:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.db[key] = obj
        self.log.append((self.rv, etype, key, deep_copy(obj)))

    def _delete(self, key: Key) -> dict[str, Any]:
        obj = self.db.pop(key)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.log.append((self.rv, "DELETED", key, deep_copy(obj)))
        return obj

    def compact(self) -> None:
        """Forget the change log (older resourceVersions now answer 410 Gone)."""
        self.log.clear()
        self.rv += 1
        self.log_start = self.rv

    @staticmethod
    def _key(request: kmock.Request, name: str | None = None) -> Key:
        res = request.resource
        assert res is not None
        return (
            res.group or "",
            res.version or "",
            res.plural or "",
            request.namespace or "",
            name if name is not None else (request.name or ""),
        )

    def _get(self, request: kmock.Request) -> tuple[Key, dict[str, Any]]:
        key = self._key(request)
        obj = self.db.get(key)
        if obj is None:
            raise _status(404, "NotFound", f'{key[2]} "{key[4]}" not found')
        return key, obj

    # verbs ---------------------------------------------------------------------------------
    async def _serve_list(self, request: kmock.Request) -> Any:
        key = self._key(request, "")
        labels = parse_selector(request.params.get("labelSelector"))
        fields = parse_selector(request.params.get("fieldSelector"))
        items = []
        for (g, v, p, ns, _), obj in sorted(self.db.items()):
            if (g, v, p) != key[:3] or (request.namespace and ns != request.namespace):
                continue
            if labels and not matches_requirements(obj["metadata"].get("labels") or {}, labels):
                continue
            if fields and not matches_requirements(
                {f: get_path(obj, f) for f, _, _ in fields}, fields
            ):
                continue
            item = deep_copy(obj)
            item.pop("apiVersion", None)  # the API omits these in list items
            item.pop("kind", None)
            items.append(item)
        start = int(request.params.get("continue", "0") or 0)
        limit = int(request.params.get("limit", "0") or 0)
        meta: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
        page = items[start : start + limit] if limit else items
        return {"apiVersion": "v1", "kind": "List", "metadata": meta, "items": page}

    async def _serve_fetch(self, request: kmock.Request) -> Any:
        if request.subresource:
            raise _status(404, "NotFound", f"subresource {request.subresource} not served")
        return self._get(request)[1]

    async def _serve_update(self, request: kmock.Request) -> Any:
        key, obj = self._get(request)
        ptype = request.headers.get("Content-Type", "").split(";")[0].strip()
        dry = request.params.get("dryRun") == "All"
        if ptype not in PATCHERS:
            raise _status(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown "
                f"format - accepted media types include: {', '.join(PATCHERS)}",
            )
        if request.subresource == "scale":
            replicas = int(request.data["spec"]["replicas"])
            new = deep_copy(obj)
            new["spec"]["replicas"] = replicas
            if not dry:
                self._store(key, new, "MODIFIED")
            return {
                "apiVersion": "autoscaling/v1",
                "kind": "Scale",
                "metadata": {"name": key[4], "namespace": key[3]},
                "spec": {"replicas": replicas},
            }
        try:
            new = PATCHERS[ptype](obj, request.data)
        except PatchError as err:  # the API server answers 422 for a patch it cannot apply
            raise _status(422, "Invalid", str(err)) from err
        if not dry:
            self._store(key, new, "MODIFIED")
        return new

    async def _serve_create(self, request: kmock.Request) -> Any:
        obj = deep_copy(request.data)
        name = obj["metadata"]["name"]
        key = self._key(request, name)
        if key in self.db:
            raise _status(409, "AlreadyExists", f'{key[2]} "{name}" already exists')
        obj["metadata"].setdefault("namespace", request.namespace)
        obj["metadata"]["uid"] = f"uid-{name}-{self.rv}"
        if request.params.get("dryRun") != "All":
            self._store(key, obj, "ADDED")
        return obj

    async def _serve_delete(self, request: kmock.Request) -> Any:
        key, obj = self._get(request)
        options = request.data if isinstance(request.data, dict) else {}
        if request.params.get("dryRun") == "All" or options.get("dryRun") == ["All"]:
            return obj
        return self._delete(key)

    async def _serve_eviction(self, request: kmock.Request) -> Any:
        key, _ = self._get(request)
        if ((request.data or {}).get("deleteOptions") or {}).get("dryRun") != ["All"]:
            self._delete(key)
        return {"apiVersion": "v1", "kind": "Status", "status": "Success", "code": 201}

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        yield b""
        since = int(request.params.get("resourceVersion", "0") or 0)
        if since < self.log_start:
            yield {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "code": 410,
                    "reason": "Expired",
                    "message": f"too old resource version: {since} ({self.log_start})",
                },
            }
            return
        target = self._key(request, "")[:3]
        for rv, etype, key, obj in list(self.log):
            if rv > since and key[:3] == target:
                yield {"type": etype, "object": obj}
        yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": str(self.rv)}}}


class ApiServer:
    """Runs an :class:`ApiEmulator` (or a plain kmock handler) on loopback in its own thread."""

    def __init__(self, handler_factory: Callable[[], kmock.RawHandler] = ApiEmulator) -> None:
        self._factory = handler_factory
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.handler: Any = None
        self._server: kmock.Server | None = None
        self.gate: asyncio.Event | None = None
        self.url = ""

    def __enter__(self) -> ApiServer:
        self._thread.start()
        self.call(self._start)
        return self

    async def _start(self) -> None:
        self.handler = self._factory()
        await self.handler.__aenter__()
        self._server = kmock.Server(self.handler)
        await self._server.__aenter__()
        self.gate = asyncio.Event()
        self.url = str(self._server.url).rstrip("/")

    async def _stop(self) -> None:
        assert self.gate is not None and self._server is not None
        self.gate.set()
        await asyncio.sleep(0)  # let held requests finish (no wall-clock wait)
        await self._server.__aexit__(None, None, None)
        await self.handler.__aexit__(None, None, None)

    def __exit__(self, *exc: object) -> None:
        self.call(self._stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (sync or async) in the server's event loop and return its result."""

        async def runner() -> Any:
            out = fn()
            if asyncio.iscoroutine(out):
                out = await out
            return out

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(timeout=30)

    def requests(self) -> list[kmock.Request]:
        """Every request the server received so far, in order."""
        return self.call(lambda: list(self.handler))

    def writes(self) -> list[kmock.Request]:
        """The requests that were not GETs."""
        return [r for r in self.requests() if r.method.value != "GET"]

    def react(self, criteria: Any, payload: Any) -> None:
        """Add a kmock reaction (error injection) in the server's loop."""

        def add() -> None:
            self.handler[criteria] << payload

        self.call(add)

    def hold(self, criteria: Any) -> None:
        """Make matching requests hang until the server stops (to provoke client timeouts)."""

        def add() -> None:
            assert self.gate is not None
            self.handler[criteria] << self.gate.wait

        self.call(add)


def iter_lines(data: bytes) -> Iterator[bytes]:
    """Non-empty lines of a body."""
    return (ln for ln in data.split(b"\n") if ln.strip())
