"""Edge-by-edge consensus of the discovery methods through the pattern-5 consensus router.

Every method is a voter. On one lagged link a method's evidence (its ``strength``:
``-log10 p`` or ``|coefficient|``) is turned into a vote by its *evidence map*, learned
on simulated markets of the same shape (:mod:`apps.causal.calibrate`). The maps come
from one stacked model (Wolpert 1992) fitted on every method's evidence at once, a
monotone additive logistic regression ``logit P(edge) = b + sum_m g_m(strength_m)``, so
evidence two methods share (Granger and PCMCI both test partial correlations) is not
counted twice. Method ``m``'s map gives ``sigmoid(g_m + b/M)``: the voter answers
``edge`` when its evidence outweighs its share of the base rate, else ``no_edge``, with
the probability of its answer as its confidence. How far a method's vote can move the
posterior is its learned reliability (about 0 for a method the stack ignores).

The router's ``weighted`` rule adds ``log(p / (1 - p))`` per vote, ``p`` being the
voter's reliability at that confidence under the router's learner
(:class:`LogOddsReliability`, which can also discount a voter by a weight ``w_m``; the
stacked maps use ``w_m = 1``), so its posterior is the stacked probability (plus a
learned offset when a method abstains). A link is accepted when it is among the ``k``
most probable links, ``k`` maximizing the expected F1 of the graph
(:func:`expected_f1_threshold`; or, under the older ``theta`` rule, when its posterior
reaches ``theta``) **and** at least ``quorum`` methods voted for it (the quorum rule),
so no single method can add a link on its own when ``quorum >= 2``.

The decision itself uses every method's *continuous* evidence at once, not only its
binary vote: a stacked logistic model per link (:func:`edge_features`,
:func:`stack_probability`) on each method's capped strength, its square root, whether
this lag is the method's strongest for the pair (a true link sits at one lag; its
neighbours only echo it through the series' autocorrelation) and by how much, learned
on simulated markets of the same shape with known graphs (disjoint seeds). Its
calibrated ``P(edge)`` (``Consensus.stacked``) accepts the links maximizing expected F1,
among those with at least ``stack_quorum`` votes (the learned quorum; the votes and the
router's posterior stay in the edge table).

Calibration may instead learn that, for this data shape, one method's own decisions beat
the stack out of sample (``Calibration.defer_to``, chosen by cross-validation over the
calibration markets); the links accepted are then that method's, the posteriors and
votes are still the router's, and the consensus says which rule decided
(``Consensus.rule``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from apps.causal.records import BoolArray, FloatArray, MethodResult, cross_mask
from patterns.consensus_router import (
    ConsensusRouter,
    LabelSchema,
    Question,
    RouterSettings,
    Vote,
    VoteStatus,
)
from patterns.consensus_router.reliability import ReliabilityLearner

EDGE, NO_EDGE = "edge", "no_edge"
SCHEMA = LabelSchema((EDGE, NO_EDGE))
CONFIDENCE_BINS = (0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
PROB_CLIP = 1e-3
NDArrayInt = NDArray[np.int64]


@dataclass(slots=True)
class EvidenceMap:
    """A method's binned evidence -> class-balanced probability of a real link."""

    edges: list[float]  # increasing bin edges on the strength scale (first is 0)
    prob: list[float]  # P_bal(edge | bin), one per bin

    def __call__(self, strength: FloatArray) -> FloatArray:
        idx = np.clip(
            np.searchsorted(self.edges, strength, side="right") - 1, 0, len(self.prob) - 1
        )
        out: FloatArray = np.asarray(self.prob)[idx]
        return out


