"""Consensus on disagreeing voters follows the stated rule; calibration is cached and learned."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from apps.causal.analysis import Analysis, interventions
from apps.causal.calibrate import (
    bins_for,
    calibrate,
    fit_calibration,
    fit_stack,
    stack_design,
)
from apps.causal.consensus import (
    EDGE,
    Calibration,
    EvidenceMap,
    consensus,
    contested_links,
    expected_f1_threshold,
    live_posteriors,
    make_router,
)
from apps.causal.intervene import do_effects
from apps.causal.records import MethodResult, cross_mask
from apps.causal.report import consensus_table, draw_graph, intervention_table
from apps.causal.simulate import Market, MarketSpec, simulate_market
from apps.causal.stats import f1_score

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


def test_expected_f1_rule_accepts_the_most_probable_links() -> None:
    # calibrated probabilities 0.95, 0.9, 0.6, 0.05 x 20: expected F1 of top-k peaks at k = 3
    post = np.array([0.95, 0.9, 0.6] + [0.05] * 20)
    theta = expected_f1_threshold(post, 0.0)
    assert theta == pytest.approx(0.6)
    # an offset of -6 log-odds makes every link improbable: a smaller set is best
    assert expected_f1_threshold(post, -6.0) >= 0.9
    assert expected_f1_threshold(np.array([1e-9, 1e-9]), -30.0) > 1.0  # accept none


def test_stacked_model_is_monotone_and_discounts_a_duplicated_method() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(4000) < 0.2
    a = np.abs(np.where(truth, 3.0, 1.5) + rng.normal(0.0, 1.5, 4000))
    b = np.abs(np.where(truth, 2.5, 1.5) + rng.normal(0.0, 1.5, 4000))
    mask = np.ones((1, 4000, 1), dtype=bool)

    def res(name: str, s: np.ndarray) -> MethodResult:
        arr = s.reshape(1, 4000, 1)
        return MethodResult(name, arr > 2, arr)

    x_one = stack_design([res("m1", a), res("m3", b)], mask, ["m1", "m3"])
    x_dup = stack_design([res("m1", a), res("m2", a), res("m3", b)], mask, ["m1", "m2", "m3"])
    steps = len(bins_for("m1")) - 1
    one = fit_stack(x_one, truth.astype(float), [steps, steps], l2=1e-3)
    dup = fit_stack(x_dup, truth.astype(float), [steps, steps, steps], l2=1e-3)
    heights = [one[:steps], dup[:steps], dup[steps + 1 : 2 * steps + 1]]
    assert all((h >= 0).all() for h in heights)  # evidence never lowers the log-odds
    assert heights[0].sum() > 1.0  # m1's evidence counts
    # the copy adds nothing: the two copies together say what m1 says alone
    logit_one = x_one @ one[:-1] + one[-1]
    logit_dup = x_dup @ dup[:-1] + dup[-1]
    assert np.abs(logit_dup - logit_one).max() < 0.05


def test_router_posterior_is_the_stacked_probability() -> None:
    rng = np.random.default_rng(1)
    markets, results = [], []
    for k in range(2):
        m = simulate_market(MarketSpec(n_series=4, n_steps=300, max_lag=1, seed=910_000 + k))
        s1 = np.where(m.graph[:1], 5.0, 0.2) + rng.exponential(0.5, m.graph[:1].shape)
        s2 = np.where(m.graph[:1], 2.0, 0.2) + rng.exponential(1.0, m.graph[:1].shape)
        markets.append(m)
        results.append([MethodResult("m1", s1 > 2, s1), MethodResult("m2", s2 > 2, s2)])
    cal = fit_calibration(markets, results)
    assert cal.rule == "expected_f1" and cal.reliability["m1"] > cal.reliability["m2"] > 0
    mask = cross_mask(1, 4)
    x = stack_design(results[0], mask, ["m1", "m2"])
    steps = len(bins_for("m1")) - 1
    beta = fit_stack(
        np.vstack([x, stack_design(results[1], mask, ["m1", "m2"])]),
        np.concatenate([m.graph[:1][mask] for m in markets]).astype(float),
        [steps, steps],
    )
    stacked = 1 / (1 + np.exp(-(x @ beta[:-1] + beta[-1])))
    cons = consensus(results[0], cal, markets[0].names)
    assert cons.posterior[mask] == pytest.approx(stacked, abs=1e-6)


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


def test_calibration_defers_only_to_a_method_that_beats_the_vote_out_of_sample() -> None:
    # the vote decides here (stack=False); the same selection holds for the stack (below)
    rng = np.random.default_rng(2)
    markets = [
        simulate_market(MarketSpec(n_series=4, n_steps=300, max_lag=1, seed=920_000 + k))
        for k in range(3)
    ]
    noise = [rng.exponential(1.0, m.graph[:1].shape) for m in markets]
    # m1 decides perfectly but its evidence says nothing: the vote cannot match it
    decisive = [
        [MethodResult("m1", m.graph[:1].copy(), z), MethodResult("m2", z > 9, z)]
        for m, z in zip(markets, noise, strict=True)
    ]
    cal = fit_calibration(markets, decisive, stack=False)
    assert cal.defer_to == "m1" and cal.rule_f1["m1"] == 1.0 > cal.rule_f1["vote"]
    cons = consensus(decisive[0], cal, markets[0].names)
    assert cons.rule == "defer:m1" and (cons.edges == markets[0].graph[:1]).all()
    # an abstaining deferred method leaves the decision to the vote
    absent = [MethodResult("m1", decisive[0][0].edges, noise[0], abstained=True), decisive[0][1]]
    assert consensus(absent, cal, markets[0].names).rule == "vote"
    # evidence that separates the links but own decisions that miss them: the vote is kept
    informative = [
        [
            MethodResult(name, np.zeros_like(m.graph[:1]), np.where(m.graph[:1], 6.0, 0.1) + z)
            for name in ("m1", "m2")
        ]
        for m, z in zip(markets, noise, strict=True)
    ]
    kept = fit_calibration(markets, informative, stack=False)
    assert kept.defer_to == "" and kept.rule_f1["vote"] > kept.rule_f1["m1"]
    assert consensus(informative[0], kept, markets[0].names).rule == "vote"
    stacked = fit_calibration(markets, informative)
    assert stacked.defer_to == "" and stacked.rule_f1["stack"] > stacked.rule_f1["m1"]
    assert consensus(informative[0], stacked, markets[0].names).rule == "stack"


def _echo_results(market: Market, rng: np.random.Generator) -> list[MethodResult]:
    """Two methods whose evidence on a true link echoes, 0.6 times as strong, at the pair's
    other lag: echoes and true links overlap in strength; only the pair tells them apart."""
    truth = market.graph[:2]
    out = []
    for name in ("m1", "m2"):
        level = rng.uniform(2.5, 10.0, truth.shape[1:])[None]
        pair = truth.any(axis=0)[None]
        s = np.where(truth, level, np.where(pair, 0.6 * level, 0.0))
        s = s + rng.exponential(0.2, truth.shape)
        out.append(MethodResult(name, s > 1.3, s))
    return out


def _echo_markets() -> tuple[list[Market], list[list[MethodResult]]]:
    """Four small simulated markets and, for each, methods whose evidence has lag echoes."""
    rng = np.random.default_rng(5)
    markets = [
        simulate_market(
            MarketSpec(n_series=5, n_steps=300, max_lag=2, density=1.5, seed=930_000 + k)
        )
        for k in range(4)
    ]
    return markets, [_echo_results(m, rng) for m in markets]


def test_continuous_stack_rejects_lag_echoes_the_binary_votes_accept() -> None:
    markets, results = _echo_markets()
    train, test = slice(0, 3), 3
    vote = fit_calibration(markets[train], results[train], select=False, stack=False)
    stack = fit_calibration(markets[train], results[train], select=False)
    m, res = markets[test], results[test]
    mask = cross_mask(2, m.n)
    truth = m.graph[:2] & mask
    by_vote = consensus(res, vote, m.names)
    by_stack = consensus(res, stack, m.names)
    assert by_stack.rule == "stack" and by_stack.stacked is not None
    # strong echoes get edge votes: a binary vote cannot tell them from weaker true links
    echoes = truth.any(axis=0)[None] & ~truth & mask
    assert by_vote.votes_for[echoes].max() >= 1
    assert f1_score(by_vote.edges, truth, mask)[2] < 0.9
    assert f1_score(by_stack.edges, truth, mask)[2] == 1.0
    # the per-method votes and the router's posterior stay beside the stack's decision
    assert (
        by_stack.votes_for.shape == truth.shape and (by_stack.posterior == by_vote.posterior).all()
    )
    conf = by_stack.confidence()
    assert (conf[by_stack.edges] == by_stack.stacked[by_stack.edges]).all()
    table = consensus_table(Analysis(m.names, res, by_stack, 0, 0, 0, effects=[], causes=[]))
    assert "rule: stack, quorum:" in table and "| stack P |" in table
    assert table.count("**edge**") == int(by_stack.edges.sum())


def test_interventions_use_the_scm_graph_and_the_report_names_both_graphs(
    tmp_path: Path,
) -> None:
    markets, results = _echo_markets()
    cal = fit_calibration(markets[:3], results[:3], select=False)
    m, res = markets[3], results[3]
    cons = consensus(res, cal, m.names)
    a = interventions(m.data, m.names, res, cons, 0, m.crash_start, m.origin, 10, 0, 0)
    scm = cons.probable()
    assert a.scm_graph is not None and (a.scm_graph == scm).all()
    # the vote keeps the lag echoes the stack rejects: the two graphs differ here
    assert (scm & ~cons.edges).any()
    # the do-effects are those of the SCM fitted on the SCM graph, not on the discovery graph
    on_scm = do_effects(m.data, scm, m.origin, m.crash_start, 10, bootstrap=0)
    assert [e.estimate for e in a.effects] == [e.estimate for e in on_scm]
    table = consensus_table(a)
    assert "| confidence | SCM |" in table
    assert table.count("| yes |") == int(scm.sum())
    assert (
        f"SCM graph (interventions: links the vote finds more likely than not): {int(scm.sum())} links, {int((scm & ~cons.edges).sum())} of them"
        in table
    )
    assert f"fitted on the SCM graph ({int(scm.sum())} links;" in intervention_table(a)
    png = draw_graph(a, tmp_path / "g.png")
    assert png.stat().st_size > 1000


def test_stack_quorum_blocks_links_with_too_few_votes() -> None:
    rng = np.random.default_rng(6)
    markets = [
        simulate_market(
            MarketSpec(n_series=5, n_steps=300, max_lag=2, density=1.5, seed=931_000 + k)
        )
        for k in range(3)
    ]
    results = [_echo_results(m, rng) for m in markets]
    cal = fit_calibration(markets, results, select=False)
    assert cal.stack_quorum in (0, 1, 2)
    res = [
        results[0][0],
        MethodResult("m2", results[0][1].edges, np.zeros_like(results[0][1].strength)),
    ]
    cal.stack_quorum = 2
    cons = consensus(res, cal, markets[0].names)
    assert cons.quorum == 2 and (cons.votes_for[cons.edges] >= 2).all()
    assert not cons.edges.any()  # m2 never votes edge: nothing reaches the quorum
    cal.stack_quorum = 0
    assert consensus(res, cal, markets[0].names).edges.any()


def test_stacked_calibration_round_trips_through_json() -> None:
    rng = np.random.default_rng(7)
    markets = [
        simulate_market(MarketSpec(n_series=4, n_steps=300, max_lag=2, seed=932_000 + k))
        for k in range(2)
    ]
    results = [_echo_results(m, rng) for m in markets]
    cal = fit_calibration(markets, results, select=False)
    again = Calibration.from_json(json.loads(json.dumps(cal.to_json())))
    a = consensus(results[0], cal, markets[0].names)
    b = consensus(results[0], again, markets[0].names)
    assert a.stacked is not None and b.stacked is not None
    assert np.allclose(a.stacked, b.stacked) and (a.edges == b.edges).all()
