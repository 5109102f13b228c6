"""Mergeable aggregates: merge laws (Hypothesis), sketch error bounds, bad input."""

from __future__ import annotations

import math
import random

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.aggregation.aggregates import (
    AggregateSpec,
    DDSketch,
    HistogramSpec,
    HyperLogLog,
    Moments,
    Summary,
    TopK,
    hash64,
    merge_all,
    splitmix64,
    splitmix64_array,
)
from patterns.aggregation.exceptions import InvalidValueError, SketchMismatchError

SPEC = AggregateSpec(HistogramSpec(-10.0, 10.0, 8), 0.02, 8, 3)
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
summaries = st.lists(st.tuples(st.integers(0, 10_000), finite), max_size=12).map(
    lambda items: merge_all(SPEC, [Summary.of(SPEC, a, v) for a, v in items])
)


def same(a: Summary, b: Summary) -> None:
    """Equal up to floating-point rounding in the sum, mean and variance."""
    assert a.moments.count == b.moments.count
    assert a.moments.min == b.moments.min and a.moments.max == b.moments.max
    scale = max(1.0, abs(a.moments.total), abs(b.moments.total))
    assert math.isclose(a.moments.total, b.moments.total, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert math.isclose(a.moments.mean, b.moments.mean, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(a.moments.m2, b.moments.m2, rel_tol=1e-6, abs_tol=1e-3)
    assert (a.histogram, a.ddsketch, a.hll, a.topk) == (b.histogram, b.ddsketch, b.hll, b.topk)


@settings(max_examples=150, deadline=None)
@given(summaries, summaries, summaries)
def test_merge_is_associative(a: Summary, b: Summary, c: Summary) -> None:
    same(a.merge(b).merge(c), a.merge(b.merge(c)))


@settings(max_examples=150, deadline=None)
@given(summaries, summaries)
def test_merge_is_commutative(a: Summary, b: Summary) -> None:
    same(a.merge(b), b.merge(a))


@settings(max_examples=100, deadline=None)
@given(summaries)
def test_identity(a: Summary) -> None:
    ident = Summary.identity(SPEC)
    same(a.merge(ident), a)
    same(ident.merge(a), a)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=1, max_size=60))
def test_moments_match_numpy(values: list[float]) -> None:
    m = merge_all(SPEC, [Summary.of(SPEC, i, v) for i, v in enumerate(values)]).moments
    arr = np.array(values)
    assert m.count == len(values)
    assert m.min == arr.min() and m.max == arr.max()
    assert math.isclose(m.mean, float(arr.mean()), rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(m.variance, float(arr.var()), rel_tol=1e-6, abs_tol=1e-3)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), finite), max_size=40))
def test_topk_is_the_k_largest(items: list[tuple[int, float]]) -> None:
    got = merge_all(SPEC, [Summary.of(SPEC, a, v) for a, v in items]).topk
    assert got is not None
    assert list(got.items) == sorted(((v, a) for a, v in items), key=lambda t: (-t[0], t[1]))[:3]


def test_histogram_buckets() -> None:
    s = merge_all(SPEC, [Summary.of(SPEC, i, v) for i, v in enumerate([-11, -10, 0, 9.99, 10, 50])])
    assert s.histogram is not None
    assert s.histogram.counts == (1, 1, 0, 0, 0, 1, 0, 0, 1, 2)


@pytest.mark.parametrize("alpha", [0.01, 0.05])
def test_ddsketch_quantiles_within_relative_error(alpha: float) -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.lognormal(0, 2, 5000), -rng.lognormal(0, 1, 1000), np.zeros(10)])
    sketch = DDSketch(alpha)
    for chunk in np.array_split(values, 7):  # merged from parts, as up a tree
        part = DDSketch(alpha)
        for x in chunk:
            part = part.add(float(x))
        sketch = sketch.merge(part)
    exact = np.sort(values)
    for q in (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0):
        truth = exact[int(q * (len(exact) - 1))]
        est = sketch.quantile(q)
        assert abs(est - truth) <= alpha * abs(truth) + 1e-12, (q, est, truth)


def test_ddsketch_collapses_lowest_bins_beyond_max() -> None:
    s = DDSketch(0.01, max_bins=16)
    for i in range(100):
        s = s.add(1.1**i)
    assert len(s.pos) == 16 and s.count == 100
    assert abs(s.quantile(1.0) - 1.1**99) <= 0.01 * 1.1**99


@pytest.mark.parametrize("p", [10, 12, 14])
def test_hll_error_within_documented_bound(p: int) -> None:
    for n in (50, 5_000, 200_000):
        h = HyperLogLog.empty(p)
        regs = np.zeros(1 << p, dtype=np.uint8)
        # vectorized registers, cross-checked against the scalar path on a prefix
        hashes = splitmix64_array(np.arange(n, dtype=np.uint64) + np.uint64(n * 7))
        for x in hashes[:200]:
            h = h.add_hash(int(x))
        for x in hashes:
            idx, rank = HyperLogLog.position(int(x), p)
            regs[idx] = max(regs[idx], rank)
        full = HyperLogLog(p, regs.tobytes())
        assert full.merge(h) == full  # the prefix is already inside
        est = full.estimate()
        assert abs(est - n) <= 4 * full.standard_error * n + 2, (p, n, est)