@dataclass(slots=True)
class Calibration:
    """What calibration learned for one data shape.

    Attributes:
        maps: per method, its evidence map.
        weights: per method, its learned log-odds weight (the reliability of its votes).
        theta: posterior threshold of the consensus.
        quorum: least number of ``edge`` votes for a link.
        shape: (n_series, n_steps, max_lag) it was learned for.
        markets: seeds of the calibration markets.
        single_f1: per method, its own F1 on the calibration markets.
        consensus_f1: the consensus F1 on the calibration markets at (theta, quorum).
        rule: ``"theta"``: a link is accepted when its posterior reaches ``theta``;
            ``"expected_f1"``: the posteriors are calibrated probabilities and the links
            accepted are the most probable ``k``, ``k`` maximizing the expected F1 (see
            :func:`expected_f1_top`); ``theta`` is then unused.
        intercept: log-odds added to the router's posterior when every method answered
            (the base rate share the maps do not carry; 0 when maps carry all of it).
        abstain_offset: per method, log-odds added when it abstains (its share of the
            base rate plus what its abstention itself says).
        reliability: per method, the largest log-odds its vote can move the posterior
            (what the stacked calibration learned it is worth; ~0 means ignored).
        defer_to: "" when the vote decides; else the method whose own decisions are
            accepted (it beat the vote in cross-validation on the calibration markets;
            the vote decides when that method abstains).
        rule_f1: cross-validated F1 of each candidate rule ("stack" or "vote", and each method).
        stack_methods: the methods whose evidence the continuous stack reads, in order
            (empty: no stack; the router's vote decides).
        stack_mean, stack_scale: standardization of :func:`edge_features`.
        stack_coef: logistic coefficients on the standardized features, intercept last.
        stack_quorum: least number of ``edge`` votes for a link the stack accepts.
    """

    maps: dict[str, EvidenceMap]
    weights: dict[str, float]
    theta: float
    quorum: int
    shape: tuple[int, int, int]
    markets: list[int] = field(default_factory=list)
    single_f1: dict[str, float] = field(default_factory=dict)
    consensus_f1: float = 0.0
    rule: str = "theta"
    intercept: float = 0.0
    abstain_offset: dict[str, float] = field(default_factory=dict)
    reliability: dict[str, float] = field(default_factory=dict)
    defer_to: str = ""
    rule_f1: dict[str, float] = field(default_factory=dict)
    stack_methods: list[str] = field(default_factory=list)
    stack_mean: list[float] = field(default_factory=list)
    stack_scale: list[float] = field(default_factory=list)
    stack_coef: list[float] = field(default_factory=list)
    stack_quorum: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain data for the on-disk cache."""
        return {
            "maps": {k: {"edges": v.edges, "prob": v.prob} for k, v in self.maps.items()},
            "weights": self.weights,
            "theta": self.theta,
            "quorum": self.quorum,
            "shape": list(self.shape),
            "markets": self.markets,
            "single_f1": self.single_f1,
            "consensus_f1": self.consensus_f1,
            "rule": self.rule,
            "intercept": self.intercept,
            "abstain_offset": self.abstain_offset,
            "reliability": self.reliability,
            "defer_to": self.defer_to,
            "rule_f1": self.rule_f1,
            "stack_methods": self.stack_methods,
            "stack_mean": self.stack_mean,
            "stack_scale": self.stack_scale,
            "stack_coef": self.stack_coef,
            "stack_quorum": self.stack_quorum,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Calibration:
        """Read what :meth:`to_json` wrote (raises KeyError/TypeError/ValueError on bad data)."""
        return cls(
            maps={
                k: EvidenceMap(list(v["edges"]), list(v["prob"])) for k, v in raw["maps"].items()
            },
            weights={str(k): float(v) for k, v in raw["weights"].items()},
            theta=float(raw["theta"]),
            quorum=int(raw["quorum"]),
            shape=(int(raw["shape"][0]), int(raw["shape"][1]), int(raw["shape"][2])),
            markets=[int(s) for s in raw.get("markets", [])],
            single_f1={str(k): float(v) for k, v in raw.get("single_f1", {}).items()},
            consensus_f1=float(raw.get("consensus_f1", 0.0)),
            rule=str(raw.get("rule", "theta")),
            intercept=float(raw.get("intercept", 0.0)),
            abstain_offset={str(k): float(v) for k, v in raw.get("abstain_offset", {}).items()},
            reliability={str(k): float(v) for k, v in raw.get("reliability", {}).items()},
            defer_to=str(raw.get("defer_to", "")),
            rule_f1={str(k): float(v) for k, v in raw.get("rule_f1", {}).items()},
            stack_methods=[str(m) for m in raw.get("stack_methods", [])],
            stack_mean=[float(v) for v in raw.get("stack_mean", [])],
            stack_scale=[float(v) for v in raw.get("stack_scale", [])],
            stack_coef=[float(v) for v in raw.get("stack_coef", [])],
            stack_quorum=int(raw.get("stack_quorum", 0)),
        )


@dataclass(slots=True)
class EdgeVotes:
    """Every method's vote on every lagged link, as arrays (method, L, n, n)."""

    methods: list[str]
    answered: BoolArray  # the method voted (did not abstain)
    says_edge: BoolArray
    confidence: FloatArray


