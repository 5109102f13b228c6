"""Request guards: authentication, per-source rate limits, bounded in-flight work, de-duplication."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

SIGNATURE_HEADER = "X-Swarmkit-Signature"  # "t=<unix seconds>,v1=<hex hmac-sha256 of '<t>.<body>'>"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` at ``timestamp`` (what a caller sends)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def check_signature(
    secret: str, header: str | None, body: bytes, now: float, max_skew_s: float
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` at a time within ``max_skew_s`` of ``now``."""
    if not header:
        return False
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - ts) > max_skew_s:
        return False
    expected = sign(secret, body, ts).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


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
    """Alert groups already acted on (bounded, with a time to live)."""

    ttl_s: float
    max_entries: int = 100000
    seen: OrderedDict[str, tuple[float, str]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, key: str, now: float | None = None) -> str | None:
        """None if ``key`` is new (and now claimed), else what the first request triggered."""
        t = time.monotonic() if now is None else now
        with self.lock:
            while self.seen and next(iter(self.seen.values()))[0] < t - self.ttl_s:
                self.seen.popitem(last=False)
            if key in self.seen:
                return self.seen[key][1]
            self.seen[key] = (t, "")
            while len(self.seen) > self.max_entries:
                self.seen.popitem(last=False)
            return None

    def record(self, key: str, result: str) -> None:
        """Remember what ``key`` triggered."""
        with self.lock:
            if key in self.seen:
                self.seen[key] = (self.seen[key][0], result)

    def release(self, key: str) -> None:
        """Forget a claim whose trigger failed (so a retry may act)."""
        with self.lock:
            self.seen.pop(key, None)
