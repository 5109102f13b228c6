"""``RealCluster``: the ``Cluster`` interface over the official ``kubernetes`` client."""

from __future__ import annotations

import builtins
import datetime as dt
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import urllib3
import yaml
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from apps.k8s.actions import ApiOp, Verb
from apps.k8s.cluster import ChangeBatch, Cluster, ServiceMetrics, WatchEvent, WatchEventType
from apps.k8s.exceptions import (
    ApiForbiddenError,
    ApiTimeoutError,
    ApiUnauthorizedError,
    ApiUnavailableError,
    ConflictError,
    InvalidObjectError,
    ObjectNotFoundError,
    WatchExpiredError,
)
from apps.k8s.kinds import KINDS, METRICS_GROUP, METRICS_VERSION, Kind, kind_info
from apps.k8s.objects import KubeObject, iso_time
from apps.k8s.patching import PatchType
from apps.k8s.policy import WritePolicy
from apps.k8s.prometheus import PrometheusMetrics
from apps.k8s.settings import K8sSettings
from patterns.core.exceptions import ConfigError, SwarmError

LIST_PAGE_SIZE = 500  # objects per list request (the API's limit/continue paging)
POOL_SIZE = 16  # HTTP connections kept to the API server (one per concurrent watch)


def _status_message(body: bytes | str | None) -> str:
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return str(body)[:300]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("reason") or "")
    return ""


def map_status(status: int, body: bytes | str | None, what: str) -> SwarmError:
    """The project exception for an HTTP error status of the API server."""
    msg = f"{what}: HTTP {status}: {_status_message(body)}"
    if status in (400, 422):
        return InvalidObjectError(msg)
    if status == 401:
        return ApiUnauthorizedError(msg)
    if status == 403:
        return ApiForbiddenError(msg)
    if status == 404:
        return ObjectNotFoundError(msg)
    if status == 409:
        return ConflictError(msg)
    if status == 410:
        return WatchExpiredError(msg)
    if status == 429 or status >= 500 or status == 0:
        return ApiUnavailableError(msg)
    return InvalidObjectError(msg)


def map_transport_error(err: Exception, what: str) -> SwarmError:
    """The project exception for a transport failure (timeout, refused connection)."""
    reason = getattr(err, "reason", None)
    refused = urllib3.exceptions.NewConnectionError  # subclasses ConnectTimeoutError, oddly
    timeouts = (urllib3.exceptions.TimeoutError, TimeoutError)
    if isinstance(err, refused) or isinstance(reason, refused):
        return ApiUnavailableError(f"{what}: API server unreachable: {err}")
    if isinstance(err, timeouts) or isinstance(reason, timeouts):
        return ApiTimeoutError(f"{what}: timed out: {err}")
    return ApiUnavailableError(f"{what}: API server unreachable: {err}")