@dataclass(slots=True)
class Consensus:
    """The consensus graph with, per link, its posterior, votes and confidence.

    Attributes:
        edges: accepted links (L, n, n).
        posterior: the router's weighted posterior of ``edge`` per link.
        votes_for: number of methods voting ``edge`` per link.
        votes: the per-method votes behind it.
        theta: the threshold used; ``quorum``: the quorum used.
        decided_by_router: links put to the router one by one (the rest are tallied
            the same way in bulk; see :func:`consensus`).
        rule: what accepted the links: ``"stack"``, ``"vote"`` or ``"defer:<method>"``.
        offset: log-odds turning ``posterior`` into a calibrated probability (see
            :func:`calibration_offset`).
        stacked: the continuous stack's calibrated P(edge) per link (None without a stack).
    """

    edges: BoolArray
    posterior: FloatArray
    votes_for: NDArrayInt
    votes: EdgeVotes
    theta: float
    quorum: int
    decided_by_router: int = 0
    rule: str = "vote"
    offset: float = 0.0
    stacked: FloatArray | None = None

    def probability(self) -> FloatArray:
        """The vote's calibrated probability of a link per link (the router's posterior plus
        the offset; the continuous stack's own is ``stacked``)."""
        post = np.clip(self.posterior, 1e-12, 1 - 1e-12)
        out: FloatArray = 1.0 / (1.0 + np.exp(-(np.log(post / (1 - post)) + self.offset)))
        return out

    def probable(self) -> BoolArray:
        """Links the vote finds more likely than not (:meth:`probability` >= 1/2): the graph
        interventions use. Measured on simulated markets disjoint from the benchmark's, this
        set gave smaller do-effect errors and better root-cause ranks than the continuous
        stack's ``stacked >= 1/2`` (whose links are tuned for F1, not for effect sizes)."""
        lags, n, _ = self.edges.shape
        out: BoolArray = (self.probability() >= 0.5) & cross_mask(lags, n)
        return out

    def confidence(self) -> FloatArray:
        """Confidence of the consensus answer per link: the probability of what it decided
        (the stack's probability when there is a stack, else the router's posterior)."""
        p = self.posterior if self.stacked is None else self.stacked
        out: FloatArray = np.where(self.edges, p, 1.0 - p)
        return out


class LogOddsReliability(ReliabilityLearner):
    """The pattern-5 learner with one learned log-odds weight per voter.

    A vote reported with confidence ``c`` by voter ``m`` is right with probability
    ``sigmoid(w_m * logit(c))``: ``w_m = 1`` trusts the voter's calibrated confidence as
    is, ``w_m < 1`` discounts evidence another voter already carries, ``w_m = 0`` ignores
    the voter. Voters without a weight fall back to the Beta learner.
    """

    def __init__(self, weights: Mapping[str, float]) -> None:
        super().__init__(prior_mean=0.6, prior_strength=2.0, bins=CONFIDENCE_BINS)
        self.weights = {k: max(0.0, float(v)) for k, v in weights.items()}

    def accuracy(self, voter: str, confidence: float | None = None) -> float:
        """``sigmoid(w * logit(confidence))`` for a weighted voter."""
        if confidence is None or voter not in self.weights:
            return super().accuracy(voter, confidence)
        c = min(max(confidence, PROB_CLIP), 1 - PROB_CLIP)
        return 1.0 / (1.0 + math.exp(-self.weights[voter] * math.log(c / (1 - c))))


def make_router(weights: Mapping[str, float] | None = None) -> ConsensusRouter:
    """A consensus router over no live voters, whose learner holds the methods' reliability.

    Votes computed by the methods are replayed into its ``tally`` (the router's own rule
    and learner); :func:`live_router` builds one whose voters are callables instead.
    """
    from patterns.consensus_router import VoterPool, parse_model_list

    settings = _router_settings()
    pool = VoterPool(
        parse_model_list({"model_list": [_entry("noop")]}), settings, {"noop": lambda q: None}
    )
    return ConsensusRouter(pool, LogOddsReliability(weights or {}))


