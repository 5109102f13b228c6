"""Mergeable aggregates: each associative and commutative, with an identity.

A :class:`Summary` bundles what one subtree of agents reports: count, sum,
mean, min, max and variance (:class:`Moments`, merged with Chan, Golub &
LeVeque's parallel update, 1979), a fixed-bucket :class:`Histogram`, a
:class:`DDSketch` quantile sketch (Masson, Rim & Lee, VLDB 2019: every
quantile within relative error ``alpha``), a :class:`HyperLogLog`
distinct-count sketch (Flajolet et al., AofA 2007: standard error
1.04/sqrt(2^p)) and :class:`TopK`. Which parts are present, and their
parameters, come from an :class:`AggregateSpec`; merging summaries built
from different specs raises :class:`SketchMismatchError`.

All aggregates are msgspec Structs, so a summary travels on the wire as is.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Iterable
from typing import Protocol, Self, TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

from patterns.aggregation.exceptions import InvalidValueError, SketchMismatchError

DEFAULT_ALPHA = 0.01  # DDSketch relative accuracy
DEFAULT_MAX_BINS = 4096  # DDSketch bins kept per sign before collapsing the lowest
DEFAULT_HLL_P = 12  # 4096 registers, standard error 1.6%
DEFAULT_TOPK = 10
_U64 = (1 << 64) - 1
MAX_ABS_VALUE = 1e150
"""Largest magnitude an agent may report: beyond it the variance's squares (and the sums of
many such values) overflow to infinity, so a summary would be silently wrong."""


def value_problem(value: float) -> str | None:
    """Why ``value`` cannot be aggregated (None: it can)."""
    if not math.isfinite(value):
        return "is not a finite number"
    if abs(float(value)) > MAX_ABS_VALUE:  # float(): a numpy float32 would overflow comparing
        return f"is beyond ±{MAX_ABS_VALUE:g}, where sums of squares overflow"
    return None


def values_problem(values: npt.NDArray[np.float64]) -> str | None:
    """Why an array of agent values cannot be aggregated (None: it can)."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(values) <= MAX_ABS_VALUE)  # NaN compares False: caught too
    if not bad.any():
        return None
    idx = int(np.flatnonzero(bad)[0])
    return (
        f"{int(bad.sum())} agent value(s) are NaN, infinite or beyond ±{MAX_ABS_VALUE:g} "
        f"(first: agent {idx} = {values[idx]})"
    )


