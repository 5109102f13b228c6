"""The webhook receiver: an ASGI app (Starlette) that turns alerts into healing runs.

Every request is checked in this order, cheapest first, and answered with one status:
429 (rate limit, with Retry-After), 401 (bad or missing authentication, no detail: the
bearer token and the signature's date from the headers, the signature's MAC once the
body is read), 415 (not JSON), 413 (too large), 503 (too much in flight: only
authenticated requests count), 400 (malformed JSON), 422 (not a JSON object, or the
schema: the message names the field), then 202 (accepted, with the event or flow-run
id), 200 (a re-send whose firing alerts were all acted on already: nothing new is
started), 503 (Prefect unreachable after retries, or the deployment missing:
Alertmanager will retry) or 500 (the run could not be started for another reason; a
retry acts). Whenever no run was started, the alerts' claim is released.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Literal

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from apps.selfheal.alerts import AlertHint, validate_alert_as
from apps.selfheal.exceptions import InvalidAlertError
from deployments.webhook.guards import (
    SIGNATURE_HEADER,
    Deduper,
    RateLimiter,
    check_bearer,
    check_signature,
    signature_fresh,
)
from deployments.webhook.settings import WebhookSettings
from deployments.webhook.trigger import (
    DeploymentNotFoundError,
    Trigger,
    TriggerUnavailableError,
)

log = logging.getLogger("swarmkit.webhook")
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """Counters and a latency histogram, rendered in the Prometheus text format."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.buckets = [0] * len(LATENCY_BUCKETS_S)
        self.count = 0
        self.total_s = 0.0
        self.alerts_dropped = 0
        self.annotations_truncated = 0

    def observe(self, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] += 1
        self.count += 1
        self.total_s += seconds
        for i, bound in enumerate(LATENCY_BUCKETS_S):
            if seconds <= bound:
                self.buckets[i] += 1

    def render(self) -> str:
        lines = [
            "# HELP swarmkit_webhook_requests_total Webhook requests by outcome.",
            "# TYPE swarmkit_webhook_requests_total counter",
        ]
        lines += [
            f'swarmkit_webhook_requests_total{{outcome="{k}"}} {v}'
            for k, v in sorted(self.outcomes.items())
        ]
        lines += [
            "# HELP swarmkit_webhook_latency_seconds Time to answer a webhook request.",
            "# TYPE swarmkit_webhook_latency_seconds histogram",
        ]
        lines += [
            f'swarmkit_webhook_latency_seconds_bucket{{le="{b}"}} {n}'
            for b, n in zip(LATENCY_BUCKETS_S, self.buckets, strict=True)
        ]
        lines += [
            f'swarmkit_webhook_latency_seconds_bucket{{le="+Inf"}} {self.count}',
            f"swarmkit_webhook_latency_seconds_sum {self.total_s:.6f}",
            f"swarmkit_webhook_latency_seconds_count {self.count}",
            "# HELP swarmkit_webhook_alerts_dropped_total Alerts past MAX_ALERTS left out.",
            "# TYPE swarmkit_webhook_alerts_dropped_total counter",
            f"swarmkit_webhook_alerts_dropped_total {self.alerts_dropped}",
            "# HELP swarmkit_webhook_annotations_truncated_total Annotations cut to 16 KiB.",
            "# TYPE swarmkit_webhook_annotations_truncated_total counter",
            f"swarmkit_webhook_annotations_truncated_total {self.annotations_truncated}",
        ]
        return "\n".join(lines) + "\n"


