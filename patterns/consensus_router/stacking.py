"""A stacked combiner: voting weights learned jointly on labeled votes (a conditional logit).

:func:`patterns.consensus_router.voting.weighted` weighs each vote by its voter's own
reliability, which is the best rule when voters err independently (Nitzan & Paroush
1982). Real pools are not independent: two text classifiers fitted on the same words make
the same mistakes, and the reliability-weighted rule then counts one mistake twice. The
stacked combiner learns the weights of all voters together, on votes whose gold answer is
known, by maximising the likelihood of

    P(answer = a | votes) ∝ exp(b_a + Σ_v [key_v = a] · (w_v · lo(c_v) + u_v))

where ``lo(c) = log((K-1) c / (1-c))`` is the log-odds of the vote's self-reported
confidence (``default_confidence`` when it reports none), ``w_v`` scales it, ``u_v`` is
the voter's weight regardless of confidence and ``b_a`` a bias per answer seen in the
training labels. A voter whose mistakes another already makes gets a smaller weight; an
abstention adds nothing. The weights are shared across answers, so the model has
``2 * voters + answers`` parameters and works for large answer spaces (sums, digits) as
well as yes/no. L2-penalised, fitted by full-batch gradient descent (numpy only).

Learn on one split, decide on another: the weights fitted on the votes of a question
must not score that question. ``fit`` wants votes that were themselves produced without
seeing the training answers (cross-fitted classifiers, LLM calls).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from patterns.consensus_router.records import Tally, Vote
from patterns.consensus_router.voting import _answered, _leader, _no_decision, _posterior_decision

CONFIDENCE_CLIP = 1e-3  # confidences are clipped to [clip, 1 - clip] before taking logs


class StackedCombiner:
    """Voting weights of a fixed set of voters, learned jointly on labeled votes."""

    def __init__(
        self,
        voters: Sequence[str],
        answer_space: int,
        l2: float = 1e-2,
        default_confidence: float = 0.7,
        steps: int = 400,
        rate: float = 0.5,
        per_answer: bool = False,
    ) -> None:
        """Args:
        voters: names of the voters whose votes are combined (others are ignored).
        answer_space: number of possible answers K (2 for yes/no).
        l2: L2 penalty on the weights (not on the per-answer biases).
        default_confidence: confidence of a vote that reports none.
        steps: gradient steps (full batch).
        rate: step size.
        per_answer: also learn a weight per (voter, training answer): a voter trusted
            more when it says "no" than when it says "yes". Adds ``voters * answers``
            parameters; for small answer spaces.

        Raises:
            ValueError: no voters, a repeated voter, ``answer_space`` < 2, a negative
                ``l2``, or ``default_confidence`` outside (0, 1).
        """
        if not voters:
            raise ValueError("StackedCombiner needs at least one voter")
        if len(set(voters)) != len(voters):
            raise ValueError(f"voters repeat a name: {list(voters)}")
        if answer_space < 2:
            raise ValueError(f"answer_space must be at least 2, got {answer_space}")
        if l2 < 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        if not 0.0 < default_confidence < 1.0:
            raise ValueError(f"default_confidence must be in (0, 1), got {default_confidence}")
        self.voters = tuple(voters)
        self.answer_space = answer_space
        self.l2 = l2
        self.default_confidence = default_confidence
        self.steps = steps
        self.rate = rate
        self.per_answer = per_answer
        self._index = {name: i for i, name in enumerate(self.voters)}
        self.weights: NDArray[np.float64] = np.zeros(2 * len(self.voters))
        self.bias: dict[str, float] = {}
        self.fitted = False

    def _log_odds(self, vote: Vote) -> float:
        c = self.default_confidence if vote.confidence is None else vote.confidence
        c = min(max(c, CONFIDENCE_CLIP), 1.0 - CONFIDENCE_CLIP)
        return math.log((self.answer_space - 1) * c / (1.0 - c))

    def features(self, votes: Sequence[Vote], answers: Sequence[str]) -> NDArray[np.float64]:
        """One row per answer in ``answers``: ``[lo(c_v), 1]`` for each voter naming it,
        then (with ``per_answer``) a 1 in the voter's column for that answer when the
        answer is one of the training labels."""
        voters = len(self.voters)
        labels = {a: i for i, a in enumerate(self.bias)} if self.per_answer else {}
        x = np.zeros((len(answers), 2 * voters + voters * len(labels)))
        row = {a: i for i, a in enumerate(answers)}
        for vote in votes:
            j = self._index.get(vote.voter)
            if j is None or not vote.answered or vote.key not in row:
                continue
            x[row[vote.key], 2 * j] += self._log_odds(vote)
            x[row[vote.key], 2 * j + 1] += 1.0
            if vote.key in labels:
                x[row[vote.key], 2 * voters + j * len(labels) + labels[vote.key]] += 1.0
        return x

    def _answers(self, votes: Sequence[Vote], candidates: Sequence[str]) -> list[str]:
        named = [v.key for v in votes if v.answered and v.key is not None]
        return list(dict.fromkeys([*candidates, *self.bias, *named]))

    def fit(
        self, rows: Sequence[tuple[Sequence[Vote], str]], candidates: Sequence[str] = ()
    ) -> StackedCombiner:
        """Learn the weights from ``(votes, gold answer)`` rows.

        ``candidates`` are answers scored even when no vote names them (the labels of a
        label schema); every gold answer of ``rows`` is scored too (it gets a bias).

        Raises:
            ValueError: no row.
        """
        if not rows:
            raise ValueError("StackedCombiner.fit needs at least one (votes, gold) row")
        golds = sorted({gold for _, gold in rows})
        self.bias = dict.fromkeys(golds, 0.0)
        problems = []
        for votes, gold in rows:
            answers = self._answers(votes, candidates)
            if gold in answers:
                problems.append((self.features(votes, answers), answers, answers.index(gold)))
        # Rows padded to the most answers any row scores; padding gets no probability.
        width = max(len(answers) for _, answers, _ in problems)
        n, f = len(problems), problems[0][0].shape[1]
        x = np.zeros((n, width, f))
        onehot = np.zeros((n, width, len(golds)))  # which answer's bias each slot takes
        mask = np.full((n, width), -np.inf)
        target = np.zeros((n, width))
        column = {a: i for i, a in enumerate(golds)}
        for r, (xr, answers, gold_index) in enumerate(problems):
            x[r, : len(answers)] = xr
            mask[r, : len(answers)] = 0.0
            target[r, gold_index] = 1.0
            for s, a in enumerate(answers):
                if a in column:
                    onehot[r, s, column[a]] = 1.0
        w = np.zeros(f)
        b = np.zeros(len(golds))
        for _ in range(self.steps):
            scores = x @ w + onehot @ b + mask
            scores -= scores.max(axis=1, keepdims=True)
            p = np.exp(scores)
            p /= p.sum(axis=1, keepdims=True)
            residual = (p - target) / n
            w -= self.rate * (np.einsum("rs,rsf->f", residual, x) + self.l2 * w)
            b -= self.rate * np.einsum("rs,rsg->g", residual, onehot)
        fitted_bias = {a: float(b[i]) for a, i in column.items()}
        self.weights, self.bias, self.fitted = w, fitted_bias, True
        return self

    def posterior(self, votes: Sequence[Vote], candidates: Sequence[str] = ()) -> dict[str, float]:
        """Probability of each answer named by a vote or in ``candidates``.

        Raises:
            RuntimeError: not fitted.
        """
        if not self.fitted:
            raise RuntimeError("StackedCombiner is not fitted")
        answers = self._answers(votes, candidates)
        if not answers:
            return {}
        scores = self.features(votes, answers) @ self.weights + np.array(
            [self.bias.get(a, 0.0) for a in answers]
        )
        p = np.exp(scores - scores.max())
        p /= p.sum()
        return {a: float(v) for a, v in zip(answers, p, strict=True)}

    def tally(
        self, votes: Sequence[Vote], candidates: Sequence[str] = (), min_confidence: float = 0.0
    ) -> Tally:
        """The answer with the highest stacked posterior, as a :class:`Tally` (rule
        ``"stacked"``). No decision without an answered vote of a known voter, on a tie,
        or when the winner's posterior is below ``min_confidence``.
        """
        answered, abstained = _answered(votes)
        known = [v for v in answered if v.voter in self._index]
        post = self.posterior(votes, candidates) if known else {}
        if not post:
            return _no_decision(
                "stacked",
                "no answered vote of a voter the combiner knows",
                post,
                len(answered),
                abstained,
            )
        key, top, tied = _leader(post)
        if tied:
            return _no_decision(
                "stacked", "tie in stacked posterior", post, len(answered), abstained
            )
        return _posterior_decision(
            "stacked",
            key,
            top,
            post,
            len(answered),
            abstained,
            min_confidence,
            "stacked posterior",
            f"{len(known)} known voters",
        )

    def weight_of(self, voter: str) -> tuple[float, float]:
        """``(w, u)`` of ``voter``: its weight per log-odds unit and its flat weight.

        Raises:
            KeyError: an unknown voter (named).
        """
        j = self._index.get(voter)
        if j is None:
            raise KeyError(f"unknown voter {voter!r}; known: {list(self.voters)}")
        return float(self.weights[2 * j]), float(self.weights[2 * j + 1])