def _router_settings() -> RouterSettings:
    return RouterSettings(
        num_retries=0,
        voter_timeout_s=30.0,
        min_decision_confidence=0.0,
        confidence_bins=CONFIDENCE_BINS,
        reliability_prior_mean=0.6,
        reliability_prior_strength=2.0,
        byzantine_f=1,
    )


def _entry(name: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "litellm_params": {"model": f"pyvoter/{name}", "timeout": 30.0},
        "model_info": {"voter": {"tier": 0}},
    }


def method_votes(results: Sequence[MethodResult], maps: Mapping[str, EvidenceMap]) -> EdgeVotes:
    """Each method's vote on each link from its evidence map (abstained methods do not vote)."""
    methods = [r.method for r in results]
    shape = (len(results), *results[0].edges.shape)
    answered = np.zeros(shape, dtype=bool)
    says = np.zeros(shape, dtype=bool)
    conf = np.full(shape, 0.5)
    mask = cross_mask(results[0].max_lag, results[0].n)
    for k, r in enumerate(results):
        if r.abstained or r.method not in maps:
            continue
        p = np.clip(maps[r.method](r.strength), PROB_CLIP, 1 - PROB_CLIP)
        answered[k] = mask
        says[k] = (p > 0.5) & mask
        conf[k] = np.where(p > 0.5, p, 1.0 - p)
    return EdgeVotes(methods, answered, says, conf)


def _votes_of(votes: EdgeVotes, tau: int, j: int, i: int) -> list[Vote]:
    out = []
    for k, name in enumerate(votes.methods):
        if not votes.answered[k, tau, j, i]:
            out.append(Vote(voter=name, status=VoteStatus.ABSTAINED))
            continue
        key = EDGE if votes.says_edge[k, tau, j, i] else NO_EDGE
        out.append(
            Vote(
                voter=name,
                status=VoteStatus.ANSWERED,
                key=key,
                value=key,
                confidence=float(votes.confidence[k, tau, j, i]),
            )
        )
    return out


def edge_question(names: Sequence[str], tau: int, j: int, i: int) -> Question:
    """The question put to the voters about one lagged link."""
    return Question(
        id=f"{names[j]}->{names[i]}@{tau + 1}",
        text=f"Does {names[j]} at t-{tau + 1} cause {names[i]} at t?",
        schema=SCHEMA,
        payload={"tau": tau, "source": j, "target": i},
    )


def consensus(
    results: Sequence[MethodResult],
    calibration: Calibration,
    names: Sequence[str],
    router: ConsensusRouter | None = None,
) -> Consensus:
    """The consensus graph of ``results`` under ``calibration``'s maps, reliability and rule.

    Every link is tallied by the router's ``weighted`` rule with its learner. Votes are
    identical for links whose evidence falls in the same bins, so each distinct vote
    pattern is tallied once and shared (the outcome is the same as one tally per link).
    """
    router = router or make_router(calibration.weights)
    votes = method_votes(results, calibration.maps)
    _, lags, n, _ = votes.says_edge.shape
    posterior = np.zeros((lags, n, n))
    memo: dict[tuple[Any, ...], float] = {}
    mask = cross_mask(lags, n)
    for tau, j, i in zip(*np.nonzero(mask), strict=True):
        key = (
            tuple(votes.answered[:, tau, j, i]),
            tuple(votes.says_edge[:, tau, j, i]),
            tuple(np.round(votes.confidence[:, tau, j, i], 6)),
        )
        if key not in memo:
            question = edge_question(names, int(tau), int(j), int(i))
            tally = router.tally(question, _votes_of(votes, int(tau), int(j), int(i)), "weighted")
            memo[key] = float(tally.support.get(EDGE, 0.0))
        posterior[tau, j, i] = memo[key]
    votes_for = (votes.says_edge & votes.answered).sum(axis=0)
    theta = calibration.theta
    offset = calibration_offset(results, calibration)
    if calibration.rule == "expected_f1":
        theta = expected_f1_threshold(posterior[mask], offset)
    edges = (posterior >= theta) & (votes_for >= calibration.quorum) & mask
    rule = "vote"
    quorum = calibration.quorum
    stacked = stack_probability(results, calibration)
    if stacked is not None:
        theta = expected_f1_threshold(stacked[mask], 0.0)
        quorum = calibration.stack_quorum
        edges = (stacked >= theta) & (votes_for >= quorum) & mask
        rule = "stack"
    deferred = [r for r in results if r.method == calibration.defer_to and not r.abstained]
    if deferred:
        edges = deferred[0].edges & mask
        rule = f"defer:{calibration.defer_to}"
    return Consensus(
        edges, posterior, votes_for, votes, theta, quorum, len(memo), rule, offset, stacked
    )