class Receiver:
    """The webhook's state: settings, guards, trigger and metrics."""

    def __init__(
        self, settings: WebhookSettings, trigger: Trigger, token: str | None = None
    ) -> None:
        token = token or (settings.token.get_secret_value() if settings.token else None)
        secret = settings.hmac_secret.get_secret_value() if settings.hmac_secret else None
        if not token and not secret:
            raise ValueError(
                "the webhook needs a bearer token or an HMAC secret "
                "(SWARMKIT_WEBHOOK__TOKEN, SWARMKIT_WEBHOOK__HMAC_SECRET or SWARMKIT_WEBHOOK__SECRET_BLOCK)"
            )
        self.settings = settings
        self.trigger = trigger
        self._token, self._secret = token, secret
        self.limiter = RateLimiter(settings.rate_per_s, settings.burst)
        self.deduper = Deduper(settings.dedup_ttl_s)
        self.in_flight = 0
        self.metrics = Metrics()

    def _signature_valid(self, request: Request, body: bytes) -> bool:
        """Whether the signature header (found fresh by :meth:`_header_auth`) MACs ``body``."""
        return self._secret is not None and check_signature(
            self._secret,
            request.headers.get(SIGNATURE_HEADER),
            body,
            time.time(),
            self.settings.max_skew_s,
        )

    def _header_auth(self, request: Request) -> Literal["bearer", "signature"] | None:
        """Authentication from the headers alone, before the body is read.

        ``"bearer"``: authenticated; ``"signature"``: a fresh signature header whose MAC
        is checked once the body is read; None: refused.
        """
        header = request.headers.get(SIGNATURE_HEADER)
        if self._secret and header is not None:
            fresh = signature_fresh(header, time.time(), self.settings.max_skew_s)
            return "signature" if fresh else None
        if self._token and check_bearer(self._token, request.headers.get("authorization")):
            return "bearer"
        return None

    async def handle(self, request: Request, kind: Literal["alertmanager", "generic"]) -> Response:
        start = time.perf_counter()
        source = request.client.host if request.client else "unknown"
        try:
            response, outcome = await self._handle(request, kind, source)
        except Exception:  # a bug: logged with its traceback here, a short answer to the caller
            log.exception("unexpected error on %s from %s", request.url.path, source)
            response, outcome = _error(500, "internal error; see the receiver's log"), "error"
        elapsed = time.perf_counter() - start
        self.metrics.observe(outcome, elapsed)
        log.info(
            "%s %s from %s -> %d %s (%.1f ms)",
            request.method,
            request.url.path,
            source,
            response.status_code,
            outcome,
            elapsed * 1000,
        )
        return response

    async def _handle(
        self, request: Request, kind: Literal["alertmanager", "generic"], source: str
    ) -> tuple[Response, str]:
        s = self.settings
        wait = self.limiter.acquire(source)
        if wait > 0:
            return _error(
                429, "rate limit exceeded", {"Retry-After": str(max(1, int(wait + 0.999)))}
            ), "rejected_rate_limit"
        auth = self._header_auth(request)
        if auth is None:
            return _error(401, "unauthorized"), "rejected_auth"
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return _error(415, "content type must be application/json"), "rejected_content_type"
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > s.max_body_bytes:
            return _error(413, f"body larger than {s.max_body_bytes} bytes"), "rejected_too_large"
        body = bytearray()
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > s.max_body_bytes:
                    return _error(
                        413, f"body larger than {s.max_body_bytes} bytes"
                    ), "rejected_too_large"
        except ClientDisconnect:
            return _error(400, "the client went away"), "client_disconnected"
        raw = bytes(body)
        if auth == "signature" and not self._signature_valid(request, raw):
            return _error(401, "unauthorized"), "rejected_auth"
        # only authenticated requests count against MAX_IN_FLIGHT
        if self.in_flight >= s.max_in_flight:
            return _error(
                503, "too many requests in flight", {"Retry-After": "1"}
            ), "rejected_saturated"
        self.in_flight += 1
        try:
            return await self._process(raw, kind)
        finally:
            self.in_flight -= 1

    async def _process(
        self, raw: bytes, kind: Literal["alertmanager", "generic"]
    ) -> tuple[Response, str]:
        s = self.settings
        try:
            payload = json.loads(raw)
        except RecursionError:
            return _error(400, "body is not valid JSON: it nests too deeply"), "rejected_malformed"
        except ValueError:
            return _error(400, "body is not valid JSON"), "rejected_malformed"
        try:
            alert = validate_alert_as(kind, payload, s.max_alerts)
        except InvalidAlertError as err:
            return _error(422, str(err)), "rejected_schema"
        hint = alert.hint
        if hint.dropped or hint.truncated:
            self.metrics.alerts_dropped += hint.dropped
            self.metrics.annotations_truncated += hint.truncated
            log.warning(
                "alert group %s: %d alerts past MAX_ALERTS=%d dropped, %d annotations cut",
                hint.group_key[:12],
                hint.dropped,
                s.max_alerts,
                hint.truncated,
            )
        if hint.firing == 0:
            log.info(
                "resolved alert group %s recorded (%d resolved)", hint.group_key[:12], hint.resolved
            )
            return JSONResponse(
                {"status": "recorded", "triggered": False, "resolved": hint.resolved}, 202
            ), "recorded_resolved"
        ttl = s.dedup_ttl_s if hint.keyed_by_start else s.generic_window_s
        claimed, prior = self.deduper.claim_all(hint.alert_keys, ttl_s=ttl)
        if not claimed:
            return JSONResponse(
                {"status": "duplicate", self.trigger.kind: prior or None}, 200
            ), "duplicate"
        try:
            ident = await self.trigger.fire(hint, alert.payload)
        except BaseException as err:  # whatever failed, no run was started: a retry must act
            self.deduper.release(claimed)
            if not isinstance(err, Exception):
                raise
            return self._trigger_failed(hint, err)
        self.deduper.record(claimed, ident)
        answer: dict[str, object] = {
            "status": "accepted",
            self.trigger.kind: ident,
            "namespaces": hint.namespaces,
        }
        if hint.dropped:
            answer["dropped"] = hint.dropped
        return JSONResponse(answer, 202), "accepted"

    def _trigger_failed(self, hint: AlertHint, err: Exception) -> tuple[Response, str]:
        group = hint.group_key[:12]
        if isinstance(err, DeploymentNotFoundError):
            log.error("alert group %s not triggered: %s", group, err)
            return _error(
                503,
                f"deployment {err.deployment!r} does not exist on the Prefect server; deploy it "
                "or set SWARMKIT_WEBHOOK__DEPLOYMENT (retry later)",
                {"Retry-After": "30"},
            ), "misconfigured"
        if isinstance(err, TriggerUnavailableError):
            log.warning("alert group %s not triggered: %s", group, err)
            return _error(
                503, "the orchestrator is unavailable; retry later", {"Retry-After": "5"}
            ), "unavailable"
        log.error("alert group %s not triggered", group, exc_info=err)
        return _error(
            500, f"the healing run could not be started ({type(err).__name__}); retry later"
        ), "trigger_error"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status, headers=headers)


def create_app(settings: WebhookSettings, trigger: Trigger, token: str | None = None) -> Starlette:
    """The ASGI app: ``POST /hooks/alertmanager``, ``POST /hooks/generic``, ``GET /healthz``, ``GET /metrics``."""
    receiver = Receiver(settings, trigger, token)

    def hook(kind: Literal["alertmanager", "generic"]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await receiver.handle(request, kind)

        return endpoint

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "in_flight": receiver.in_flight})

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(receiver.metrics.render(), media_type="text/plain; version=0.0.4")

    app = Starlette(
        routes=[
            Route("/hooks/alertmanager", hook("alertmanager"), methods=["POST"]),
            Route("/hooks/generic", hook("generic"), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
    app.state.receiver = receiver
    return app
