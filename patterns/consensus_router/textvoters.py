"""Cheap non-LLM voters for text questions, and example recall for few-shot prompts.

* :class:`HashingLogistic`: word uni/bi-gram and character trigram features hashed into
  a fixed-width vector (the hashing trick), multinomial logistic regression fitted by
  full-batch gradient descent with L2; its confidence is the predicted probability.
* :class:`KeywordModel`: a hand-written lexicon of weighted phrases per label (written
  from a task's policy, never fitted); it abstains when no phrase occurs.
* :class:`ExampleRecall`: the training examples nearest to a question (cosine over the
  same hashed features), rendered as few-shot lines: "few-shot with recalled examples".

All take the question's ``payload["text"]`` and return a
:class:`~patterns.consensus_router.callables.CallableReply` (or None to abstain), so
they plug into the pool as ``pyvoter/NAME`` callables behind the litellm Router.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from patterns.consensus_router.callables import CallableReply
from patterns.consensus_router.records import Question

TOKEN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
DEFAULT_DIM = 2**12


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


def hashed_features(text: str, dim: int = DEFAULT_DIM) -> NDArray[np.float64]:
    """L2-normalised hashed counts of word unigrams, bigrams and character trigrams."""
    words = TOKEN.findall(text.lower())
    feats = [f"w:{w}" for w in words] + [f"b:{a}_{b}" for a, b in itertools.pairwise(words)]
    flat = " ".join(words)
    feats += [f"c:{flat[i : i + 3]}" for i in range(max(0, len(flat) - 2))]
    vec = np.zeros(dim)
    for feat in feats:
        index, sign = _bucket(feat, dim)
        vec[index] += sign
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def _text(question: Question) -> str:
    return str(question.payload.get("text", question.text))


class HashingLogistic:
    """Multinomial logistic regression on hashed n-gram features."""

    def __init__(
        self, dim: int = DEFAULT_DIM, l2: float = 1e-3, steps: int = 300, rate: float = 2.0
    ) -> None:
        """Args:
        dim: hashed feature width.
        l2: L2 penalty on the weights.
        steps: gradient steps (full batch).
        rate: step size.
        """
        self.dim = dim
        self.l2 = l2
        self.steps = steps
        self.rate = rate
        self.labels: tuple[str, ...] = ()
        self.weights: NDArray[np.float64] = np.zeros((0, 0))
        self.bias: NDArray[np.float64] = np.zeros(0)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> HashingLogistic:
        """Fit on ``texts`` with gold ``labels``.

        Raises:
            ValueError: empty input, lengths differ, or fewer than two distinct labels.
        """
        if not texts or len(texts) != len(labels):
            raise ValueError(f"need as many labels as texts, got {len(texts)} and {len(labels)}")
        self.labels = tuple(sorted(set(labels)))
        if len(self.labels) < 2:
            raise ValueError(f"need two or more distinct labels, got {self.labels}")
        x = np.stack([hashed_features(t, self.dim) for t in texts])
        index = {label: i for i, label in enumerate(self.labels)}
        y = np.zeros((len(texts), len(self.labels)))
        y[np.arange(len(texts)), [index[label] for label in labels]] = 1.0
        w = np.zeros((self.dim, len(self.labels)))
        b = np.zeros(len(self.labels))
        for _ in range(self.steps):
            p = self._softmax(x @ w + b)
            grad = (p - y) / len(texts)
            w -= self.rate * (x.T @ grad + self.l2 * w)
            b -= self.rate * grad.sum(axis=0)
        self.weights, self.bias = w, b
        return self

    @staticmethod
    def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        result: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
        return result

    def proba(self, text: str) -> dict[str, float]:
        """Probability of each label for ``text``.

        Raises:
            RuntimeError: not fitted.
        """
        if not self.labels:
            raise RuntimeError("HashingLogistic is not fitted")
        p = self._softmax((hashed_features(text, self.dim) @ self.weights + self.bias)[None, :])
        return {label: float(v) for label, v in zip(self.labels, p[0], strict=True)}

    def __call__(self, question: Question) -> CallableReply:
        """Vote the most probable label, with its probability as confidence."""
        proba = self.proba(_text(question))
        label = max(proba, key=lambda k: proba[k])
        return CallableReply(label, proba[label])


@dataclass(frozen=True, slots=True)
class KeywordModel:
    """Weighted phrases per label; the label with the largest total wins.

    Attributes:
        lexicon: label -> {phrase: weight}; phrases match whole words, case-insensitive.
        default: the label to vote when no phrase occurs, or None to abstain.
    """

    lexicon: Mapping[str, Mapping[str, float]]
    default: str | None = None

    def scores(self, text: str) -> dict[str, float]:
        """Total weight of the phrases of each label found in ``text``."""
        folded = " " + " ".join(TOKEN.findall(text.lower())) + " "
        return {
            label: sum(w for phrase, w in phrases.items() if f" {phrase} " in folded)
            for label, phrases in self.lexicon.items()
        }

    def __call__(self, question: Question) -> CallableReply | None:
        """The leading label, confidence = its share of the matched weight (0.5 to 1)."""
        scores = self.scores(_text(question))
        total = sum(scores.values())
        if total <= 0:
            return None if self.default is None else CallableReply(self.default, 0.5)
        label = max(scores, key=lambda k: scores[k])
        top = scores[label]
        if sum(1 for v in scores.values() if v == top) > 1:
            return None
        return CallableReply(label, 0.5 + 0.5 * top / total)


# The k8s_safety keyword model: phrases an SRE would flag, written from the policy text
# in patterns.consensus_router.textsets.k8s_is_safe (not fitted to any item).
K8S_KEYWORDS: dict[str, dict[str, float]] = {
    "no": {
        "kube-system": 2.0,
        "delete namespace": 3.0,
        "statefulset": 1.5,
        "persistentvolumeclaim": 2.0,
        "to 0 replicas": 2.0,
        "1 ready node": 2.0,
        "prod-payments": 0.5,
        "prod-web": 0.5,
        "delete deployment": 1.0,
        "1 replica": 1.0,
    },
    "yes": {
        "roll back": 2.0,
        "rolling-restart": 2.0,
        "staging": 0.5,
        "dev-sandbox": 0.5,
        "team-ml": 0.5,
        "replicas": 0.3,
        "ready nodes": 1.0,
        "delete pod": 0.5,
    },
}


class ExampleRecall:
    """Nearest training examples of a question, as few-shot lines for a prompt template."""

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        ids: Sequence[str],
        dim: int = DEFAULT_DIM,
    ) -> None:
        """Args:
        texts: the training texts (the memory).
        labels: their gold labels.
        ids: their item ids (an item never recalls itself).
        dim: hashed feature width.

        Raises:
            ValueError: the sequences differ in length or are empty.
        """
        if not texts or not len(texts) == len(labels) == len(ids):
            raise ValueError("texts, labels and ids must be non-empty and of one length")
        self.texts = list(texts)
        self.labels = list(labels)
        self.ids = list(ids)
        self.dim = dim
        self.matrix = np.stack([hashed_features(t, dim) for t in texts])

    def nearest(self, text: str, k: int, exclude_id: str | None = None) -> list[int]:
        """Indices of the ``k`` most similar memories, most similar last (nearest the query)."""
        sims = self.matrix @ hashed_features(text, self.dim)
        order = [int(i) for i in np.argsort(-sims, kind="stable") if self.ids[i] != exclude_id]
        return list(reversed(order[:k]))

    def render(self, text: str, k: int, template: str, exclude_id: str | None = None) -> str:
        """The ``k`` nearest examples, each through ``template`` (``{text}``, ``{label}``)."""
        return "".join(
            template.format(text=self.texts[i], label=self.labels[i])
            for i in self.nearest(text, k, exclude_id)
        )


__all__ = [
    "K8S_KEYWORDS",
    "ExampleRecall",
    "HashingLogistic",
    "KeywordModel",
    "hashed_features",
]