class Moments(msgspec.Struct, frozen=True, array_like=True):
    """Count, sum, mean, min, max and the sum of squared deviations (``m2``)."""

    count: int = 0
    total: float = 0.0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, value: float) -> Moments:
        """The moments of one value."""
        return cls(1, value, value, 0.0, value, value)

    def merge(self, other: Moments) -> Moments:
        """Chan et al.'s pairwise update: exact for count/min/max, stable for mean/variance."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return Moments(
            n,
            self.total + other.total,
            mean,
            m2,
            min(self.min, other.min),
            max(self.max, other.max),
        )

    @property
    def variance(self) -> float:
        """Population variance (0 for fewer than two values)."""
        return self.m2 / self.count if self.count > 1 else 0.0

    def check(self) -> None:
        """Raise :class:`InvalidValueError` if the moments are not a valid summary."""
        if self.count < 0:
            raise InvalidValueError(f"negative count {self.count}")
        if self.count and not all(
            math.isfinite(v) for v in (self.total, self.mean, self.m2, self.min, self.max)
        ):
            raise InvalidValueError("moments hold a NaN or infinite value")
        if self.count and (self.m2 < -1e-9 * max(1.0, abs(self.m2)) or self.min > self.max):
            raise InvalidValueError("inconsistent moments (negative m2 or min > max)")


class HistogramSpec(msgspec.Struct, frozen=True, array_like=True):
    """Equal-width buckets on ``[lo, hi)`` plus one underflow and one overflow bucket."""

    lo: float = 0.0
    hi: float = 1.0
    buckets: int = 32

    def check(self) -> None:
        """Raise :class:`InvalidValueError` for an empty or non-finite range."""
        if not (math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < self.hi):
            raise InvalidValueError(f"histogram range [{self.lo}, {self.hi}) is empty or infinite")
        if not 1 <= self.buckets <= 65536:
            raise InvalidValueError(f"histogram buckets={self.buckets} outside 1..65536")

    def index(self, value: float) -> int:
        """Bucket of ``value``: 0 is underflow, ``buckets + 1`` overflow."""
        if value < self.lo:
            return 0
        if value >= self.hi:
            return self.buckets + 1
        return 1 + min(
            int((value - self.lo) / (self.hi - self.lo) * self.buckets), self.buckets - 1
        )


class Histogram(msgspec.Struct, frozen=True, array_like=True):
    """Counts per bucket of a :class:`HistogramSpec` (underflow first, overflow last)."""

    spec: HistogramSpec
    counts: tuple[int, ...]

    @classmethod
    def empty(cls, spec: HistogramSpec) -> Histogram:
        """The identity."""
        return cls(spec, (0,) * (spec.buckets + 2))

    @classmethod
    def of(cls, spec: HistogramSpec, value: float) -> Histogram:
        """A histogram holding one value."""
        counts = [0] * (spec.buckets + 2)
        counts[spec.index(value)] = 1
        return cls(spec, tuple(counts))

    def merge(self, other: Histogram) -> Histogram:
        """Bucket-wise sum; the specs must match."""
        if other.spec != self.spec:
            raise SketchMismatchError(f"histogram specs differ: {self.spec} vs {other.spec}")
        return Histogram(
            self.spec, tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        )

    def check(self, count: int) -> None:
        """Raise if the buckets do not hold exactly ``count`` values."""
        if len(self.counts) != self.spec.buckets + 2 or any(c < 0 for c in self.counts):
            raise InvalidValueError("histogram has the wrong number of buckets or a negative count")
        if sum(self.counts) != count:
            raise InvalidValueError(f"histogram holds {sum(self.counts)} values, expected {count}")


class DDSketch(msgspec.Struct, frozen=True, array_like=True):
    """DDSketch: log-spaced bins with relative accuracy ``alpha`` (Masson et al. 2019, §2).

    Bin ``i`` holds values in ``(gamma^(i-1), gamma^i]`` with
    ``gamma = (1 + alpha) / (1 - alpha)``; negative values use their own store
    and zeros (``|x| < min_value``) a counter. When a store passes ``max_bins``
    its lowest bins are collapsed (§2.2), which keeps the guarantee for upper
    quantiles.
    """

    alpha: float = DEFAULT_ALPHA
    max_bins: int = DEFAULT_MAX_BINS
    zero: int = 0
    pos: dict[int, int] = {}
    neg: dict[int, int] = {}

    MIN_VALUE = 1e-12  # smaller magnitudes count as zero

    @property
    def gamma(self) -> float:
        """The bin growth factor."""
        return (1 + self.alpha) / (1 - self.alpha)

    def key(self, magnitude: float) -> int:
        """Bin index of a positive magnitude."""
        return math.ceil(math.log(magnitude) / math.log(self.gamma))

    def check_params(self) -> None:
        """Raise :class:`InvalidValueError` for parameters outside their ranges."""
        if not 0 < self.alpha < 1:
            raise InvalidValueError(f"DDSketch alpha={self.alpha} outside (0, 1)")
        if self.max_bins < 16:
            raise InvalidValueError(f"DDSketch max_bins={self.max_bins} below 16")

    def add(self, value: float) -> DDSketch:
        """A copy with one more value."""
        if abs(value) < self.MIN_VALUE:
            return msgspec.structs.replace(self, zero=self.zero + 1)
        k = self.key(abs(value))
        store = dict(self.pos if value > 0 else self.neg)
        store[k] = store.get(k, 0) + 1
        store = _collapse(store, self.max_bins)
        if value > 0:
            return msgspec.structs.replace(self, pos=store)
        return msgspec.structs.replace(self, neg=store)

    def merge(self, other: DDSketch) -> DDSketch:
        """Bin-wise sum; ``alpha`` and ``max_bins`` must match."""
        if (other.alpha, other.max_bins) != (self.alpha, self.max_bins):
            raise SketchMismatchError(
                f"DDSketch parameters differ: alpha {self.alpha} vs {other.alpha}, "
                f"max_bins {self.max_bins} vs {other.max_bins}"
            )
        return DDSketch(
            self.alpha,
            self.max_bins,
            self.zero + other.zero,
            _collapse(_add_bins(self.pos, other.pos), self.max_bins),
            _collapse(_add_bins(self.neg, other.neg), self.max_bins),
        )

    @property
    def count(self) -> int:
        """Number of values held."""
        return self.zero + sum(self.pos.values()) + sum(self.neg.values())

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (lower), within relative error ``alpha`` of the exact one.

        Raises:
            InvalidValueError: ``q`` outside [0, 1] or an empty sketch.
        """
        if not 0.0 <= q <= 1.0:
            raise InvalidValueError(f"quantile q={q} outside [0, 1]")
        n = self.count
        if n == 0:
            raise InvalidValueError("quantile of an empty sketch")
        rank = q * (n - 1)
        seen = 0
        gamma = self.gamma
        for k in sorted(self.neg, reverse=True):
            seen += self.neg[k]
            if seen > rank:
                return -2 * gamma**k / (gamma + 1)
        seen += self.zero
        if seen > rank:
            return 0.0
        for k in sorted(self.pos):
            seen += self.pos[k]
            if seen > rank:
                return 2 * gamma**k / (gamma + 1)
        return 2 * gamma ** max(self.pos) / (gamma + 1) if self.pos else 0.0

    def check(self, count: int) -> None:
        """Raise if the sketch is malformed or does not hold ``count`` values."""
        self.check_params()
        if self.zero < 0 or any(c <= 0 for c in (*self.pos.values(), *self.neg.values())):
            raise InvalidValueError("DDSketch has a non-positive bin count")
        if len(self.pos) > self.max_bins or len(self.neg) > self.max_bins:
            raise InvalidValueError("DDSketch holds more bins than max_bins")
        if self.count != count:
            raise InvalidValueError(f"DDSketch holds {self.count} values, expected {count}")


