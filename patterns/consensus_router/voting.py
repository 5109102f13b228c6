"""Voting rules over a set of votes: plurality, majority, reliability-weighted, Byzantine quorum."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence

from patterns.consensus_router.exceptions import QuorumConfigError
from patterns.consensus_router.records import Outcome, Tally, Vote

# Every rule returns a Tally. A tie, a missing majority or quorum, or no answered
# vote gives NO_DECISION with the support behind it, never an arbitrary pick.
TIE_TOLERANCE = 1e-9  # scores closer than this are a tie
ACCURACY_CLIP = 1e-3  # reliabilities are clipped to [clip, 1 - clip] before taking logs


def _answered(votes: Sequence[Vote]) -> tuple[list[Vote], int]:
    answered = [v for v in votes if v.answered]
    return answered, len(votes) - len(answered)


def _no_decision(
    rule: str, reason: str, support: dict[str, float], answered: int, abstained: int
) -> Tally:
    return Tally(rule, Outcome.NO_DECISION, None, 0.0, support, answered, abstained, reason)


def _posterior_decision(
    rule: str,
    key: str,
    top: float,
    post: dict[str, float],
    answered: int,
    abstained: int,
    min_confidence: float,
    prefix: str,
    source: str,
) -> Tally:
    """DECIDED for ``key`` at posterior ``top``, or no decision when ``top`` is below
    ``min_confidence``; reasons read ``{prefix} {top} of {key} below ...`` / ``... from {source}``."""
    if top < min_confidence:
        return _no_decision(
            rule,
            f"{prefix} {top:.3f} of {key!r} below {min_confidence}",
            post,
            answered,
            abstained,
        )
    return Tally(
        rule,
        Outcome.DECIDED,
        key,
        top,
        post,
        answered,
        abstained,
        f"{prefix} {top:.3f} from {source}",
    )


def _leader(support: dict[str, float]) -> tuple[str, float, bool]:
    """The leading key, its score, and whether another key ties it."""
    ranked = sorted(support.items(), key=lambda kv: kv[1], reverse=True)
    top_key, top = ranked[0]
    tied = len(ranked) > 1 and abs(ranked[1][1] - top) <= TIE_TOLERANCE
    return top_key, top, tied


def plurality(votes: Sequence[Vote]) -> Tally:
    """The answer with the most votes; a tie for first place is no decision.

    Confidence is the winner's share of the answered votes.
    """
    answered, abstained = _answered(votes)
    counts = {k: float(c) for k, c in Counter(v.key for v in answered if v.key).items()}
    if not counts:
        return _no_decision("plurality", "no answered vote", counts, 0, abstained)
    key, top, tied = _leader(counts)
    if tied:
        return _no_decision("plurality", "tie for first place", counts, len(answered), abstained)
    share = top / len(answered)
    return Tally(
        "plurality",
        Outcome.DECIDED,
        key,
        share,
        counts,
        len(answered),
        abstained,
        f"{int(top)} of {len(answered)} answered votes",
    )


def majority(votes: Sequence[Vote]) -> Tally:
    """The answer held by more than half of the answered votes, else no decision.

    Abstentions (malformed, timed out, failed) do not count towards the half; use
    :func:`byzantine_quorum` when they must.
    """
    answered, abstained = _answered(votes)
    counts = {k: float(c) for k, c in Counter(v.key for v in answered if v.key).items()}
    if not counts:
        return _no_decision("majority", "no answered vote", counts, 0, abstained)
    key, top, _ = _leader(counts)
    if 2 * top <= len(answered):
        return _no_decision(
            "majority",
            f"no majority: best {key!r} has {int(top)} of {len(answered)} answered votes",
            counts,
            len(answered),
            abstained,
        )
    return Tally(
        "majority",
        Outcome.DECIDED,
        key,
        top / len(answered),
        counts,
        len(answered),
        abstained,
        f"{int(top)} of {len(answered)} answered votes",
    )


def byzantine_quorum(votes: Sequence[Vote], f: int) -> Tally:
    """Act only when a Byzantine quorum of all voters asked agrees.

    With ``n >= 3f+1`` voters the quorum is ``ceil((n+f+1)/2)`` (``2f+1`` when
    ``n = 3f+1``): any two quorums share at least ``f+1`` voters, so at least one
    correct voter backs the decision (Malkhi & Reiter, Byzantine quorum systems, 1998).
    Abstentions count as voters that did not agree.

    Raises:
        QuorumConfigError: fewer than ``3f+1`` voters were asked.
    """
    n = len(votes)
    if n < 3 * f + 1:
        raise QuorumConfigError(n, f)
    answered, abstained = _answered(votes)
    counts = {k: float(c) for k, c in Counter(v.key for v in answered if v.key).items()}
    quorum = math.ceil((n + f + 1) / 2)
    if not counts:
        return _no_decision("quorum", f"no answered vote (quorum {quorum} of {n})", counts, 0, n)
    key, top, _ = _leader(counts)
    if top < quorum:
        return _no_decision(
            "quorum",
            f"no quorum: best {key!r} has {int(top)} of {quorum} needed from {n} voters (f={f})",
            counts,
            len(answered),
            abstained,
        )
    return Tally(
        "quorum",
        Outcome.DECIDED,
        key,
        top / n,
        counts,
        len(answered),
        abstained,
        f"quorum: {int(top)} of {n} voters agree, {quorum} needed (f={f})",
    )


def posterior(
    votes: Sequence[Vote],
    accuracy: Callable[[Vote], float],
    answer_space: int,
    candidates: Sequence[str] = (),
) -> dict[str, float]:
    """Posterior probability of each answered key under independent voters.

    Each vote is right with probability ``accuracy(vote)`` and otherwise names one of
    the other ``answer_space - 1`` answers uniformly (the "one-coin" model; the log-odds
    weighting ``log((K-1) p / (1-p))`` is the optimal weighted vote for independent
    voters, Nitzan & Paroush 1982). The prior over the K answers is uniform. Keys in
    ``candidates`` are listed even when no vote named them (a vote from a voter worse
    than chance is evidence for them); other unnamed answers share the remaining mass
    and are not listed.
    """
    k = max(2, answer_space, len(candidates))
    scores: dict[str, float] = {}
    for vote in votes:
        if not vote.answered or vote.key is None:
            continue
        p = min(max(accuracy(vote), ACCURACY_CLIP), 1.0 - ACCURACY_CLIP)
        scores[vote.key] = scores.get(vote.key, 0.0) + math.log((k - 1) * p / (1.0 - p))
    if not scores:
        return {}
    for key in candidates:
        scores.setdefault(key, 0.0)
    unnamed = max(0, k - len(scores))
    top = max(scores.values())
    top = max(top, 0.0) if unnamed else top
    exp = {key: math.exp(s - top) for key, s in scores.items()}
    total = sum(exp.values()) + unnamed * math.exp(-top)
    return {key: e / total for key, e in exp.items()}


def weighted(
    votes: Sequence[Vote],
    accuracy: Callable[[Vote], float],
    answer_space: int,
    min_confidence: float = 0.0,
    candidates: Sequence[str] = (),
) -> Tally:
    """The answer with the highest reliability-weighted posterior (see :func:`posterior`).

    No decision on a tie, with no answered vote, or when the winner's posterior is
    below ``min_confidence``.
    """
    answered, abstained = _answered(votes)
    post = posterior(votes, accuracy, answer_space, candidates)
    if not post:
        return _no_decision("weighted", "no answered vote", post, 0, abstained)
    key, top, tied = _leader(post)
    if tied:
        return _no_decision("weighted", "tie in weighted support", post, len(answered), abstained)
    return _posterior_decision(
        "weighted",
        key,
        top,
        post,
        len(answered),
        abstained,
        min_confidence,
        "posterior",
        f"{len(answered)} answered votes",
    )


def confidence_weighted(votes: Sequence[Vote], answer_space: int, default: float = 0.7) -> Tally:
    """The answer with the largest sum of the voters' own log-odds, ``log((K-1) c / (1-c))``.

    Uses each vote's self-reported confidence ``c`` (``default`` when it reports none),
    nothing learned: the one-coin posterior of :func:`posterior` with accuracy = confidence.
    No decision on a tie or with no answered vote.
    """
    answered, abstained = _answered(votes)
    post = posterior(
        votes, lambda v: default if v.confidence is None else v.confidence, answer_space
    )
    if not post:
        return _no_decision("confidence", "no answered vote", post, 0, abstained)
    key, top, tied = _leader(post)
    if tied:
        return _no_decision("confidence", "tie in confidence", post, len(answered), abstained)
    return Tally(
        "confidence",
        Outcome.DECIDED,
        key,
        top,
        post,
        len(answered),
        abstained,
        f"confidence-weighted posterior {top:.3f} from {len(answered)} answered votes",
    )


def _trimmed_support(
    answered: Sequence[Vote], accuracy: Callable[[Vote], float], answer_space: int, f: int
) -> dict[str, float]:
    """Each answer's support without its ``f`` heaviest votes, a vote weighing
    ``log((K-1) p / (1-p))`` (``p``: its voter's learned accuracy, clipped; chance weighs 0)."""
    k = max(2, answer_space)
    behind: dict[str, list[float]] = {}
    for vote in answered:
        if vote.key is None:
            continue
        p = min(max(accuracy(vote), ACCURACY_CLIP), 1.0 - ACCURACY_CLIP)
        behind.setdefault(vote.key, []).append(max(0.0, math.log((k - 1) * p / (1.0 - p))))
    return {key: sum(sorted(ws)[: max(0, len(ws) - f)]) for key, ws in behind.items()}


def trimmed_weighted(
    votes: Sequence[Vote],
    accuracy: Callable[[Vote], float],
    answer_space: int,
    f: int,
) -> Tally:
    """Reliability-weighted vote that ``f`` lying voters cannot swing on their own.

    Each vote weighs ``log((K-1) p / (1-p))`` (``p`` = its learned accuracy, as in
    :func:`posterior`); each answer's support drops the ``f`` heaviest votes behind it.
    A voter that lies with a high learned reliability adds nothing to its answer, while
    an answer backed by several voters keeps all but its heaviest ``f``. The winner has
    the largest trimmed support; none left, or a tie, is no decision.
    """
    answered, abstained = _answered(votes)
    support = _trimmed_support(answered, accuracy, answer_space, f)
    if not support or max(support.values()) <= 0:
        return _no_decision(
            "trimmed",
            f"no answer backed by more than f={f} votes",
            support,
            len(answered),
            abstained,
        )
    key, top, tied = _leader(support)
    if tied:
        return _no_decision("trimmed", "tie in trimmed support", support, len(answered), abstained)
    total = sum(support.values())
    return Tally(
        "trimmed",
        Outcome.DECIDED,
        key,
        top / total,
        support,
        len(answered),
        abstained,
        f"trimmed support {top:.2f} of {total:.2f} (f={f} heaviest votes per answer dropped)",
    )


def reliable_quorum(
    votes: Sequence[Vote],
    accuracy: Callable[[Vote], float],
    answer_space: int,
    f: int,
    bound: float,
) -> Tally:
    """Act only when voters of enough learned reliability agree, beyond any ``f`` of them.

    Each vote weighs ``log((K-1) p / (1-p))`` as in :func:`trimmed_weighted` (``p`` = the
    voter's accuracy learned on labelled questions, so a voter no better than chance
    weighs 0). An answer qualifies when its support without its ``f`` heaviest votes is
    at least ``bound``: ``f`` lying voters, however reliable they were in training,
    cannot make an answer qualify on their own. Exactly one qualifying answer is
    decided; none, or two, is no decision (for the caller's fallback: a default, a
    human, a further voter).

    Raises:
        ValueError: ``bound`` is negative or ``f`` is negative.
    """
    if bound < 0 or f < 0:
        raise ValueError(f"bound and f must be >= 0, got bound={bound}, f={f}")
    answered, abstained = _answered(votes)
    support = _trimmed_support(answered, accuracy, answer_space, f)
    qualified = [key for key, s in support.items() if s >= bound and s > 0]
    if len(qualified) != 1:
        reason = (
            f"no answer has support {bound:.2f} beyond its {f} heaviest votes"
            if not qualified
            else f"{len(qualified)} answers reach the bound {bound:.2f}"
        )
        return _no_decision("reliable-quorum", reason, support, len(answered), abstained)
    key = qualified[0]
    total = sum(support.values())
    return Tally(
        "reliable-quorum",
        Outcome.DECIDED,
        key,
        support[key] / total if total > 0 else 1.0,
        support,
        len(answered),
        abstained,
        f"support {support[key]:.2f} beyond the {f} heaviest votes reaches {bound:.2f}",
    )


def agreement(votes: Sequence[Vote], key: str | None) -> float:
    """Fraction of the answered votes that name ``key`` (0 with none answered)."""
    answered = [v for v in votes if v.answered]
    if not answered or key is None:
        return 0.0
    return sum(v.key == key for v in answered) / len(answered)