STRENGTH_CAP = 12.0  # -log10 p is capped here in the stack's features
COEF_SCALE, COEF_CAP = 20.0, 0.5  # |coefficient| features: min(|c|, cap) * scale
FEATURES_PER_METHOD = 5


def edge_features(results: Sequence[MethodResult], methods: Sequence[str]) -> FloatArray:
    """Per link, every method's continuous evidence (L, n, n, 5 * len(methods)).

    For each method in ``methods``: its capped strength ``s`` (``-log10 p`` capped at
    :data:`STRENGTH_CAP`; VARLiNGAM's ``|coefficient|`` capped at 0.5 and scaled by 20),
    ``sqrt(s)``, ``1`` when this lag is the pair's strongest for the method, how far
    ``s`` exceeds the pair's strongest other lag (0 when it does not), and ``1`` when the
    method abstained (its evidence is then 0).
    """
    by = {r.method: r for r in results}
    first = results[0]
    shape = first.strength.shape
    cols: list[FloatArray] = []
    for name in methods:
        r = by.get(name)
        absent = r is None or r.abstained
        if r is None or r.abstained:
            s = np.zeros(shape)
        elif name == "varlingam":
            s = np.minimum(r.strength, COEF_CAP) * COEF_SCALE
        else:
            s = np.minimum(r.strength, STRENGTH_CAP)
        if shape[0] > 1:
            other = np.stack([np.delete(s, t, axis=0).max(axis=0) for t in range(shape[0])])
        else:
            other = np.zeros(shape)
        cols += [
            s,
            np.sqrt(s),
            (s >= other).astype(float),
            np.maximum(s - other, 0.0),
            np.full(shape, float(absent)),
        ]
    out: FloatArray = np.stack(cols, axis=-1)
    return out


def stack_probability(
    results: Sequence[MethodResult], calibration: Calibration
) -> FloatArray | None:
    """The continuous stack's calibrated P(edge) per link (0 off the cross links), or None
    when ``calibration`` has no stack."""
    if not calibration.stack_coef:
        return None
    x = edge_features(results, calibration.stack_methods)
    z = (x - np.asarray(calibration.stack_mean)) / np.asarray(calibration.stack_scale)
    coef = np.asarray(calibration.stack_coef)
    logit = np.clip(z @ coef[:-1] + coef[-1], -30.0, 30.0)
    lags, n = results[0].max_lag, results[0].n
    out: FloatArray = np.where(cross_mask(lags, n), 1.0 / (1.0 + np.exp(-logit)), 0.0)
    return out


def calibration_offset(results: Sequence[MethodResult], calibration: Calibration) -> float:
    """Log-odds turning the router's posterior into a calibrated P(edge) for these results."""
    return calibration.intercept + sum(
        calibration.abstain_offset.get(r.method, 0.0) for r in results if r.abstained
    )


def expected_f1_threshold(posterior: FloatArray, offset: float) -> float:
    """The posterior threshold accepting the ``k`` most probable links that maximize expected F1.

    With calibrated probabilities ``p = sigmoid(logit(posterior) + offset)``, accepting
    the top ``k`` has expected F1 about ``2 * sum_top_k(p) / (k + sum(p))`` (Jansche 2007;
    Nan, Chai, Lee & Chieu 2012, "Optimizing F-measures: a tale of two approaches"); the
    threshold returned is the ``k``-th largest posterior (1.0 + 1e-12 when accepting
    none is best, i.e. every ``p`` is ~0).
    """
    if posterior.size == 0:
        return 1.0 + 1e-12
    post = np.clip(posterior, 1e-12, 1 - 1e-12)
    p = 1.0 / (1.0 + np.exp(-(np.log(post / (1 - post)) + offset)))
    order = np.argsort(-posterior, kind="stable")
    cum = np.cumsum(p[order])
    score = 2 * cum / (np.arange(1, len(p) + 1) + p.sum())
    k = int(np.argmax(score))
    if score[k] <= 1e-9:
        return 1.0 + 1e-12
    return float(posterior[order[k]])


