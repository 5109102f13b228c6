"""Consensus on disagreeing voters follows the stated rule; calibration is cached and learned."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from apps.causal.calibrate import calibrate, evidence_map, fit_weights
from apps.causal.consensus import (
    EDGE,
    Calibration,
    EvidenceMap,
    consensus,
    contested_links,
    live_posteriors,
    make_router,
)
from apps.causal.records import MethodResult
from apps.causal.simulate import Market

NAMES = ["a", "b", "c"]


def _result(
    method: str, strengths: dict[tuple[int, int, int], float], abstained: bool = False
) -> MethodResult:
    s = np.zeros((1, 3, 3))
    for link, v in strengths.items():
        s[link] = v
    return MethodResult(method, s > 1.0, s, abstained=abstained)


def _calibration(theta: float, quorum: int) -> Calibration:
    # strength 0: P(edge)=0.2, strength in [1,3): 0.8, strength >= 3: 0.97
    maps = {m: EvidenceMap([0.0, 1.0, 3.0], [0.2, 0.8, 0.97]) for m in ("m1", "m2", "m3")}
    # learned reliability: m1's votes count fully, m2 and m3 half (they share evidence)
    return Calibration(maps, {"m1": 1.0, "m2": 0.5, "m3": 0.5}, theta, quorum, (3, 100, 1))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_weighted_posterior_is_the_sum_of_learned_log_odds() -> None:
    # link (0, 0, 1): m1 strongly for (conf 0.97 -> acc 0.99); m2, m3 against (conf 0.8 -> acc 0.8)
    link = (0, 0, 1)
    results = [_result("m1", {link: 5.0}), _result("m2", {}), _result("m3", {})]
    cal = _calibration(theta=0.5, quorum=1)
    cons = consensus(results, cal, NAMES)
    learner = make_router(cal.weights).learner
    assert learner.accuracy("m2", 0.8) == pytest.approx(1 / (1 + math.exp(-0.5 * _logit(0.8))))
    expect = 1.0 * _logit(0.97) - 2 * 0.5 * _logit(0.8)
    assert cons.posterior[link] == pytest.approx(1 / (1 + math.exp(-expect)), rel=1e-9)
    assert (
        cons.votes_for[link] == 1 and cons.edges[link]
    )  # one reliable voter outweighs two weak ones
    # the same votes from the weaker voter lose
    weak = [_result("m1", {}), _result("m2", {link: 5.0}), _result("m3", {})]
    assert not consensus(weak, cal, NAMES).edges[link]


def test_quorum_rule_needs_enough_edge_votes() -> None:
    link = (0, 0, 1)
    results = [_result("m1", {link: 5.0}), _result("m2", {}), _result("m3", {})]
    assert consensus(results, _calibration(0.5, 1), NAMES).edges[link]
    cons = consensus(results, _calibration(0.5, 2), NAMES)
    assert cons.posterior[link] > 0.5 and not cons.edges[link]  # posterior enough, quorum not
    two = [_result("m1", {link: 5.0}), _result("m2", {link: 2.0}), _result("m3", {})]
    assert consensus(two, _calibration(0.5, 2), NAMES).edges[link]


def test_an_abstaining_method_does_not_vote() -> None:
    link = (0, 0, 1)
    results = [
        _result("m1", {link: 5.0}),
        _result("m2", {}, abstained=True),
        _result("m3", {}, abstained=True),
    ]
    cons = consensus(results, _calibration(0.5, 1), NAMES)
    assert cons.votes.answered[:, 0, 0, 1].tolist() == [True, False, False]
    assert cons.edges[link]


def test_live_router_voters_give_the_bulk_posteriors() -> None:
    results = [
        _result("m1", {(0, 0, 1): 5.0, (0, 2, 1): 2.0}),
        _result("m2", {(0, 0, 1): 2.0, (0, 1, 2): 4.0}),
        _result("m3", {(0, 1, 2): 2.0}),
    ]
    cal = _calibration(0.5, 1)
    cons = consensus(results, cal, NAMES)
    links = contested_links(cons, 10)
    assert set(links) == {(0, 0, 1), (0, 2, 1), (0, 1, 2)}
    live = live_posteriors(cons.votes, cal, NAMES, links)
    assert live == pytest.approx([cons.posterior[x] for x in links], abs=1e-12)


def test_evidence_map_is_class_balanced_and_monotone() -> None:
    strengths = np.array([0.1] * 90 + [5.0] * 10 + [0.1] * 5 + [5.0] * 5)
    truth = np.array([False] * 100 + [True] * 10)
    m = evidence_map(strengths, truth, [0.0, 1.0])
    # low bin: 5/10 of edges vs 90/100 of non-edges -> LR ~ 0.56; high bin: 5/10 vs 10/100 -> LR ~ 4.8
    assert m.prob[0] < 0.5 < m.prob[1]
    assert m.prob[1] == pytest.approx(
        (5.5 / 11) / (10.5 / 101) / (1 + (5.5 / 11) / (10.5 / 101)), rel=1e-6
    )


def test_weights_discount_a_duplicated_method() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(4000) < 0.2
    evidence = np.where(truth, 1.5, -1.5) + rng.standard_normal(4000)
    independent = np.where(truth, 1.0, -1.0) + rng.standard_normal(4000)
    # m2 is a copy of m1: together they carry no more than m1 alone
    features = np.stack([evidence, evidence.copy(), independent], axis=1)
    w, _ = fit_weights(features, truth)
    assert w[0] + w[1] == pytest.approx(fit_weights(features[:, [0, 2]], truth)[0][0], rel=0.05)
    assert w[2] > 0 and (w >= 0).all()
    flipped, _ = fit_weights(np.stack([evidence, -independent], axis=1), truth)
    assert flipped[1] == 0.0  # a method read backwards is dropped, never inverted


def test_calibration_is_cached_and_a_corrupt_cache_is_recomputed(tmp_path: Path) -> None:
    calls: list[int] = []

    def runner(market: Market) -> list[MethodResult]:
        calls.append(market.spec.seed)
        s = np.where(market.graph[:1], 6.0, 0.0)
        s[0] += 0.01 * np.arange(market.n)[None, :]
        return [
            MethodResult("m1", s > 1.0, s),
            MethodResult("m2", np.zeros_like(s, dtype=bool), np.zeros_like(s)),
        ]

    cal = calibrate(5, 300, 1, 0.05, runner, count=2, cache_dir=tmp_path)
    assert len(calls) == 2 and all(s >= 900_000 for s in calls)  # never an evaluation seed
    assert cal.single_f1["m1"] == 1.0 and cal.consensus_f1 == pytest.approx(1.0)
    again = calibrate(5, 300, 1, 0.05, runner, count=2, cache_dir=tmp_path)
    assert (
        len(calls) == 2
        and again.theta == cal.theta
        and again.maps["m1"].prob == cal.maps["m1"].prob
    )
    (path,) = tmp_path.glob("calibration-*.json")
    path.write_text("{not json")
    calibrate(5, 300, 1, 0.05, runner, count=2, cache_dir=tmp_path)
    assert len(calls) == 4 and json.loads(path.read_text())["quorum"] in (1, 2)


def test_edge_label_is_what_the_router_reports() -> None:
    assert EDGE == "edge"