def client_from_settings(settings: K8sSettings) -> ApiClient:
    """An ``ApiClient`` from in-cluster config, an API URL + token, or a kubeconfig."""
    cfg = Configuration()
    try:
        if settings.in_cluster:
            kube_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        elif settings.api_url:
            cfg.host = settings.api_url.rstrip("/")
            cfg.verify_ssl = settings.verify_tls
            if settings.bearer_token is not None:
                cfg.api_key = {"BearerToken": settings.bearer_token.get_secret_value()}
                cfg.api_key_prefix = {"BearerToken": "Bearer"}
        elif settings.kubeconfig_content is not None:
            data = yaml.safe_load(settings.kubeconfig_content.get_secret_value())
            kube_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
                data, context=settings.context, client_configuration=cfg, persist_config=False
            )
        else:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(settings.kubeconfig) if settings.kubeconfig else None,
                context=settings.context,
                client_configuration=cfg,
                persist_config=False,
            )
    except (ConfigException, OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot configure the Kubernetes client: {err}") from err
    cfg.retries = 0  # retries belong to the caller (Prefect task retries on RetryableError)
    cfg.connection_pool_maxsize = POOL_SIZE
    return ApiClient(cfg)


class RealCluster(Cluster):
    """A real cluster: reads as the API's JSON, writes checked against an allowlist.

    Writes are server-side dry runs unless ``dry_run=False`` is passed (settings:
    ``dry_run_default``); every request of an action is checked against the
    :class:`~apps.k8s.policy.WritePolicy` before the first one is sent.
    """

    def __init__(
        self,
        api_client: ApiClient,
        settings: K8sSettings | None = None,
        policy: WritePolicy | None = None,
    ) -> None:
        self.settings = settings or K8sSettings()
        self.api = api_client
        self.policy = policy or WritePolicy.from_settings(self.settings)
        self.unread_kinds = frozenset() if self.settings.read_secrets else frozenset({Kind.SECRET})
        self.default_dry_run = self.settings.dry_run_default
        self.prometheus = (
            PrometheusMetrics(self.settings.prometheus_url, self.settings.prometheus_timeout_s)
            if self.settings.prometheus_url
            else None
        )

    @classmethod
    def from_settings(cls, settings: K8sSettings) -> RealCluster:
        """Connect as the settings say.

        Args:
            settings: ``in_cluster``, ``api_url`` + ``bearer_token``,
                ``kubeconfig_content`` or ``kubeconfig`` (tried in that order), plus the
                write allowlist, dry-run default and timeouts.

        Returns:
            A cluster whose writes are checked against the allowlist.

        Raises:
            ConfigError: the client cannot be configured.
        """
        return cls(client_from_settings(settings), settings)

    # transport ----------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        what = f"{method} {path}"
        try:
            req = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=params or None,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            resp = self.api.call_api(
                *req, _request_timeout=timeout_s or self.settings.request_timeout_s
            )
            data = resp.read()  # type: ignore[no-untyped-call]
        except ApiException as err:
            raise map_status(int(err.status or 0), err.body, what) from err
        except urllib3.exceptions.HTTPError as err:
            raise map_transport_error(err, what) from err
        if not 200 <= resp.status <= 299:
            raise map_status(resp.status, data, what)
        return json.loads(data) if data else None

    # reads --------------------------------------------------------------------------------
    def list(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> builtins.list[KubeObject]:
        """List with paging; items get ``apiVersion`` and ``kind`` as ``kubectl`` shows them."""
        items, _ = self._list_with_rv(kind, namespace, label_selector, field_selector)
        return items

    def _list_with_rv(
        self,
        kind: Kind,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[builtins.list[KubeObject], str]:
        info = kind_info(kind)
        path = info.path(namespace if info.namespaced else None)
        query: dict[str, Any] = {
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "limit": LIST_PAGE_SIZE,
        }
        items: builtins.list[KubeObject] = []
        while True:
            data = self._send("GET", path, query) or {}
            for item in data.get("items") or []:
                item.setdefault("apiVersion", info.api_version)
                item.setdefault("kind", kind.value)
                items.append(item)
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return items, str((data.get("metadata") or {}).get("resourceVersion", ""))
            query["continue"] = token

    def get(self, kind: Kind, name: str, namespace: str = "") -> KubeObject:
        """GET one object."""
        info = kind_info(kind)
        ns = (namespace or "default") if info.namespaced else None
        obj: KubeObject = self._send("GET", info.path(ns, name))
        obj.setdefault("apiVersion", info.api_version)
        obj.setdefault("kind", kind.value)
        return obj

    def pod_metrics(self, namespace: str | None = None) -> builtins.list[KubeObject]:
        """PodMetrics from metrics-server; empty if metrics.k8s.io is not served."""
        path = f"/apis/{METRICS_GROUP}/{METRICS_VERSION}"
        path += f"/namespaces/{namespace}/pods" if namespace else "/pods"
        try:
            data = self._send("GET", path) or {}
        except ObjectNotFoundError:
            return []
        items: builtins.list[KubeObject] = data.get("items") or []
        for item in items:
            item.setdefault("apiVersion", f"{METRICS_GROUP}/{METRICS_VERSION}")
            item.setdefault("kind", "PodMetrics")
        return items

    def service_metrics(self, namespace: str | None = None) -> builtins.list[ServiceMetrics]:
        """Golden signals from Prometheus; empty when no ``prometheus_url`` is configured."""
        if self.prometheus is None:
            return []
        return self.prometheus.service_metrics(namespace)

    def now_iso(self) -> str:
        """Wall-clock time, RFC 3339."""
        return iso_time(dt.datetime.now(dt.UTC))

    # watching -----------------------------------------------------------------------------
    def changes(
        self, cursor: dict[str, str] | None = None, kinds: Sequence[Kind] | None = None
    ) -> ChangeBatch:
        """List (no cursor) or watch every kind from its resourceVersion, concurrently.

        Each watch ends after ``watch_timeout_s`` (server-side ``timeoutSeconds``). A
        410 Gone for a kind lists it again and sets ``resync``.
        """
        wanted = [k for k in (kinds or KINDS) if k not in self.unread_kinds]
        if not wanted:
            return ChangeBatch([], dict(cursor or {}), resync=False)
        results: builtins.list[tuple[builtins.list[WatchEvent], str, bool]]
        with ThreadPoolExecutor(max_workers=min(len(wanted), POOL_SIZE)) as pool:
            results = list(
                pool.map(lambda k: self._changes_of(k, (cursor or {}).get(k.value)), wanted)
            )
        events = [e for evs, _, _ in results for e in evs]
        next_cursor = {k.value: rv for k, (_, rv, _) in zip(wanted, results, strict=True)}
        return ChangeBatch(events, next_cursor, resync=any(r for _, _, r in results))

    def _changes_of(
        self, kind: Kind, rv: str | None
    ) -> tuple[builtins.list[WatchEvent], str, bool]:
        if not rv:
            items, new_rv = self._list_with_rv(kind)
            return [WatchEvent(WatchEventType.ADDED, kind, o) for o in items], new_rv, False
        try:
            events, new_rv = self._watch(kind, rv)
        except WatchExpiredError:
            items, new_rv = self._list_with_rv(kind)
            return [WatchEvent(WatchEventType.ADDED, kind, o) for o in items], new_rv, True
        return events, new_rv, False

    def _watch(self, kind: Kind, rv: str) -> tuple[builtins.list[WatchEvent], str]:
        info = kind_info(kind)
        path = info.path(None)
        timeout = self.settings.watch_timeout_s
        query = {
            "watch": "true",
            "resourceVersion": rv,
            "timeoutSeconds": timeout,
            "allowWatchBookmarks": "true",
        }
        lines = self._send_stream(path, query, timeout + self.settings.request_timeout_s)
        events: builtins.list[WatchEvent] = []
        last = rv
        for line in lines:
            ev = json.loads(line)
            etype, obj = ev.get("type"), ev.get("object") or {}
            if etype == "ERROR":
                raise map_status(int(obj.get("code", 500)), json.dumps(obj), f"WATCH {path}")
            new_rv = (obj.get("metadata") or {}).get("resourceVersion")
            if new_rv:
                last = str(new_rv)
            if etype == "BOOKMARK":
                continue
            obj.setdefault("apiVersion", info.api_version)
            obj.setdefault("kind", kind.value)
            events.append(WatchEvent(WatchEventType(etype), kind, obj))
        return events, last

    def _send_stream(
        self, path: str, query: dict[str, Any], timeout_s: float
    ) -> builtins.list[bytes]:
        what = f"WATCH {path}"
        try:
            req = self.api.param_serialize(
                method="GET",
                resource_path=path,
                query_params=list(query.items()),
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            resp = self.api.call_api(*req, _request_timeout=timeout_s)
            if not 200 <= resp.status <= 299:
                body = resp.read()  # type: ignore[no-untyped-call]
                raise map_status(resp.status, body, what)
            buf = b""
            lines: builtins.list[bytes] = []
            for chunk in resp.response.stream(4096):
                buf += chunk
                *done, buf = buf.split(b"\n")
                lines += [ln for ln in done if ln.strip()]
            if buf.strip():
                lines.append(buf)
            return lines
        except ApiException as err:
            raise map_status(int(err.status or 0), err.body, what) from err
        except urllib3.exceptions.HTTPError as err:
            raise map_transport_error(err, what) from err

    # writes -------------------------------------------------------------------------------

    def _execute(self, op: ApiOp, dry_run: bool) -> KubeObject | None:
        query: dict[str, Any] = {"dryRun": "All" if dry_run else None}
        if op.verb is Verb.PATCH:
            query["fieldManager"] = self.settings.field_manager
            ptype = op.patch_type or PatchType.STRATEGIC
            out: KubeObject | None = self._send("PATCH", op.path, query, op.body, ptype.value)
            return out
        if op.verb is Verb.DELETE:
            options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
            if op.grace_period_seconds is not None:
                options["gracePeriodSeconds"] = op.grace_period_seconds
            if dry_run:
                options["dryRun"] = ["All"]
            out = self._send("DELETE", op.path, query, options)
            return out
        body = dict(op.body or {})
        if op.subresource == "eviction" and dry_run:
            body["deleteOptions"] = {**(body.get("deleteOptions") or {}), "dryRun": ["All"]}
        else:
            query["fieldManager"] = self.settings.field_manager
        out = self._send("POST", op.path, query, body)
        return out