def test_hash_functions_agree() -> None:
    xs = np.array([0, 1, 2**63, 12345], dtype=np.uint64)
    assert [int(x) for x in splitmix64_array(xs)] == [splitmix64(int(x)) for x in xs]
    assert hash64("a") != hash64("b") and hash64(b"a") == hash64("a")


def test_nan_and_infinite_values_are_refused() -> None:
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(InvalidValueError, match="not a finite number"):
            Summary.of(SPEC, 1, bad)


def test_values_whose_squares_overflow_are_refused_with_the_reason() -> None:
    for bad in (1e151, -1e308):
        with pytest.raises(InvalidValueError, match=r"agent 3 reported .*beyond ±1e\+150"):
            Summary.of(SPEC, 3, bad)
    edge = Summary.of(SPEC, 1, 1e150).merge(Summary.of(SPEC, 2, -1e150))
    assert math.isfinite(edge.moments.variance)


def test_mismatched_parameters_are_refused() -> None:
    a = Summary.of(SPEC, 1, 1.0)
    other = AggregateSpec(HistogramSpec(-10.0, 10.0, 8), 0.05, 8, 3)
    with pytest.raises(SketchMismatchError):
        a.merge(Summary.of(other, 2, 1.0))
    with pytest.raises(SketchMismatchError, match="alpha"):
        DDSketch(0.01).merge(DDSketch(0.02))
    with pytest.raises(SketchMismatchError, match="precisions"):
        HyperLogLog.empty(8).merge(HyperLogLog.empty(9))
    with pytest.raises(SketchMismatchError, match="top-k"):
        TopK(3).merge(TopK(4))


def test_check_catches_tampered_summaries() -> None:
    good = merge_all(SPEC, [Summary.of(SPEC, i, float(i)) for i in range(5)])
    assert good.check() is good
    bad_count = msgspec.structs.replace(
        good, moments=msgspec.structs.replace(good.moments, count=6)
    )
    with pytest.raises(InvalidValueError):
        bad_count.check()
    nan_sum = msgspec.structs.replace(
        good, moments=msgspec.structs.replace(good.moments, total=math.nan)
    )
    with pytest.raises(InvalidValueError, match="NaN"):
        nan_sum.check()
    assert good.hll is not None
    short = msgspec.structs.replace(good, hll=HyperLogLog(good.hll.p, b"\x00" * 3))
    with pytest.raises(InvalidValueError, match="registers"):
        short.check()
    assert Moments().merge(Moments.of(2.0)) == Moments.of(2.0)


def test_summary_round_trips_through_msgpack() -> None:
    s = merge_all(SPEC, [Summary.of(SPEC, i, random.Random(i).uniform(-20, 20)) for i in range(30)])
    back = msgspec.msgpack.decode(msgspec.msgpack.encode(s), type=Summary)
    assert back == s


def test_numpy_scalars_are_numbers_and_non_numbers_are_named() -> None:
    import numpy as np

    from patterns.aggregation.aggregates import AggregateSpec, Summary
    from patterns.aggregation.exceptions import InvalidValueError

    spec = AggregateSpec()
    assert Summary.of(spec, 0, np.float32(2.5)).moments.count == 1  # was "non-finite"
    assert Summary.of(spec, 1, np.int64(2)).moments.count == 1
    with pytest.raises(InvalidValueError, match="not a number"):
        Summary.of(spec, 2, "3")  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="not a finite number"):
        Summary.of(spec, 3, np.float64("nan"))


def _registers(p: int, n: int, seed: int) -> HyperLogLog:
    hashes = splitmix64_array(np.arange(n, dtype=np.uint64) + np.uint64(seed << 32))
    idx = (hashes >> np.uint64(64 - p)).astype(np.int64)
    rest = (hashes << np.uint64(p)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    lz = np.zeros(n, dtype=np.int64)  # leading zeros of the remaining 64 - p bits
    for bit in range(64 - p):
        lz += (rest >> np.uint64(63 - bit) == 0).astype(np.int64) * (lz == bit)
    rank = np.minimum(lz + 1, 64 - p + 1).astype(np.uint8)
    regs = np.zeros(1 << p, dtype=np.uint8)
    np.maximum.at(regs, idx, rank)
    return HyperLogLog(p, regs.tobytes())


@pytest.mark.parametrize("ratio", [0.5, 2.5, 5.0, 20.0])
def test_hll_is_unbiased_around_the_old_linear_counting_switch(ratio: float) -> None:
    p = 10  # 1,024 registers: the old estimator switched at 2,560 items
    m = 1 << p
    n = int(ratio * m)
    errors = [_registers(p, n, seed).estimate() / n - 1 for seed in range(120)]
    bias = float(np.mean(errors))
    se = 1.04 / math.sqrt(m)
    assert abs(bias) < 3 * se / math.sqrt(len(errors)) + 0.002, (ratio, bias)
    assert float(np.std(errors)) < 1.3 * se, (ratio, np.std(errors))


def test_hll_scalar_and_vector_registers_agree_and_empty_is_zero() -> None:
    h = HyperLogLog.empty(10)
    assert h.estimate() == 0.0
    hashes = splitmix64_array(np.arange(3000, dtype=np.uint64) + np.uint64(7 << 32))
    for x in hashes:
        h = h.add_hash(int(x))
    assert h == _registers(10, 3000, 7)
