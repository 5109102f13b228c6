"""Request guards: authentication, per-source rate limits, bounded in-flight work, de-duplication."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

SIGNATURE_HEADER = "X-Swarmkit-Signature"  # "t=<unix seconds>,v1=<hex hmac-sha256 of '<t>.<body>'>"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` at ``timestamp`` (what a caller sends)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def _signature_parts(header: str | None) -> dict[str, str]:
    return dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)


def signature_fresh(header: str | None, now: float, max_skew_s: float) -> bool:
    """Whether a signature header is well formed and dated within ``max_skew_s`` of ``now``.

    A cheap check before the body is read; :func:`check_signature` still checks the MAC.
    """
    parts = _signature_parts(header)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    return abs(now - ts) <= max_skew_s and bool(parts.get("v1"))


def check_signature(
    secret: str, header: str | None, body: bytes, now: float, max_skew_s: float
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``max_skew_s`` of ``now``."""
    if not signature_fresh(header, now, max_skew_s):
        return False
    parts = _signature_parts(header)
    ts = int(parts["t"])
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected.encode(), parts.get("v1", "").encode(errors="replace"))


def check_bearer(token: str, header: str | None) -> bool:
    """Whether an Authorization header carries the bearer token (constant time)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].encode(), token.encode())


@dataclass
class RateLimiter:
    """A token bucket per source: ``rate`` per second, at most ``burst`` at once."""

    rate: float
    burst: int
    max_sources: int = 10000
    buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self, source: str, now: float | None = None) -> float:
        """0 when the request may go on, else the seconds to wait before retrying."""
        t = time.monotonic() if now is None else now
        with self.lock:
            tokens, last = self.buckets.pop(source, (float(self.burst), t))
            tokens = min(float(self.burst), tokens + (t - last) * self.rate)
            if tokens >= 1.0:
                self.buckets[source] = (tokens - 1.0, t)
                wait = 0.0
            else:
                self.buckets[source] = (tokens, t)
                wait = (1.0 - tokens) / self.rate
            while len(self.buckets) > self.max_sources:
                self.buckets.popitem(last=False)
            return wait


@dataclass
class Deduper:
    """Alerts already acted on, each by its identity key (bounded, each with a time to live).

    A notification is new work when at least one of its firing alerts is new; the new
    ones are claimed before the run is started and released if it could not be.
    """

    ttl_s: float
    max_entries: int = 100000
    seen: OrderedDict[str, tuple[float, str]] = field(
        default_factory=OrderedDict
    )  # (expiry, result)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Callable[[], float] = time.monotonic

    def claim(self, key: str, now: float | None = None, ttl_s: float | None = None) -> str | None:
        """None if ``key`` is new (and now claimed), else what the first request triggered."""
        new, prior = self.claim_all([key], now, ttl_s)
        return None if new else prior

    def claim_all(
        self, keys: Iterable[str], now: float | None = None, ttl_s: float | None = None
    ) -> tuple[list[str], str]:
        """Claim the keys not held yet; returns them, or ``([], what the first request triggered)``.

        A claim lasts ``ttl_s`` (default: the deduper's own) from now.
        """
        t = self.clock() if now is None else now
        ttl = self.ttl_s if ttl_s is None else ttl_s
        wanted = list(dict.fromkeys(keys))
        with self.lock:
            while self.seen and next(iter(self.seen.values()))[0] <= t:
                self.seen.popitem(last=False)
            held = {k for k in wanted if k in self.seen and self.seen[k][0] > t}
            new = [k for k in wanted if k not in held]
            if not new:
                return [], next((self.seen[k][1] for k in wanted if self.seen[k][1]), "")
            for k in new:
                self.seen.pop(k, None)
                self.seen[k] = (t + ttl, "")
            while len(self.seen) > self.max_entries:
                self.seen.popitem(last=False)
            return new, ""

    def record(self, keys: str | Iterable[str], result: str) -> None:
        """Remember what the claim of ``keys`` triggered."""
        with self.lock:
            for key in [keys] if isinstance(keys, str) else keys:
                if key in self.seen:
                    self.seen[key] = (self.seen[key][0], result)

    def release(self, keys: str | Iterable[str]) -> None:
        """Forget claims whose trigger failed (so a retry may act)."""
        with self.lock:
            for key in [keys] if isinstance(keys, str) else keys:
                self.seen.pop(key, None)
