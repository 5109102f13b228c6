"""Cheap non-LLM voters for text questions, and example recall for few-shot prompts.

* :class:`HashingLogistic`: word uni/bi-gram and character trigram features hashed into
  a fixed-width vector (the hashing trick), multinomial logistic regression fitted by
  full-batch gradient descent with L2; its confidence is the predicted probability.
* :class:`EmbeddingLogistic`: the same regression on a language model's sentence
  embeddings (looked up by text from vectors computed in a batch, e.g. the local
  model's ``/v1/embeddings``); it abstains on a text it has no vector for.
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


def _softmax(z: NDArray[np.float64]) -> NDArray[np.float64]:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    result: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
    return result


class SoftmaxRegression:
    """Multinomial logistic regression on fixed-width vectors, full-batch gradient descent + L2."""

    def __init__(self, l2: float = 1e-3, steps: int = 300, rate: float = 2.0) -> None:
        """Args:
        l2: L2 penalty on the weights.
        steps: gradient steps (full batch).
        rate: step size.
        """
        self.l2 = l2
        self.steps = steps
        self.rate = rate
        self.labels: tuple[str, ...] = ()
        self.weights: NDArray[np.float64] = np.zeros((0, 0))
        self.bias: NDArray[np.float64] = np.zeros(0)

    def fit(self, x: NDArray[np.float64], labels: Sequence[str]) -> SoftmaxRegression:
        """Fit rows of ``x`` to gold ``labels``.

        Raises:
            ValueError: empty input, lengths differ, or fewer than two distinct labels.
        """
        if len(x) == 0 or len(x) != len(labels):
            raise ValueError(
                f"need as many labels as rows, got {len(x)} rows, {len(labels)} labels"
            )
        self.labels = tuple(sorted(set(labels)))
        if len(self.labels) < 2:
            raise ValueError(f"need two or more distinct labels, got {self.labels}")
        index = {label: i for i, label in enumerate(self.labels)}
        y = np.zeros((len(x), len(self.labels)))
        y[np.arange(len(x)), [index[label] for label in labels]] = 1.0
        w = np.zeros((x.shape[1], len(self.labels)))
        b = np.zeros(len(self.labels))
        for _ in range(self.steps):
            grad = (_softmax(x @ w + b) - y) / len(x)
            w -= self.rate * (x.T @ grad + self.l2 * w)
            b -= self.rate * grad.sum(axis=0)
        self.weights, self.bias = w, b
        return self

    def proba_of(self, vector: NDArray[np.float64]) -> dict[str, float]:
        """Probability of each label for one row.

        Raises:
            RuntimeError: not fitted.
        """
        if not self.labels:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        p = _softmax((vector @ self.weights + self.bias)[None, :])
        return {label: float(v) for label, v in zip(self.labels, p[0], strict=True)}


def _reply(proba: Mapping[str, float]) -> CallableReply:
    label = max(proba, key=lambda k: proba[k])
    return CallableReply(label, proba[label])


class HashingLogistic(SoftmaxRegression):
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
        super().__init__(l2, steps, rate)
        self.dim = dim

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> HashingLogistic:  # type: ignore[override]
        """Fit on ``texts`` with gold ``labels``.

        Raises:
            ValueError: empty input, lengths differ, or fewer than two distinct labels.
        """
        if not texts or len(texts) != len(labels):
            raise ValueError(f"need as many labels as texts, got {len(texts)} and {len(labels)}")
        super().fit(np.stack([hashed_features(t, self.dim) for t in texts]), labels)
        return self

    def proba(self, text: str) -> dict[str, float]:
        """Probability of each label for ``text``.

        Raises:
            RuntimeError: not fitted.
        """
        if not self.labels:
            raise RuntimeError("HashingLogistic is not fitted")
        return self.proba_of(hashed_features(text, self.dim))

    def __call__(self, question: Question) -> CallableReply:
        """Vote the most probable label, with its probability as confidence."""
        return _reply(self.proba(_text(question)))


class EmbeddingLogistic(SoftmaxRegression):
    """Multinomial logistic regression on sentence embeddings, looked up by text.

    ``vectors`` maps a text to its embedding (computed in a batch by a language model);
    each is scaled to unit length before use.
    """

    def __init__(
        self,
        vectors: Mapping[str, Sequence[float] | NDArray[np.float64]],
        l2: float = 1e-3,
        steps: int = 300,
        rate: float = 2.0,
    ) -> None:
        """Args:
        vectors: text -> embedding, every vector of one width.
        l2: L2 penalty on the weights.
        steps: gradient steps (full batch).
        rate: step size.

        Raises:
            ValueError: no vectors, or vectors of different widths.
        """
        super().__init__(l2, steps, rate)
        if not vectors:
            raise ValueError("EmbeddingLogistic needs at least one vector")
        self.vectors = {text: _unit(np.asarray(v, dtype=float)) for text, v in vectors.items()}
        widths = {v.shape for v in self.vectors.values()}
        if len(widths) != 1:
            raise ValueError(f"embeddings of different widths: {sorted(widths)}")
        width = next(iter(widths))
        self.center: NDArray[np.float64] = np.zeros(width)
        self.scale: NDArray[np.float64] = np.ones(width)

    def matrix(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """The unit embeddings of ``texts``, one row each.

        Raises:
            KeyError: a text has no embedding (named in the message).
        """
        missing = [t for t in texts if t not in self.vectors]
        if missing:
            raise KeyError(f"no embedding for {len(missing)} text(s), first: {missing[0]!r}")
        return np.stack([self.vectors[t] for t in texts])

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> EmbeddingLogistic:  # type: ignore[override]
        """Fit on the embeddings of ``texts`` with gold ``labels``.

        Each dimension is standardised on these texts and the rows scaled by
        ``1/sqrt(width)`` (unit length on average), so one step size fits every model.

        Raises:
            KeyError: a text has no embedding.
            ValueError: empty input, lengths differ, or fewer than two distinct labels.
        """
        x = self.matrix(texts)
        self.center = x.mean(axis=0)
        self.scale = (x.std(axis=0) + 1e-6) * np.sqrt(x.shape[1])
        super().fit((x - self.center) / self.scale, labels)
        return self

    def __call__(self, question: Question) -> CallableReply | None:
        """The most probable label with its probability; None (abstain) without a vector."""
        vector = self.vectors.get(_text(question))
        if vector is None:
            return None
        return _reply(self.proba_of((vector - self.center) / self.scale))


def _unit(vector: NDArray[np.float64]) -> NDArray[np.float64]:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


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
        vectors: Mapping[str, Sequence[float] | NDArray[np.float64]] | None = None,
    ) -> None:
        """Args:
        texts: the training texts (the memory).
        labels: their gold labels.
        ids: their item ids (an item never recalls itself).
        dim: hashed feature width.
        vectors: text -> embedding; when given, similarity is the cosine of the
            embeddings (every memory and every query needs one) instead of hashed n-grams.

        Raises:
            ValueError: the sequences differ in length or are empty.
            KeyError: ``vectors`` lacks a memory's text (named).
        """
        if not texts or not len(texts) == len(labels) == len(ids):
            raise ValueError("texts, labels and ids must be non-empty and of one length")
        self.texts = list(texts)
        self.labels = list(labels)
        self.ids = list(ids)
        self.dim = dim
        self.vectors = vectors
        self.matrix = np.stack([self._features(t) for t in texts])

    def _features(self, text: str) -> NDArray[np.float64]:
        if self.vectors is None:
            return hashed_features(text, self.dim)
        vector = self.vectors.get(text)
        if vector is None:
            raise KeyError(f"no embedding for {text!r}")
        return _unit(np.asarray(vector, dtype=float))

    def nearest(self, text: str, k: int, exclude_id: str | None = None) -> list[int]:
        """Indices of the ``k`` most similar memories, most similar last (nearest the query).

        Raises:
            KeyError: with ``vectors``, ``text`` has no embedding.
        """
        sims = self.matrix @ self._features(text)
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
    "EmbeddingLogistic",
    "ExampleRecall",
    "HashingLogistic",
    "KeywordModel",
    "SoftmaxRegression",
    "hashed_features",
]