def _add_bins(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    if not b:
        return a
    if not a:
        return b
    out = dict(a)
    for k, c in b.items():
        out[k] = out.get(k, 0) + c
    return out


def _collapse(store: dict[int, int], max_bins: int) -> dict[int, int]:
    if len(store) <= max_bins:
        return store
    keys = sorted(store)
    cut = len(keys) - max_bins + 1
    low = keys[cut]  # the lowest kept bin absorbs the collapsed ones
    out = {k: store[k] for k in keys[cut:]}
    out[low] += sum(store[k] for k in keys[:cut])
    return out


def hash64(item: int | str | bytes) -> int:
    """A 64-bit hash: splitmix64 for ints (vectorizable), BLAKE2b for strings and bytes."""
    if isinstance(item, int):
        return splitmix64(item & _U64)
    data = item.encode() if isinstance(item, str) else item
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def splitmix64(x: int) -> int:
    """The splitmix64 finalizer (Steele, Lea & Flood 2014) of one 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & _U64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _U64
    return x ^ (x >> 31)


def splitmix64_array(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """:func:`splitmix64` over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _hll_sigma(x: float) -> float:
    """Ertl's sigma(x) = x + sum_k x^(2^k) 2^(k-1) (the empty-register correction)."""
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        previous = z
        z += x * y
        y += y
        if z == previous:
            return z


def _hll_tau(x: float) -> float:
    """Ertl's tau(x) (the saturated-register correction); 0 at 0 and 1."""
    if x == 0.0 or x == 1.0:
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        previous = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == previous:
            return z / 3.0


class HyperLogLog(msgspec.Struct, frozen=True, array_like=True):
    """HyperLogLog with ``2^p`` one-byte registers (Flajolet et al. 2007).

    Standard error ``1.04 / sqrt(2^p)``; :meth:`estimate` is Ertl's improved estimator,
    unbiased from empty to saturated sketches.
    """

    p: int = DEFAULT_HLL_P
    registers: bytes = b""

    @classmethod
    def empty(cls, p: int = DEFAULT_HLL_P) -> HyperLogLog:
        """The identity for precision ``p``."""
        if not 4 <= p <= 18:
            raise InvalidValueError(f"HyperLogLog p={p} outside 4..18")
        return cls(p, bytes(1 << p))

    @staticmethod
    def position(h: int, p: int) -> tuple[int, int]:
        """Register index and rank of a 64-bit hash."""
        idx = h >> (64 - p)
        rest = (h << p) & _U64
        rank = (64 - p + 1) if rest == 0 else (64 - rest.bit_length() + 1)
        return idx, min(rank, 64 - p + 1)

    def add_hash(self, h: int) -> HyperLogLog:
        """A copy with one more hashed item."""
        idx, rank = self.position(h, self.p)
        if self.registers[idx] >= rank:
            return self
        regs = bytearray(self.registers)
        regs[idx] = rank
        return HyperLogLog(self.p, bytes(regs))

    def add(self, item: int | str | bytes) -> HyperLogLog:
        """A copy with one more item."""
        return self.add_hash(hash64(item))

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        """Register-wise maximum; the precisions must match."""
        if other.p != self.p:
            raise SketchMismatchError(f"HyperLogLog precisions differ: p={self.p} vs p={other.p}")
        a = np.frombuffer(self.registers, dtype=np.uint8)
        b = np.frombuffer(other.registers, dtype=np.uint8)
        return HyperLogLog(self.p, np.maximum(a, b).tobytes())

    def estimate(self) -> float:
        """Estimated number of distinct items: Ertl's improved raw estimator.

        O. Ertl, *New cardinality estimation algorithms for HyperLogLog sketches* (2017),
        algorithm 6: from the histogram of register values, with the corrections
        ``sigma`` (for empty registers) and ``tau`` (for saturated ones) in place of the
        original's switch to linear counting below ``2.5 m``, which biased estimates near
        the switch (+1.9% at 10k items with 4,096 registers). Unbiased over the whole
        range, with the same standard error.
        """
        m = 1 << self.p
        q = 64 - self.p
        counts = np.bincount(np.frombuffer(self.registers, dtype=np.uint8), minlength=q + 2)
        z = m * _hll_tau(1.0 - int(counts[q + 1]) / m)
        for k in range(q, 0, -1):
            z = 0.5 * (z + int(counts[k]))
        z += m * _hll_sigma(int(counts[0]) / m)
        if math.isinf(z):
            return 0.0  # every register empty
        return m * m / (2.0 * math.log(2.0)) / z

    @property
    def standard_error(self) -> float:
        """Relative standard error of :meth:`estimate`."""
        return 1.04 / math.sqrt(1 << self.p)

    def check(self) -> None:
        """Raise if the registers do not fit ``p``."""
        if len(self.registers) != 1 << self.p:
            raise InvalidValueError(
                f"HyperLogLog has {len(self.registers)} registers, expected {1 << self.p}"
            )
        if self.registers and max(self.registers) > 64 - self.p + 1:
            raise InvalidValueError("HyperLogLog register holds an impossible rank")


class TopK(msgspec.Struct, frozen=True, array_like=True):
    """The ``k`` largest values with the agent that reported each (ties: lower id first)."""

    k: int = DEFAULT_TOPK
    items: tuple[tuple[float, int], ...] = ()

    def merge(self, other: TopK) -> TopK:
        """The top ``k`` of both; ``k`` must match."""
        if other.k != self.k:
            raise SketchMismatchError(f"top-k sizes differ: k={self.k} vs k={other.k}")
        both = sorted((*self.items, *other.items), key=lambda it: (-it[0], it[1]))
        return TopK(self.k, tuple(both[: self.k]))

    def check(self) -> None:
        """Raise if the list is too long or holds non-finite values."""
        if len(self.items) > self.k:
            raise InvalidValueError(f"top-k holds {len(self.items)} items for k={self.k}")
        if not all(math.isfinite(v) for v, _ in self.items):
            raise InvalidValueError("top-k holds a NaN or infinite value")


class AggregateSpec(msgspec.Struct, frozen=True, array_like=True):
    """Which aggregates a summary carries beyond the moments, with their parameters.

    ``None`` turns a part off.
    """

    histogram: HistogramSpec | None = HistogramSpec()
    ddsketch_alpha: float | None = DEFAULT_ALPHA
    hll_p: int | None = DEFAULT_HLL_P
    topk: int | None = DEFAULT_TOPK

    def check(self) -> AggregateSpec:
        """Validate parameters; returns ``self``."""
        if self.histogram is not None:
            self.histogram.check()
        if self.ddsketch_alpha is not None:
            DDSketch(self.ddsketch_alpha).check_params()
        if self.hll_p is not None:
            HyperLogLog.empty(self.hll_p)
        if self.topk is not None and not 1 <= self.topk <= 10_000:
            raise InvalidValueError(f"topk={self.topk} outside 1..10000")
        return self


class Summary(msgspec.Struct, frozen=True, array_like=True):
    """What a subtree reports: every aggregate of its agents' values, and its coverage.

    ``coverage`` is the number of agents included (equal to ``moments.count``).
    ``members`` lists the agents when tracking is on (for tests and audits).
    """

    spec: AggregateSpec
    moments: Moments = Moments()
    histogram: Histogram | None = None
    ddsketch: DDSketch | None = None
    hll: HyperLogLog | None = None
    topk: TopK | None = None
    members: tuple[int, ...] | None = None

    @classmethod
    def identity(cls, spec: AggregateSpec, *, track: bool = False) -> Summary:
        """The empty summary for ``spec``."""
        return cls(
            spec,
            Moments(),
            Histogram.empty(spec.histogram) if spec.histogram is not None else None,
            DDSketch(spec.ddsketch_alpha) if spec.ddsketch_alpha is not None else None,
            HyperLogLog.empty(spec.hll_p) if spec.hll_p is not None else None,
            TopK(spec.topk) if spec.topk is not None else None,
            () if track else None,
        )

    @classmethod
    def of(
        cls,
        spec: AggregateSpec,
        agent: int,
        value: float,
        key: int | str | bytes | None = None,
        *,
        track: bool = False,
    ) -> Summary:
        """The summary of one agent's ``value``; ``key`` feeds the distinct count (default: agent).

        Raises:
            InvalidValueError: ``value`` is NaN or infinite.
        """
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidValueError(f"agent {agent} reported {value!r}, not a number")
        problem = value_problem(value)
        if problem is not None:
            raise InvalidValueError(f"agent {agent} reported {value!r}, which {problem}")
        value = float(value)
        return cls(
            spec,
            Moments.of(value),
            Histogram.of(spec.histogram, value) if spec.histogram is not None else None,
            DDSketch(spec.ddsketch_alpha).add(value) if spec.ddsketch_alpha is not None else None,
            HyperLogLog.empty(spec.hll_p).add(agent if key is None else key)
            if spec.hll_p is not None
            else None,
            TopK(spec.topk, ((value, agent),)) if spec.topk is not None else None,
            (agent,) if track else None,
        )

    @property
    def coverage(self) -> int:
        """Number of agents included."""
        return self.moments.count

    def merge(self, other: Summary) -> Summary:
        """Merge two summaries built from the same spec.

        Raises:
            SketchMismatchError: the specs differ.
        """
        if other.spec != self.spec:
            raise SketchMismatchError(
                f"summaries from different specs: {self.spec} vs {other.spec}"
            )
        return Summary(
            self.spec,
            self.moments.merge(other.moments),
            _m(self.histogram, other.histogram),
            _m(self.ddsketch, other.ddsketch),
            _m(self.hll, other.hll),
            _m(self.topk, other.topk),
            None if self.members is None or other.members is None else self.members + other.members,
        )

    def check(self) -> Summary:
        """Validate a summary received from elsewhere; returns ``self``.

        Raises:
            InvalidValueError: NaN/infinite values or parts inconsistent with the count.
            SketchMismatchError: parts present or absent against the spec.
        """
        m = self.moments
        m.check()
        spec = self.spec
        parts = (self.histogram, self.ddsketch, self.hll, self.topk)
        wanted = (spec.histogram, spec.ddsketch_alpha, spec.hll_p, spec.topk)
        if any((p is None) != (w is None) for p, w in zip(parts, wanted, strict=True)):
            raise SketchMismatchError("summary parts do not match its spec")
        if self.histogram is not None:
            if self.histogram.spec != spec.histogram:
                raise SketchMismatchError("histogram spec differs from the summary spec")
            self.histogram.check(m.count)
        if self.ddsketch is not None:
            if self.ddsketch.alpha != spec.ddsketch_alpha:
                raise SketchMismatchError("DDSketch alpha differs from the summary spec")
            self.ddsketch.check(m.count)
        if self.hll is not None:
            if self.hll.p != spec.hll_p:
                raise SketchMismatchError("HyperLogLog p differs from the summary spec")
            self.hll.check()
        if self.topk is not None:
            if self.topk.k != spec.topk:
                raise SketchMismatchError("top-k size differs from the summary spec")
            self.topk.check()
        if self.members is not None and len(self.members) != m.count:
            raise InvalidValueError("member list length differs from the count")
        return self

    def describe(self) -> dict[str, float | int | list[float] | None]:
        """The headline figures as plain data."""
        m = self.moments
        out: dict[str, float | int | list[float] | None] = {
            "coverage": m.count,
            "sum": m.total,
            "mean": m.mean if m.count else None,
            "min": m.min if m.count else None,
            "max": m.max if m.count else None,
            "variance": m.variance,
        }
        if self.ddsketch is not None and self.ddsketch.count:
            for q in (0.5, 0.9, 0.99):
                out[f"p{round(q * 100)}"] = self.ddsketch.quantile(q)
        if self.hll is not None:
            out["distinct"] = self.hll.estimate()
        if self.topk is not None:
            out["top"] = [v for v, _ in self.topk.items]
        return out


class _Mergeable(Protocol):
    def merge(self, other: Self, /) -> Self: ...


_M = TypeVar("_M", bound=_Mergeable)


def _m(a: _M | None, b: _M | None) -> _M | None:
    if a is None or b is None:
        if a is not None or b is not None:
            raise SketchMismatchError("one summary has a part the other lacks")
        return None
    return a.merge(b)


def merge_all(spec: AggregateSpec, parts: Iterable[Summary], *, track: bool = False) -> Summary:
    """Fold ``parts`` into one summary, starting from the identity."""
    acc = Summary.identity(spec, track=track)
    for p in parts:
        acc = acc.merge(p)
    return acc