class LiveVoting:
    """The same consensus with the methods as live callable voters of a pattern-5 router.

    Each voter is a :class:`~patterns.consensus_router.CallableVoter` that reads its
    method's vote on the link named in the question's payload; the router asks them
    all (``ENSEMBLE`` mode, ``weighted`` rule) through litellm's Router, as any model
    voter would be asked. Used for the contested links (at least one ``edge`` vote) of
    an analysis; the bulk path of :func:`consensus` gives the same posteriors.
    """

    def __init__(self, votes: EdgeVotes, calibration: Calibration) -> None:
        from patterns.consensus_router import CallableVoter, VoterPool, parse_model_list

        self.votes = votes
        callables = {
            name: CallableVoter(self._voter(k), in_thread=False)
            for k, name in enumerate(votes.methods)
        }
        pool = VoterPool(
            parse_model_list({"model_list": [_entry(name) for name in votes.methods]}),
            _router_settings(),
            callables,
        )
        self.router = ConsensusRouter(pool, LogOddsReliability(calibration.weights))

    def _voter(self, k: int) -> Any:
        def vote(q: Question) -> str | None:
            tau, j, i = (int(q.payload[x]) for x in ("tau", "source", "target"))
            if not self.votes.answered[k, tau, j, i]:
                return None  # the method abstained
            key = EDGE if self.votes.says_edge[k, tau, j, i] else NO_EDGE
            return json.dumps(
                {"answer": key, "confidence": float(self.votes.confidence[k, tau, j, i])}
            )

        return vote

    async def posteriors(
        self, names: Sequence[str], links: Sequence[tuple[int, int, int]]
    ) -> list[float]:
        """The router's posterior of ``edge`` for each (tau, source, target) link."""
        import asyncio

        from patterns.consensus_router import Mode

        decisions = await asyncio.gather(
            *[
                self.router.decide(edge_question(names, *link), mode=Mode.ENSEMBLE, rule="weighted")
                for link in links
            ]
        )
        out = []
        for d in decisions:
            support = next((s.tally.support for s in reversed(d.stages)), {})
            out.append(float(support.get(EDGE, 0.0)))
        return out


def live_posteriors(
    votes: EdgeVotes,
    calibration: Calibration,
    names: Sequence[str],
    links: Sequence[tuple[int, int, int]],
) -> list[float]:
    """:meth:`LiveVoting.posteriors` from synchronous code (its own event loop, in a worker thread)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    if not links:
        return []
    live = LiveVoting(votes, calibration)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, live.posteriors(names, links)).result()


def contested_links(cons: Consensus, limit: int) -> list[tuple[int, int, int]]:
    """Links with at least one ``edge`` vote, strongest posterior first, at most ``limit``."""
    lags, n, _ = cons.edges.shape
    mask = cross_mask(lags, n) & (cons.votes_for > 0)
    links = [(int(t), int(j), int(i)) for t, j, i in zip(*np.nonzero(mask), strict=True)]
    links.sort(key=lambda x: -cons.posterior[x])
    return links[:limit]


def apply_live(
    cons: Consensus, links: Sequence[tuple[int, int, int]], posteriors: Sequence[float]
) -> int:
    """Write the live router's posteriors into ``cons`` and re-decide those links.

    Returns:
        How many links the live router's posterior changed by more than 1e-9 (0 when the
        bulk tally and the live voters agree, as they should).
    """
    changed = 0
    for link, p in zip(links, posteriors, strict=True):
        if abs(cons.posterior[link] - p) > 1e-9:
            changed += 1
        cons.posterior[link] = p
        if cons.rule == "vote":
            cons.edges[link] = p >= cons.theta and cons.votes_for[link] >= cons.quorum
    cons.decided_by_router = len(links)
    return changed
