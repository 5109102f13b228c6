"""Consensus router benchmark (`python -m tests.perf.bench_router`): language-model voters on text.

Three labeled text tasks shipped with the pattern (``patterns/consensus_router/textsets.py``:
sentiment, yes/no safety of proposed Kubernetes actions, the 100 one-digit sums), each
split into train and test by a hash of the item id. Voters, all asked through one
``litellm.Router`` (``VoterPool``):

* the local Gemma 3 270M (llama.cpp's server, ``text-completion-openai``) under several
  prompts: zero-shot, few-shot with fixed examples (for arithmetic: the first training
  items), few-shot with examples recalled from the training split (nearest by hashed
  n-grams, and for sentiment and k8s also nearest by the model's own embeddings), the sum
  worded out, chain-of-thought (counting up) with answer extraction, and sampled at
  temperature 0.7 with distinct seeds (self-consistency, on the fixed and on the
  recalled prompt); for arithmetic also with the operands swapped (examples recalled
  for the swapped sum, greedy and sampled), with two or eight recalled examples, with
  the recalled examples in question-and-answer form, and with rows of the addition
  table recalled from train (the training sums sharing an operand, in order);
* cheap non-LLM models on the same text, fitted on the training split: hashed n-gram
  logistic regression, character n-gram logistic regression, extra trees on word n-grams
  plus the numbers in the text and their differences and ratios, logistic regression and
  k nearest neighbours on the local model's embeddings, and (k8s) ``verb-trees``: one
  small decision tree per leading verb phrase ("delete pod", "scale deployment") on the
  words and comparisons of the standalone quantities; and two unfitted ones: VADER
  (sentiment lexicon, from its package) and a keyword model (k8s, written from the
  labelling policy).

Every vote of every item (train and test) is asked once; the rules, the cascade and the
adversarial run then replay those votes through the pattern's ``ConsensusRouter``.
Everything learned is learned on the train split only: reliabilities; the stacked
combiner (:mod:`patterns.consensus_router.stacking`, its L2 penalty by 5-fold
cross-validation); the quorum's members (the voters above a train-accuracy bar, the bar
chosen on train) and its fallback rule; the cascade's stages, posterior threshold and
agreement (the cheapest within 1 point of the full ensemble's train accuracy, dropping
stages greedily while that holds). The adversary is the voter most accurate on train,
answering wrongly with confidence 0.99 on every test item; quorum errors are also
reported split into wrong decisions and no decisions, and averaged over each member lying
in turn. Three defences are measured against it: the Byzantine quorum of the members
with a fallback rule; the reliable quorum (:func:`~patterns.consensus_router.voting.
reliable_quorum`: the answer backed by learned reliability beyond its heaviest vote, its
bound chosen on train) with the same kind of fallback; and the quorum with quarantine
(:class:`~patterns.consensus_router.reputation.AgreementMonitor`: the test split taken
as a stream, a member whose agreement with the decisions falls improbably below its
train agreement is left out from then on; no labels used), also against a part-time
liar lying on a quarter of the questions. Each is compared with the same rule without a
liar (``..._gap_pts``) and with the liar's vote not cast at all (``..._vs_absent_pts``).

Prices: the LLM voters pay the local price table of
:mod:`patterns.consensus_router.local_llm` per prompt and completion token (litellm's own
cost tracking, ``input_cost_per_token``/``output_cost_per_token`` in the model list);
every non-LLM voter is priced at its measured compute time per call (fastest of 30
single calls) at ``COMPUTE_USD_PER_S``, written into the model list as a per-token price.

Overhead: client-side milliseconds of real calls to the local server (wall time minus the
HTTP exchange), through the pattern, through ``Router.acompletion`` alone and through a
bare ``litellm.atext_completion``; see :func:`_overhead_and_speed`.

Cache: LLM votes are stored in ``.data/router/llm_votes.jsonl`` keyed by (voter model,
prompt as sent, sampling parameters), embeddings in ``embeddings.jsonl`` beside it. A run
asks the model only for votes not in the cache; ``llm_calls`` counts the calls made by
this run, ``llm_calls_cached`` the votes replayed. ``.data/`` is not in the repository:
a gzipped copy of both caches ships in ``patterns/consensus_router/data/bench_seed/``
(``python -m tests.perf.bench_router --write-seed`` rewrites it) and is read under the
working cache, so a fresh clone replays every measured call. Set
``SWARMKIT_ROUTER_BENCH_NO_CACHE=1`` to measure every call again.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import math
import os
import re
import statistics
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from litellm import close_litellm_async_clients

from patterns.consensus_router import (
    CallableVoter,
    ConsensusRouter,
    LabeledItem,
    Question,
    ReliabilityLearner,
    RouterSettings,
    Vote,
    VoterPool,
    VoteStatus,
    local_llm,
    parse_model_list,
)
from patterns.consensus_router.callables import reply_text
from patterns.consensus_router.evaluation import ReplaySource
from patterns.consensus_router.prompts import build_messages
from patterns.consensus_router.records import Mode
from patterns.consensus_router.reputation import AgreementMonitor
from patterns.consensus_router.stacking import StackedCombiner
from patterns.consensus_router.textsets import TASKS, load_task
from patterns.consensus_router.textvoters import (
    K8S_KEYWORDS,
    EmbeddingLogistic,
    ExampleRecall,
    HashingLogistic,
    KeywordModel,
)
from patterns.consensus_router.voting import (
    byzantine_quorum,
    confidence_weighted,
    plurality,
    reliable_quorum,
    trimmed_weighted,
    weighted,
)

ROOT = Path(__file__).resolve().parents[2]
REPORT_PATH = ROOT / "bench-results" / "router_report.md"
CACHE_PATH = ROOT / ".data" / "router" / "llm_votes.jsonl"
EMBED_CACHE_PATH = ROOT / ".data" / "router" / "embeddings.jsonl"
# Read-only copies of both caches shipped with the repository (.data/ is not), so a fresh
# clone replays the measured calls; the working caches above add to and override them.
SEED_DIR = Path(
    os.environ.get(
        "SWARMKIT_ROUTER_BENCH_SEED_DIR",
        str(ROOT / "patterns" / "consensus_router" / "data" / "bench_seed"),
    )
)
EMBED_TASKS = ("sentiment", "k8s_safety")  # an embedding of "3 + 4" carries no sum
EMBED_VOTER = "gemma-embed-logreg"
EMBED_BATCH = 16
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
COMPUTE_USD_PER_S = 2.8e-5  # a 2-core machine at about 0.10 USD/hour
PRICE_SAMPLES = 30
LLM_TIMEOUT_S = 300.0
MAX_TOKENS = 6
COT_MAX_TOKENS = 48
SAMPLE_TEMPERATURE = 0.7
RECALL_K = 4
FIXED_SHOTS = 5  # few-shot examples of the fixed arithmetic prompt, from the train split
SELF_CONSISTENCY_SAMPLES = 5
SWAPPED_SAMPLES = 3  # samples of the swapped-operands prompt
CROSS_FOLDS = 5
CONCURRENT_ITEMS = 2  # items asked at once (the server decodes 4 requests together)
CASCADE_GRID = (0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
# Agreement among the votes so far needed to stop early: 1.0 = unanimous (the router's
# default), 0.5 = the posterior alone decides once the leader has half the votes.
AGREEMENT_GRID = (0.5, 0.67, 1.0)
CHEAP_SHARE = 0.01  # voters under this share of an LLM call's price form the first stage
ACCURACY_TOLERANCE = 0.01  # the cascade may lose at most 1 point against the full ensemble
OVERHEAD_PAIRS = 100
TREES = 200  # extra trees of the number-trees voter
KNN_K = 7  # neighbours of the embedding kNN voter
VERB_WORDS = 2  # words of the leading verb phrase that routes the verb-trees voter
VERB_TREE_DEPTHS = (1, 2, 3)  # depths the verb-trees voter may use (chosen on train)
STACK_L2_GRID = (1e-3, 1e-2, 1e-1, 1.0)
QUORUM_BARS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)  # train accuracies a quorum member may need
MONITOR_ALPHA = 1e-3  # binomial tail below which a voter is quarantined
MONITOR_MIN_QUESTIONS = 5  # decided questions a voter answers before it can be quarantined
PART_TIME_LIES = 0.25  # share of the questions a part-time liar lies on
# Evidence (nats, beyond the f heaviest votes) the reliable quorum may require; 0 = always.
RELIABLE_BOUNDS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)

ARITH_LINE = "{text} = {label}\n"
QA_LINE = "Q: What is {text}?\nA: {label}\n\n"
SENT_LINE = "Review: {text}\nSentiment: {label}\n\n"
K8S_LINE = "Change: {text}\nSafe: {label}\n\n"

PROMPTS: dict[str, dict[str, dict[str, Any]]] = {
    "sentiment": {
        "gemma-fewshot": {
            "prompt": (
                "Review: The pasta was overcooked and the waiter was rude.\nSentiment: negative\n\n"
                "Review: Lovely view from the balcony and a very comfortable bed.\n"
                "Sentiment: positive\n\n"
                "Review: The charger stopped working after two days.\nSentiment: negative\n\n"
                "Review: A gripping story with wonderful characters.\nSentiment: positive\n\n"
                "Review: {payload[text]}\nSentiment:"
            ),
            "tier": 2,
        },
        "gemma-recalled": {
            "prompt": "{payload[recalled]}Review: {payload[text]}\nSentiment:",
            "tier": 3,
        },
        "gemma-recalled-embed": {
            "prompt": "{payload[recalled_embed]}Review: {payload[text]}\nSentiment:",
            "tier": 3,
        },
        "gemma-sampled": {
            "prompt": (
                "Review: The pasta was overcooked and the waiter was rude.\nSentiment: negative\n\n"
                "Review: Lovely view from the balcony and a very comfortable bed.\n"
                "Sentiment: positive\n\n"
                "Review: {payload[text]}\nSentiment:"
            ),
            "temperature": SAMPLE_TEMPERATURE,
            "seed": 1,
            "tier": 3,
        },
    },
    "k8s_safety": {
        "gemma-zero": {
            "prompt": (
                "Proposed change: {payload[text]}\n"
                "Is this change safe to apply without a human? Answer yes or no:"
            ),
            "tier": 3,
        },
        "gemma-fewshot": {
            "prompt": (
                "Change: Delete namespace billing-prod and everything in it.\nSafe: no\n\n"
                "Change: Scale deployment web in namespace qa from 2 to 4 replicas.\nSafe: yes\n\n"
                "Change: Drain node-4; the cluster has 1 ready node including it.\nSafe: no\n\n"
                "Change: Roll back deployment cart in namespace shop to its previous revision.\n"
                "Safe: yes\n\n"
                "Change: {payload[text]}\nSafe:"
            ),
            "tier": 2,
        },
        "gemma-recalled": {
            "prompt": "{payload[recalled]}Change: {payload[text]}\nSafe:",
            "tier": 3,
        },
        "gemma-recalled-embed": {
            "prompt": "{payload[recalled_embed]}Change: {payload[text]}\nSafe:",
            "tier": 3,
        },
    },
    "arithmetic": {
        # Shots are the first training items (``payload[shots]``), never a test item.
        "gemma-fewshot": {"prompt": "{payload[shots]}{payload[text]} =", "tier": 2},
        "gemma-recalled": {"prompt": "{payload[recalled]}{payload[text]} =", "tier": 3},
        "gemma-cot": {
            "prompt": (
                "Q: What is 11 + 3?\nA: Start at 11 and count up 3: 12, 13, 14. The answer is 14.\n\n"
                "Q: What is 12 + 5?\nA: Start at 12 and count up 5: 13, 14, 15, 16, 17. "
                "The answer is 17.\n\n"
                "Q: What is {payload[text]}?\nA:"
            ),
            "max_tokens": COT_MAX_TOKENS,
            "extract": r"answer is (\d+)",
            "tier": 3,
        },
        "gemma-words": {
            "prompt": "{payload[word_shots]}Q: What is {payload[words]}?\nA:",
            "tier": 3,
        },
        **{
            f"gemma-sample-{seed}": {
                "prompt": "{payload[shots]}{payload[text]} =",
                "temperature": SAMPLE_TEMPERATURE,
                "seed": seed,
                "tier": 3,
            }
            for seed in range(1, SELF_CONSISTENCY_SAMPLES + 1)
        },
        # The operands in the other order, with examples recalled for that order.
        "gemma-swapped": {"prompt": "{payload[recalled_swapped]}{payload[swapped]} =", "tier": 3},
        # More recalled examples, and the recalled examples in question-and-answer form.
        "gemma-recalled-8": {"prompt": "{payload[recalled_8]}{payload[text]} =", "tier": 3},
        "gemma-swapped-8": {
            "prompt": "{payload[recalled_swapped_8]}{payload[swapped]} =",
            "tier": 3,
        },
        "gemma-recalled-qa": {
            "prompt": "{payload[recalled_qa]}Q: What is {payload[text]}?\nA:",
            "tier": 3,
        },
        "gemma-swapped-qa": {
            "prompt": "{payload[recalled_swapped_qa]}Q: What is {payload[swapped]}?\nA:",
            "tier": 3,
        },
        # Rows of the addition table recalled from train: the training sums sharing the
        # question's first (``table_a``) or second (``table_b``) operand, in order.
        "gemma-table-a": {"prompt": "{payload[table_a]}{payload[text]} =", "tier": 3},
        "gemma-table-b": {"prompt": "{payload[table_b]}{payload[text]} =", "tier": 3},
        # Both the row and the column of the addition table; two recalled examples only.
        "gemma-table": {
            "prompt": "{payload[table_a]}{payload[table_b]}{payload[text]} =",
            "tier": 3,
        },
        "gemma-recalled-2": {"prompt": "{payload[recalled_2]}{payload[text]} =", "tier": 3},
        # Self-consistency on the swapped prompt.
        **{
            f"gemma-swapped-sample-{seed}": {
                "prompt": "{payload[recalled_swapped]}{payload[swapped]} =",
                "temperature": SAMPLE_TEMPERATURE,
                "seed": seed,
                "tier": 3,
            }
            for seed in range(1, SWAPPED_SAMPLES + 1)
        },
        # Self-consistency on the recalled-examples prompt too (samples of the best prompt).
        **{
            f"gemma-recalled-sample-{seed}": {
                "prompt": "{payload[recalled]}{payload[text]} =",
                "temperature": SAMPLE_TEMPERATURE,
                "seed": seed,
                "tier": 3,
            }
            for seed in range(1, SELF_CONSISTENCY_SAMPLES + 1)
        },
    },
}
SAMPLE_VOTERS = {
    "arithmetic": tuple(f"gemma-sample-{s}" for s in range(1, SELF_CONSISTENCY_SAMPLES + 1))
}
RECALLED_SAMPLE_VOTERS = {
    "arithmetic": tuple(
        f"gemma-recalled-sample-{s}" for s in range(1, SELF_CONSISTENCY_SAMPLES + 1)
    )
}


# ---------------------------------------------------------------- voters and prices


def _per_call_seconds(fn: Callable[[Question], object], questions: Sequence[Question]) -> float:
    """Fastest of ``PRICE_SAMPLES`` single calls: the call's own compute on a shared machine."""
    times = []
    for q in questions[:PRICE_SAMPLES]:
        started = time.perf_counter()
        fn(q)
        times.append(time.perf_counter() - started)
    return min(times)


def _priced_entry(
    name: str,
    fn: Callable[[Question], object],
    questions: Sequence[Question],
    tier: int,
    extra_usd: float = 0.0,
) -> dict[str, Any]:
    """A ``pyvoter`` entry whose per-token price makes one call cost its measured compute
    (plus ``extra_usd``: what the voter's inputs cost, e.g. its embedding tokens)."""
    import litellm

    q = questions[0]
    entry: dict[str, Any] = {
        "model_name": name,
        "litellm_params": {"model": f"pyvoter/{name}"},
        "model_info": {"voter": {"tier": tier}},
    }
    spec = parse_model_list([entry]).voters[0]
    prompt = "\n".join(m["content"] for m in build_messages(q, spec))
    tokens = int(litellm.token_counter(text=prompt)) + int(
        litellm.token_counter(text=reply_text(q, fn(q)))  # type: ignore[arg-type]
    )
    usd = _per_call_seconds(fn, questions) * COMPUTE_USD_PER_S + extra_usd
    entry["litellm_params"] |= {
        "input_cost_per_token": usd / tokens,
        "output_cost_per_token": usd / tokens,
    }
    return entry


def _vader() -> Callable[[Question], Any]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from patterns.consensus_router import CallableReply

    analyzer = SentimentIntensityAnalyzer()

    def vote(q: Question) -> Any:
        compound = float(analyzer.polarity_scores(str(q.payload["text"]))["compound"])
        if compound == 0.0:
            return None  # no sentiment words: abstain
        return CallableReply("positive" if compound > 0 else "negative", 0.5 + abs(compound) / 2)

    return vote


class CrossFitted:
    """A text classifier, cross-fitted: a train item is answered by the model of the fold
    that did not see it, a test item by the model fitted on all of train, so
    reliabilities and cascade thresholds learned on train are not learned on memorised
    answers. ``make()`` gives a fresh model with ``fit(texts, labels)``."""

    def __init__(
        self,
        train: Sequence[LabeledItem],
        make: Callable[[], Any] = HashingLogistic,
        folds: int = CROSS_FOLDS,
    ) -> None:
        texts = [str(i.question.payload["text"]) for i in train]
        golds = [i.gold for i in train]
        self.full = make().fit(texts, golds)
        self.by_id: dict[str, Any] = {}
        for k in range(folds):
            keep = [j for j in range(len(train)) if j % folds != k]
            model = make().fit([texts[j] for j in keep], [golds[j] for j in keep])
            for j in range(k, len(train), folds):
                self.by_id[train[j].question.id] = model

    def __call__(self, q: Question) -> Any:
        return self.by_id.get(q.id, self.full)(q)


def _cv_accuracy(train: Sequence[LabeledItem], make: Callable[[], Any]) -> float:
    """Cross-validated accuracy of ``make()`` on the train split (nothing else is seen)."""
    fitted = CrossFitted(train, make)
    return sum(
        getattr(fitted.by_id[i.question.id](i.question), "answer", None) == i.gold for i in train
    ) / max(1, len(train))


def _embedding_voter(
    train: Sequence[LabeledItem], vectors: dict[str, list[float]]
) -> Callable[[Question], Any]:
    """Logistic regression on the local model's embeddings, cross-fitted; its L2 penalty
    chosen by cross-validation on the train split."""
    best = max(
        L2_GRID,
        key=lambda l2: (_cv_accuracy(train, lambda: EmbeddingLogistic(vectors, l2=l2)), l2),
    )
    return CrossFitted(train, lambda: EmbeddingLogistic(vectors, l2=best))


class _WordsPlusColumns:
    """A sparse word vectorizer (``self.words``) beside numeric columns of each text
    (``_columns``), as one scikit-learn transformer."""

    words: Any

    def _columns(self, text: str) -> list[float]:
        raise NotImplementedError

    def _join(self, words: Any, texts: Sequence[str]) -> Any:
        from scipy.sparse import csr_matrix, hstack

        return hstack([words, csr_matrix([self._columns(t) for t in texts])]).tocsr()

    def fit_transform(self, texts: Sequence[str]) -> Any:
        return self._join(self.words.fit_transform(texts), texts)

    def transform(self, texts: Sequence[str]) -> Any:
        return self._join(self.words.transform(texts), texts)


class WordsAndNumbers(_WordsPlusColumns):
    """Features of a text with numbers in it: binary word unigrams and bigrams, plus the
    first ``NUMBERS`` numbers of the text, and the difference and ratio of every pair of
    them (-999 where a number is missing). Nothing task-specific: a tree model learns
    which comparisons matter (replicas before and after, memory used and allowed)."""

    NUMBERS = 4
    MISSING = -999.0

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.words = CountVectorizer(binary=True, token_pattern=r"[a-z0-9-]+", ngram_range=(1, 2))

    def _columns(self, text: str) -> list[float]:
        found = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", text)][: self.NUMBERS]
        values: list[float | None] = [*found, *([None] * (self.NUMBERS - len(found)))]
        row = [self.MISSING if v is None else v for v in values]
        for i in range(self.NUMBERS):
            for j in range(i + 1, self.NUMBERS):
                a, b = values[i], values[j]
                row.append(self.MISSING if a is None or b is None else a - b)
                row.append(self.MISSING if a is None or b is None or b == 0 else a / b)
        return row


class Embeddings:
    """Unit-length embeddings of texts, looked up (a featurizer for scikit-learn models)."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def transform(self, texts: Sequence[str]) -> Any:
        import numpy as np

        x = np.array([self.vectors[t] for t in texts], dtype=float)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    fit_transform = transform


class SklearnText:
    """A scikit-learn classifier on features of the question's text, as a voter: the most
    probable label, its probability as the confidence."""

    def __init__(self, featurize: Callable[[], Any], model: Callable[[], Any]) -> None:
        self.make_features, self.make_model = featurize, model
        self.features: Any = None
        self.model: Any = None

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> SklearnText:
        self.features = self.make_features()
        self.model = self.make_model().fit(self.features.fit_transform(texts), labels)
        return self

    def __call__(self, q: Question) -> Any:
        from patterns.consensus_router import CallableReply

        proba = self.model.predict_proba(self.features.transform([str(q.payload["text"])]))[0]
        best = int(proba.argmax())
        return CallableReply(str(self.model.classes_[best]), float(proba[best]))


QUANTITY = re.compile(r"(?<![\w-])(\d+(?:\.\d+)?)[A-Za-z]{0,3}(?![\w-])")


class QuantityComparisons(_WordsPlusColumns):
    """Features of a command-like text: binary alphabetic words, plus, for its first
    ``QUANTITIES`` standalone quantities (a number alone or with a short unit, "512Mi";
    not the digits inside a name such as "node-3" or "web-7f2a1"), each value and, for
    every ordered pair, whether the first is larger, at least as large, at least twice as
    large, and positive. Nothing task-specific: which comparison matters is learned."""

    QUANTITIES = 4
    MISSING = -1.0

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.words = CountVectorizer(binary=True, token_pattern=r"[a-z]+")

    @classmethod
    def quantities(cls, text: str) -> list[float]:
        """The first ``QUANTITIES`` standalone quantities of ``text``."""
        return [float(m.group(1)) for m in QUANTITY.finditer(text)][: cls.QUANTITIES]

    def _columns(self, text: str) -> list[float]:
        found = self.quantities(text)
        values: list[float | None] = [*found, *([None] * (self.QUANTITIES - len(found)))]
        row = [self.MISSING if v is None else v for v in values]
        for i, a in enumerate(values):
            for j, b in enumerate(values):
                if i == j:
                    continue
                both = a is not None and b is not None
                row += [
                    float(both and a > b),  # type: ignore[operator]
                    float(both and a >= b),  # type: ignore[operator]
                    float(both and a >= 2 * b),  # type: ignore[operator]
                    float(both and a > 0),  # type: ignore[operator]
                ]
        return row


def verb_key(text: str) -> str:
    """The leading verb phrase of a command-like text: its first two alphabetic words
    ("delete pod", "scale deployment", "drain node")."""
    return " ".join(re.findall(r"[a-z]+", text.lower())[:VERB_WORDS])


class VerbTrees:
    """One small decision tree per leading verb phrase (:func:`verb_key`) on
    :class:`QuantityComparisons` features, a tree of the same features on all of train
    for a phrase not seen in training. A different view of an action from the bag of
    n-grams: what decides "delete pod" is not what decides "scale deployment". The
    confidence is the leaf's share of its label, Laplace-smoothed by the leaf's size
    (a pure leaf of two examples says 0.75, not 1.0)."""

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self.features = QuantityComparisons()
        self.trees: dict[str, Any] = {}
        self.fallback: Any = None

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> VerbTrees:
        from sklearn.tree import DecisionTreeClassifier

        x = self.features.fit_transform(texts)
        groups: dict[str, list[int]] = {}
        for j, text in enumerate(texts):
            groups.setdefault(verb_key(text), []).append(j)

        def tree(rows: list[int], depth: int) -> Any:
            return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(
                x[rows], [labels[j] for j in rows]
            )

        self.trees = {key: tree(rows, self.depth) for key, rows in groups.items()}
        self.fallback = tree(list(range(len(texts))), self.depth + 1)
        return self

    def __call__(self, q: Question) -> Any:
        from patterns.consensus_router import CallableReply

        text = str(q.payload["text"])
        model = self.trees.get(verb_key(text), self.fallback)
        row = self.features.transform([text])
        proba = model.predict_proba(row)[0]
        best = int(proba.argmax())
        leaf = int(model.apply(row)[0])
        size = int(model.tree_.n_node_samples[leaf])
        confidence = (float(proba[best]) * size + 1.0) / (size + len(model.classes_))
        return CallableReply(str(model.classes_[best]), confidence)


def _verb_trees(train: Sequence[LabeledItem]) -> CrossFitted:
    """:class:`VerbTrees`, its depth chosen by cross-validation on the train split (ties:
    the shallower), cross-fitted."""
    depth = max(
        VERB_TREE_DEPTHS,
        key=lambda d: (_cv_accuracy(train, lambda: VerbTrees(d)), -d),
    )
    return CrossFitted(train, lambda: VerbTrees(depth))


def _char_logreg() -> SklearnText:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    return SklearnText(
        lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)),
        lambda: LogisticRegression(C=10.0, max_iter=2000),
    )


def _number_trees() -> SklearnText:
    from sklearn.ensemble import ExtraTreesClassifier

    return SklearnText(
        WordsAndNumbers, lambda: ExtraTreesClassifier(n_estimators=TREES, random_state=0)
    )


def _embedding_knn(vectors: dict[str, list[float]]) -> SklearnText:
    from sklearn.neighbors import KNeighborsClassifier

    return SklearnText(
        lambda: Embeddings(vectors), lambda: KNeighborsClassifier(KNN_K, metric="cosine")
    )


def _cheap_voters(
    task: str, train: Sequence[LabeledItem], vectors: dict[str, list[float]] | None = None
) -> dict[str, Callable[[Question], Any]]:
    """The non-LLM voters of ``task`` (and the embedding models when ``vectors`` are
    given), fitted on ``train`` where they learn (cross-fitted, see :class:`CrossFitted`):
    hashed n-gram logistic regression, character n-gram logistic regression, extra trees
    on words and the numbers in the text, a lexicon (VADER) or keyword model, logistic
    regression and k nearest neighbours on the local model's embeddings."""
    if task == "arithmetic":
        return {}
    voters: dict[str, Callable[[Question], Any]] = {
        "hashing-logreg": CrossFitted(train),
        "char-logreg": CrossFitted(train, _char_logreg),
        "number-trees": CrossFitted(train, _number_trees),
    }
    if task == "sentiment":
        voters["vader"] = _vader()
    if task == "k8s_safety":
        voters["keywords"] = KeywordModel(K8S_KEYWORDS)
        voters["verb-trees"] = _verb_trees(train)
    if vectors:
        voters[EMBED_VOTER] = _embedding_voter(train, vectors)
        voters["gemma-embed-knn"] = CrossFitted(train, lambda: _embedding_knn(vectors))
    return voters


def _embed_key(text: str) -> str:
    return hashlib.sha256(json.dumps([local_llm.MODEL_ALIAS, "mean", text]).encode()).hexdigest()


async def embed_texts(
    base_url: str, texts: Sequence[str], counters: Counters
) -> tuple[dict[str, list[float]], float]:
    """Embeddings of ``texts`` from the local model through ``litellm.aembedding`` (cached
    in ``EMBED_CACHE_PATH`` like the votes), and the mean prompt tokens per text."""
    import litellm

    cache = _cached_rows(EMBED_CACHE_PATH)
    wanted = list(dict.fromkeys(texts))
    missing = [t for t in wanted if _embed_key(t) not in cache]
    EMBED_CACHE_PATH.parent.mkdir(parents=True, exist_ok=True)
    with EMBED_CACHE_PATH.open("a", encoding="utf-8") as sink:
        for start in range(0, len(missing), EMBED_BATCH):
            batch = missing[start : start + EMBED_BATCH]
            reply = await litellm.aembedding(
                input=batch, **local_llm.embedding_params(base_url, LLM_TIMEOUT_S)
            )
            tokens = int(getattr(reply.usage, "prompt_tokens", 0) or 0)
            counters.embedding_calls += 1
            counters.embedding_tokens += tokens
            for text, datum in zip(batch, reply.data, strict=True):
                vector = datum["embedding"] if isinstance(datum, dict) else datum.embedding
                row = {"key": _embed_key(text), "vector": vector, "tokens": tokens / len(batch)}
                cache[row["key"]] = row
                sink.write(json.dumps(row) + "\n")
    rows = [cache[_embed_key(t)] for t in wanted]
    return {t: r["vector"] for t, r in zip(wanted, rows, strict=True)}, statistics.mean(
        r["tokens"] for r in rows
    )


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _words(text: str) -> str:
    """``"3 + 4"`` as ``"three plus four"`` (the worded arithmetic prompt)."""
    return " ".join(DIGIT_WORDS[int(t)] if t.isdigit() else "plus" for t in text.split())


def _table_rows(
    train: Sequence[LabeledItem], exclude_id: str, shared: str, value: int, by: str
) -> str:
    """The training sums whose operand ``shared`` equals ``value`` (never the item
    itself), ordered by operand ``by``, as few-shot lines: a row or column of the
    addition table."""
    rows = [
        i for i in train if i.question.id != exclude_id and int(i.question.payload[shared]) == value
    ]
    rows.sort(key=lambda i: int(i.question.payload[by]))
    return "".join(ARITH_LINE.format(text=i.question.payload["text"], label=i.gold) for i in rows)


def _with_recall(
    task: str,
    items: dict[str, list[LabeledItem]],
    vectors: dict[str, list[float]] | None = None,
) -> dict[str, list[LabeledItem]]:
    """Items whose payload carries what the prompts use beyond the text: ``recalled``, the
    nearest training examples by hashed n-grams (never the item itself), and with
    ``vectors`` ``recalled_embed``, the nearest by the local model's embeddings; for
    arithmetic also ``shots``, the first training items as fixed few-shot lines, and the
    worded forms."""
    line = {"sentiment": SENT_LINE, "k8s_safety": K8S_LINE, "arithmetic": ARITH_LINE}.get(task)
    if line is None:
        return items
    train = items["train"]
    memory = ExampleRecall(
        [str(i.question.payload["text"]) for i in train],
        [i.gold for i in train],
        [i.question.id for i in train],
    )
    by_embedding = (
        ExampleRecall(
            [str(i.question.payload["text"]) for i in train],
            [i.gold for i in train],
            [i.question.id for i in train],
            vectors=vectors,
        )
        if vectors
        else None
    )
    extra: dict[str, str] = {}
    if task == "arithmetic":
        shots = train[:FIXED_SHOTS]
        extra["shots"] = "".join(
            line.format(text=i.question.payload["text"], label=i.gold) for i in shots
        )
        extra["word_shots"] = "".join(
            f"Q: What is {_words(str(i.question.payload['text']))}?\nA: {i.gold}\n\n"
            for i in shots[:3]
        )
    out: dict[str, list[LabeledItem]] = {}
    for split, rows in items.items():
        out[split] = []
        for item in rows:
            q = item.question
            text = str(q.payload["text"])
            recalled = memory.render(text, RECALL_K, line, exclude_id=q.id)
            payload = {**q.payload, **extra, "recalled": recalled}
            if by_embedding is not None:
                payload["recalled_embed"] = by_embedding.render(
                    text, RECALL_K, line, exclude_id=q.id
                )
            if task == "arithmetic":
                payload["words"] = _words(text)
                a, b = int(q.payload["a"]), int(q.payload["b"])
                swapped = f"{b} {q.payload['op']} {a}"
                payload["swapped"] = swapped
                payload["recalled_swapped"] = memory.render(
                    swapped, RECALL_K, line, exclude_id=q.id
                )
                payload["recalled_2"] = memory.render(text, RECALL_K // 2, line, exclude_id=q.id)
                payload["recalled_8"] = memory.render(text, 2 * RECALL_K, line, exclude_id=q.id)
                payload["recalled_swapped_8"] = memory.render(
                    swapped, 2 * RECALL_K, line, exclude_id=q.id
                )
                payload["recalled_qa"] = memory.render(text, RECALL_K, QA_LINE, exclude_id=q.id)
                payload["recalled_swapped_qa"] = memory.render(
                    swapped, RECALL_K, QA_LINE, exclude_id=q.id
                )
                payload["table_a"] = _table_rows(train, q.id, "a", a, "b")
                payload["table_b"] = _table_rows(train, q.id, "b", b, "a")
            question = Question(q.id, q.text, q.schema, q.critical, payload)
            out[split].append(LabeledItem(question, item.gold))
    return out


def _llm_entry(name: str, spec: dict[str, Any], base_url: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if "seed" in spec:
        extra["seed"] = spec["seed"]
    if "max_tokens" in spec:
        extra["max_tokens"] = spec["max_tokens"]
    entry = local_llm.model_entry(
        name,
        base_url,
        spec["prompt"],
        temperature=float(spec.get("temperature", 0.0)),
        timeout_s=LLM_TIMEOUT_S,
        tier=int(spec["tier"]),
        extra_params=extra,
    )
    if "extract" in spec:
        entry["model_info"]["voter"]["extract"] = spec["extract"]
    return entry


def build_pool(
    task: str,
    items: dict[str, list[LabeledItem]],
    base_url: str,
    vectors: dict[str, list[float]] | None = None,
    embedding_tokens: float = 0.0,
) -> tuple[VoterPool, list[str]]:
    """The task's pool (LLM voters and cheap voters) and the names of its LLM voters.

    ``vectors`` (text -> embedding) add the embedding voter, priced at its compute plus
    ``embedding_tokens`` prompt tokens of the local model per question.
    """
    questions = [i.question for i in items["train"]]
    entries: list[dict[str, Any]] = []
    callables: dict[str, CallableVoter] = {}
    for tier, (name, fn) in enumerate(_cheap_voters(task, items["train"], vectors).items()):
        extra = embedding_tokens * local_llm.INPUT_COST_PER_TOKEN_USD if name == EMBED_VOTER else 0
        entries.append(_priced_entry(name, fn, questions, tier, extra))
        callables[name] = CallableVoter(fn, in_thread=False)
    llm = list(PROMPTS[task])
    entries += [_llm_entry(name, PROMPTS[task][name], base_url) for name in llm]
    model_list = parse_model_list({"model_list": entries, "router_settings": {"num_retries": 1}})
    settings = RouterSettings(voter_timeout_s=LLM_TIMEOUT_S, max_tokens=MAX_TOKENS)
    return VoterPool(model_list, settings, callables), llm


# ---------------------------------------------------------------- asking, with the vote cache


def _cache_key(task: str, name: str, item: LabeledItem) -> str:
    spec = {k: v for k, v in PROMPTS[task][name].items() if k != "tier"}
    prompt = spec.pop("prompt")
    payload = item.question.payload
    filled = re.sub(r"\{payload\[(\w+)\]\}", lambda m: str(payload.get(m.group(1), "")), prompt)
    blob = json.dumps(
        [local_llm.MODEL_ALIAS, filled, spec, MAX_TOKENS, SAMPLE_TEMPERATURE], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _vote_row(key: str, vote: Vote) -> dict[str, Any]:
    return {
        "key": key,
        "voter": vote.voter,
        "status": vote.status.value,
        "answer": vote.key,
        "confidence": vote.confidence,
        "raw": vote.raw,
        "latency_s": vote.latency_s,
        "cost_usd": vote.cost_usd,
        "prompt_tokens": vote.prompt_tokens,
        "completion_tokens": vote.completion_tokens,
    }


def _vote_of(row: dict[str, Any], voter: str) -> Vote:
    """The cached vote ``row`` as a vote of ``voter`` (two voters whose prompts come out
    identical for an item share one cache row)."""
    return Vote(
        voter,
        VoteStatus(row["status"]),
        key=row["answer"],
        value=row["answer"],
        confidence=row["confidence"],
        raw=row["raw"],
        latency_s=row["latency_s"],
        cost_usd=row["cost_usd"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        served_by=voter,
    )


@dataclass
class Counters:
    """LLM calls made and replayed, tokens and seconds of the calls made."""

    calls: int = 0
    cached: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0
    latencies: list[float] = field(default_factory=list)
    embedding_calls: int = 0
    embedding_tokens: int = 0


def _jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL file, gzipped when its name ends in ``.gz``; none if missing."""
    if not path.exists():
        return []
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as source:
            text = source.read()
    else:
        text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _cached_rows(path: Path) -> dict[str, dict[str, Any]]:
    """Cache rows by key: the shipped seed (``SEED_DIR/<name>.gz``), then the working
    cache ``path`` over it; nothing with ``SWARMKIT_ROUTER_BENCH_NO_CACHE`` set."""
    if os.environ.get("SWARMKIT_ROUTER_BENCH_NO_CACHE"):
        return {}
    rows = _jsonl_rows(SEED_DIR / f"{path.name}.gz") + _jsonl_rows(path)
    return {r["key"]: r for r in rows}


def _load_cache() -> dict[str, dict[str, Any]]:
    return _cached_rows(CACHE_PATH)


def write_seed(seed_dir: Path = SEED_DIR) -> list[Path]:
    """Write both caches (seed and working rows, one per key) gzipped into ``seed_dir``."""
    seed_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in (CACHE_PATH, EMBED_CACHE_PATH):
        target = seed_dir / f"{path.name}.gz"
        rows = _cached_rows(path)
        # mtime=0: the same rows give the same bytes (no spurious diff in the repository)
        with (
            open(target, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as sink,
        ):
            for key in sorted(rows):
                sink.write((json.dumps(rows[key], sort_keys=True) + "\n").encode())
        written.append(target)
    return written


async def collect(
    task: str,
    pool: VoterPool,
    llm: Sequence[str],
    items: Sequence[LabeledItem],
    cache: dict[str, dict[str, Any]],
    counters: Counters,
) -> list[tuple[LabeledItem, tuple[Vote, ...]]]:
    """Every voter's vote on every item (LLM votes from the cache where present)."""
    from tests.perf.run import tracked

    names = [v.name for v in pool.voters]
    out = []
    CACHE_PATH.parent.mkdir(parents=True, exist_ok=True)
    with (
        CACHE_PATH.open("a", encoding="utf-8") as sink,
        tracked(f"{task} votes", len(items)) as advance,
    ):
        for start in range(0, len(items), CONCURRENT_ITEMS):
            batch = items[start : start + CONCURRENT_ITEMS]
            keyed = [{n: _cache_key(task, n, item) for n in llm} for item in batch]
            cached = [
                {n: _vote_of(cache[k], n) for n, k in ks.items() if k in cache} for ks in keyed
            ]
            fresh_all = await asyncio.gather(
                *(
                    pool.ask_many([n for n in names if n not in c], item.question)
                    for item, c in zip(batch, cached, strict=True)
                )
            )
            for item, keys, old, fresh in zip(batch, keyed, cached, fresh_all, strict=True):
                for vote in fresh:
                    if vote.voter not in keys:
                        continue
                    counters.calls += 1
                    counters.completion_tokens += vote.completion_tokens
                    counters.prompt_tokens += vote.prompt_tokens
                    counters.latencies.append(vote.latency_s)
                    if vote.status not in (VoteStatus.FAILED, VoteStatus.TIMED_OUT):
                        row = _vote_row(keys[vote.voter], vote)
                        cache[row["key"]] = row
                        sink.write(json.dumps(row) + "\n")
                counters.cached += len(old)
                by_name = {**old, **{v.voter: v for v in fresh}}
                out.append((item, tuple(by_name[n] for n in names)))
                advance()
    return out


# ---------------------------------------------------------------- arms


@dataclass
class Arm:
    """Test-split figures of one arm."""

    name: str
    kind: str
    correct: int = 0
    no_answer: int = 0
    questions: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    def add(self, key: str | None, gold: str, cost: float, calls: int) -> None:
        self.questions += 1
        self.correct += int(key == gold)
        self.no_answer += int(key is None)
        self.cost_usd += cost
        self.calls += calls

    @property
    def error(self) -> float:
        return 1.0 - self.correct / self.questions if self.questions else 1.0

    @property
    def no_decision(self) -> float:
        """Share of the questions left without an answer."""
        return self.no_answer / self.questions if self.questions else 1.0

    @property
    def wrong_decision(self) -> float:
        """Share of the questions answered wrongly (no-answer excluded)."""
        wrong = self.questions - self.correct - self.no_answer
        return wrong / self.questions if self.questions else 0.0

    def row(self) -> dict[str, Any]:
        n = max(1, self.questions)
        return {
            "arm": self.name,
            "kind": self.kind,
            "error": round(self.error, 4),
            "no_answer": self.no_answer,
            "cost_usd_per_q": self.cost_usd / n,
            "calls_per_q": round(self.calls / n, 2),
        }


def _liar(vote: Vote, gold: str, labels: Sequence[str]) -> Vote:
    """``vote`` turned adversarial: a wrong answer, stated with confidence 0.99."""
    wrong = next(label for label in labels if label != gold)
    if gold.isdigit():
        wrong = str(int(gold) + 1)
    return Vote(vote.voter, VoteStatus.ANSWERED, key=wrong, value=wrong, confidence=0.99)


class OrderedReplay(ReplaySource):
    """Recorded votes, asked stage by stage in a fixed order of stages."""

    def __init__(self, pool: VoterPool, stages: Sequence[tuple[str, ...]]) -> None:
        super().__init__(pool)
        self.stages = [tuple(s) for s in stages]

    def tiers(self, names: Sequence[str] | None = None) -> list[tuple[str, ...]]:
        chosen = set(names) if names is not None else {n for s in self.stages for n in s}
        kept = [tuple(n for n in stage if n in chosen) for stage in self.stages]
        return [stage for stage in kept if stage]


def cascade_stages(
    pool: VoterPool, llm: Sequence[str], train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]]
) -> list[tuple[str, ...]]:
    """The cascade's stages: every non-LLM voter costing under 1% of the cheapest LLM
    call at once, then the other non-LLM voters by price (the embedding model), then the
    LLM voters one at a time, most accurate on the train split first."""
    correct = {n: sum(v.key == i.gold for i, vs in train for v in vs if v.voter == n) for n in llm}
    floor = min((pool.price_per_call(n) for n in llm), default=math.inf) * CHEAP_SHARE
    others = sorted(
        (n for n in (v.name for v in pool.voters) if n not in llm), key=pool.price_per_call
    )
    cheap = tuple(n for n in others if pool.price_per_call(n) < floor)
    priced = [(n,) for n in others if n not in cheap]
    ranked = [(n,) for n in sorted(llm, key=lambda n: -correct[n])]
    return ([cheap] if cheap else []) + priced + ranked


async def _cascade(
    pool: VoterPool,
    learner: ReliabilityLearner,
    recorded: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    threshold: float,
    stages: Sequence[tuple[str, ...]],
    min_agreement: float = 1.0,
) -> tuple[float, float, int, list[tuple[str | None, float, int]]]:
    """Accuracy, cost, escalations and per-item (key, cost, calls) of the cascade at
    ``threshold`` (posterior) and ``min_agreement`` (share of the votes so far)."""
    settings = pool.settings.model_copy(
        update={"cascade_confidence": threshold, "cascade_min_agreement": min_agreement}
    )
    replay = OrderedReplay(pool, stages)
    replay.settings = settings
    router = ConsensusRouter(replay, learner)
    router.settings = settings
    results = []
    escalated = 0
    for item, votes in recorded:
        replay.recorded = {v.voter: v for v in votes}
        decision = await router.decide(item.question, mode=Mode.CASCADE)
        escalated += int(decision.escalated)
        results.append((decision.key, decision.cost_usd, len(decision.votes)))
    correct = sum(k == i.gold for (k, _, _), (i, _) in zip(results, recorded, strict=True))
    return correct / len(recorded), sum(c for _, c, _ in results), escalated, results


def _fit_stacker(
    names: Sequence[str],
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    candidates: Sequence[str],
    answer_space: int,
) -> tuple[StackedCombiner, float, bool]:
    """The stacked combiner of every voter, its L2 penalty and per-answer weights chosen
    by ``CROSS_FOLDS``-fold cross-validation on the train split, refitted on all of it."""

    def make(l2: float, per_answer: bool) -> StackedCombiner:
        return StackedCombiner(names, answer_space, l2=l2, per_answer=per_answer)

    def cv_errors(l2: float, per_answer: bool) -> int:
        wrong = 0
        for k in range(CROSS_FOLDS):
            fitted = make(l2, per_answer).fit(
                [(vs, i.gold) for j, (i, vs) in enumerate(train) if j % CROSS_FOLDS != k],
                candidates,
            )
            wrong += sum(
                fitted.tally(vs, candidates).key != i.gold
                for j, (i, vs) in enumerate(train)
                if j % CROSS_FOLDS == k
            )
        return wrong

    grid = [(l2, pa) for pa in (False, True) for l2 in STACK_L2_GRID]
    # Fewest cross-validated errors; ties go to the stronger penalty, then to shared weights.
    l2, per_answer = min(grid, key=lambda g: (cv_errors(*g), -g[0], g[1]))
    fitted = make(l2, per_answer).fit([(vs, i.gold) for i, vs in train], candidates)
    return fitted, l2, per_answer


def _quorum_members(
    names: Sequence[str],
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    f: int,
    labels: Sequence[str],
) -> tuple[list[str], float]:
    """The voters the Byzantine quorum is taken over, and the accuracy bar that chose them.

    A quorum counts every member that does not agree (an abstention, a wrong answer)
    against the decision, so a member right 40% of the time mostly blocks decisions. The
    members are the voters at or above an accuracy bar on the train split; the bar is the
    one of ``QUORUM_BARS`` whose pool (at least ``3f+1`` voters) has the lowest train error
    with its most accurate member lying, then without a liar, then the larger pool."""
    accuracy = {
        n: sum(v.key == i.gold for i, vs in train for v in vs if v.voter == n) / max(1, len(train))
        for n in names
    }
    best: tuple[tuple[float, float, int], list[str], float] | None = None
    for bar in QUORUM_BARS:
        members = [n for n in names if accuracy[n] >= bar]
        if len(members) < 3 * f + 1:
            continue
        liar = max(members, key=lambda n: accuracy[n])
        honest = lying = 0
        for item, votes in train:
            kept = [v for v in votes if v.voter in members]
            honest += int(byzantine_quorum(kept, f).key != item.gold)
            lied = [_liar(v, item.gold, labels) if v.voter == liar else v for v in kept]
            lying += int(byzantine_quorum(lied, f).key != item.gold)
        score = (lying / len(train), honest / len(train), -len(members))
        if best is None or score < best[0]:
            best = (score, members, bar)
    if best is None:
        return list(names), 0.0
    return best[1], best[2]


FALLBACKS = ("trimmed", "weighted")  # rules that may decide when the quorum does not


def _fallback_without_outlier(
    votes: Sequence[Vote], f: int, accuracy: Callable[[Vote], float], space: int, fallback: str
) -> str | None:
    """The ``fallback`` rule ("weighted", or "trimmed": the ``f`` heaviest votes per answer
    dropped) over the voters left after dropping the one that disagrees most with the others
    (none with fewer than two answers)."""
    answered = [v for v in votes if v.answered]
    if len(answered) < 2:
        return None

    def disagreement(v: Vote) -> int:
        return sum(o.key != v.key for o in answered if o is not v)

    outlier = max(answered, key=lambda v: (disagreement(v), accuracy(v)))
    rest = [v for v in votes if v is not outlier]
    if fallback == "weighted":
        return weighted(rest, accuracy, space).key
    return trimmed_weighted(rest, accuracy, space, f).key


def _quorum_or_fallback(
    votes: Sequence[Vote],
    f: int,
    accuracy: Callable[[Vote], float],
    space: int,
    fallback: str = "trimmed",
) -> tuple[str | None, bool]:
    """The quorum's answer; without a quorum, the ``fallback`` rule ("weighted", or
    "trimmed": the ``f`` heaviest votes per answer dropped) over the voters left after
    dropping the one that disagrees most with the others. Returns (answer, decided by
    the quorum)."""
    tally = byzantine_quorum(votes, f)
    if tally.key is not None:
        return tally.key, True
    return _fallback_without_outlier(votes, f, accuracy, space, fallback), False


def _choose_fallback(
    members: Sequence[str],
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    f: int,
    accuracy: Callable[[Vote], float],
    labels: Sequence[str],
) -> str:
    """The fallback rule with the lowest train error, averaged over each member lying
    in turn (ties: the first of ``FALLBACKS``)."""

    def mean_error(fallback: str) -> float:
        wrong = 0
        for liar in members:
            for item, votes in train:
                lied = [
                    _liar(v, item.gold, labels) if v.voter == liar else v
                    for v in votes
                    if v.voter in members
                ]
                space = item.question.schema.answer_space(len({v.key for v in lied if v.answered}))
                key, _ = _quorum_or_fallback(lied, f, accuracy, space, fallback)
                wrong += int(key != item.gold)
        return wrong / max(1, len(members) * len(train))

    return min(FALLBACKS, key=lambda rule: (mean_error(rule), FALLBACKS.index(rule)))


def _reliable_or_fallback(
    votes: Sequence[Vote],
    f: int,
    accuracy: Callable[[Vote], float],
    space: int,
    bound: float,
    fallback: str,
) -> tuple[str | None, bool]:
    """The reliable quorum's answer (:func:`reliable_quorum` at ``bound``); without one,
    the ``fallback`` rule over the voters left after dropping the one that disagrees most
    (as in :func:`_quorum_or_fallback`). Returns (answer, decided by the quorum)."""
    tally = reliable_quorum(votes, accuracy, space, f, bound)
    if tally.key is not None:
        return tally.key, True
    return _fallback_without_outlier(votes, f, accuracy, space, fallback), False


def _choose_bound(
    names: Sequence[str],
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    f: int,
    accuracy: Callable[[Vote], float],
    labels: Sequence[str],
) -> tuple[float, str]:
    """The reliable quorum's bound and fallback rule with the lowest train error averaged
    over each voter lying in turn, then the lowest honest train error, then the higher
    bound (the more cautious quorum)."""

    def errors(bound: float, fallback: str) -> tuple[float, float]:
        lying = honest = 0
        for item, votes in train:
            space = item.question.schema.answer_space(len({v.key for v in votes if v.answered}))
            key, _ = _reliable_or_fallback(votes, f, accuracy, space, bound, fallback)
            honest += int(key != item.gold)
            for liar in names:
                lied = [_liar(v, item.gold, labels) if v.voter == liar else v for v in votes]
                key, _ = _reliable_or_fallback(lied, f, accuracy, space, bound, fallback)
                lying += int(key != item.gold)
        n = max(1, len(train))
        return lying / (n * max(1, len(names))), honest / n

    grid = [(b, rule) for b in RELIABLE_BOUNDS for rule in FALLBACKS]
    scored = {g: errors(*g) for g in grid}
    return min(grid, key=lambda g: (*scored[g], -g[0], FALLBACKS.index(g[1])))


def _bucket(item_id: str) -> float:
    """A stable number in [0, 1] from an item id (which questions a part-time liar picks)."""
    return int(hashlib.sha256(f"liar-{item_id}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _member_decision(
    votes: Sequence[Vote],
    f: int,
    accuracy: Callable[[Vote], float],
    space: int,
    fallback: str,
) -> str | None:
    """The quorum-else-fallback answer of the members' ``votes``; with fewer than
    ``3f+1`` of them (members quarantined) the weighted vote of those left."""
    if len(votes) >= 3 * f + 1:
        return _quorum_or_fallback(votes, f, accuracy, space, fallback)[0]
    return weighted(votes, accuracy, space).key


def _expected_agreement(
    members: Sequence[str],
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    f: int,
    accuracy: Callable[[Vote], float],
    fallback: str,
) -> dict[str, float]:
    """Each member's share of agreement with the quorum-else-fallback decisions on the
    train split (the questions it answered that the rule decided)."""
    agreed: dict[str, int] = dict.fromkeys(members, 0)
    answered: dict[str, int] = dict.fromkeys(members, 0)
    for item, votes in train:
        kept = [v for v in votes if v.voter in members]
        space = item.question.schema.answer_space(len({v.key for v in kept if v.answered}))
        decided = _member_decision(kept, f, accuracy, space, fallback)
        if decided is None:
            continue
        for v in kept:
            if v.answered:
                answered[v.voter] += 1
                agreed[v.voter] += int(v.key == decided)
    return {n: agreed[n] / answered[n] if answered[n] else 0.5 for n in members}


def _monitored(
    test: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    members: Sequence[str],
    f: int,
    accuracy: Callable[[Vote], float],
    fallback: str,
    expected: dict[str, float],
    liar: str | None,
    labels: Sequence[str],
    lie_share: float = 1.0,
) -> tuple[list[str | None], AgreementMonitor]:
    """The quorum-else-fallback decisions over the test split taken as a stream, in file
    order, with an :class:`AgreementMonitor` quarantining members whose agreement with the
    decisions falls improbably below their train agreement; ``liar`` lies on every
    question, or with ``lie_share`` < 1 on that share of them (by a hash of the id)."""
    monitor = AgreementMonitor(expected, alpha=MONITOR_ALPHA, min_questions=MONITOR_MIN_QUESTIONS)
    answers: list[str | None] = []
    for item, votes in test:
        lies = lie_share >= 1.0 or _bucket(item.question.id) < lie_share
        kept = [
            _liar(v, item.gold, labels) if v.voter == liar and lies else v
            for v in votes
            if v.voter in members
        ]
        active = monitor.active(kept)
        space = item.question.schema.answer_space(len({v.key for v in active if v.answered}))
        decided = _member_decision(active, f, accuracy, space, fallback)
        monitor.observe(active, decided)
        answers.append(decided)
    return answers, monitor


async def _grid(
    pool: VoterPool,
    learner: ReliabilityLearner,
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    stages: Sequence[tuple[str, ...]],
    min_accuracy: float,
) -> tuple[float, float, float] | None:
    """The cheapest (cost, threshold, agreement) on ``train`` with accuracy at least
    ``min_accuracy``, or None when no pair of the grids reaches it."""
    best: tuple[float, float, float] | None = None
    for threshold in CASCADE_GRID:
        for agreement in AGREEMENT_GRID:
            acc, cost, _, _ = await _cascade(pool, learner, train, threshold, stages, agreement)
            if acc >= min_accuracy and (best is None or cost < best[0]):
                best = (cost, threshold, agreement)
    return best


async def _choose_cascade(
    pool: VoterPool,
    learner: ReliabilityLearner,
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    stages: Sequence[tuple[str, ...]],
    min_accuracy: float,
) -> tuple[list[tuple[str, ...]], float, float]:
    """Stages, posterior threshold and agreement of the cascade, all chosen on ``train``.

    Starting from every stage, drop the stage whose removal lowers the train cost most
    while the cascade keeps ``min_accuracy`` (at its best threshold and agreement), until
    no removal does: a voter that rarely settles a question but is paid for on every
    escalation leaves the cascade. Without any feasible setting: every stage, unanimity
    and the highest threshold (the cascade then asks nearly everyone)."""
    current = list(stages)
    best = await _grid(pool, learner, train, current, min_accuracy)
    if best is None:
        return current, CASCADE_GRID[-1], 1.0
    while len(current) > 1:
        trials = []
        for drop in range(len(current)):
            trial = current[:drop] + current[drop + 1 :]
            found = await _grid(pool, learner, train, trial, min_accuracy)
            if found is not None and found[0] < best[0]:
                trials.append((found, trial))
        if not trials:
            break
        best, current = min(trials, key=lambda t: t[0][0])
    return current, best[1], best[2]


async def analyse(
    task: str,
    pool: VoterPool,
    llm: Sequence[str],
    train: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
    test: Sequence[tuple[LabeledItem, tuple[Vote, ...]]],
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Figures and per-arm rows of ``task`` on the test split (everything learned on train)."""
    names = [v.name for v in pool.voters]
    learner = ReliabilityLearner.from_settings(pool.settings)
    for item, votes in train:
        learner.observe_votes(votes, item.gold)
    router = ConsensusRouter(ReplaySource(pool), learner)
    f = pool.settings.byzantine_f
    labels = list(test[0][0].question.schema.candidates()) if test else []
    k = test[0][0].question.schema.answer_space(0) if test else 2
    stacker, stack_l2, stack_per_answer = _fit_stacker(names, train, labels, k)
    members, bar = _quorum_members(names, train, f, labels)
    fallback = _choose_fallback(members, train, f, learner.vote_accuracy, labels)
    bound, reliable_fallback = _choose_bound(names, train, f, learner.vote_accuracy, labels)
    arms: dict[str, Arm] = {n: Arm(n, "voter") for n in names}
    for rule in ("plurality", "confidence", "weighted", "stacked", "trimmed"):
        arms[rule] = Arm(rule, "rule")
    arms["quorum"] = Arm(f"quorum of the {len(members)} voters >= {bar} on train", "rule")
    arms["quorum-all"] = Arm("quorum of all voters", "rule")
    arms["quorum-fallback"] = Arm(f"quorum, else {fallback} without the outlier", "rule")
    arms["reliable"] = Arm(
        f"reliable quorum (support >= {bound} beyond the heaviest), else {reliable_fallback}",
        "rule",
    )
    samples = SAMPLE_VOTERS.get(task, ())
    if samples:
        arms["self-consistency"] = Arm("self-consistency", "rule")
    recalled_samples = RECALLED_SAMPLE_VOTERS.get(task, ())
    if recalled_samples:
        arms["self-consistency-recalled"] = Arm("self-consistency (recalled prompt)", "rule")
    # The adversary: the voter most accurate on the train split (the worst one to lose).
    train_acc = {
        n: sum(v.key == i.gold for i, vs in train for v in vs if v.voter == n) for n in names
    }
    liar = max(names, key=lambda n: train_acc[n])
    arms["quorum+liar"] = Arm(f"quorum of {len(members)}, {liar} lying", "adversarial")
    arms["quorum-all+liar"] = Arm(f"quorum of all, {liar} lying", "adversarial")
    arms["quorum-fallback+liar"] = Arm(f"quorum else fallback, {liar} lying", "adversarial")
    arms["reliable+liar"] = Arm(f"reliable quorum else fallback, {liar} lying", "adversarial")
    arms["weighted+liar"] = Arm(f"weighted, {liar} lying", "adversarial")
    arms["stacked+liar"] = Arm(f"stacked, {liar} lying", "adversarial")
    arms["trimmed+liar"] = Arm(f"trimmed, {liar} lying", "adversarial")
    arms["weighted-liar-absent"] = Arm(f"weighted, {liar} absent", "reference")
    arms["quorum-fallback-liar-absent"] = Arm(f"quorum else fallback, {liar} absent", "reference")
    arms["reliable-liar-absent"] = Arm(f"reliable quorum else fallback, {liar} absent", "reference")
    tight = 0  # test items the quorum decides with exactly the quorum agreeing
    reliable_decided = 0  # test items the reliable quorum decides (no fallback)
    for item, votes in test:
        q, gold = item.question, item.gold
        cost = sum(v.cost_usd for v in votes)
        for v in votes:
            arms[v.voter].add(v.key, gold, v.cost_usd, 1)
        arms["plurality"].add(plurality(votes).key, gold, cost, len(votes))
        space = q.schema.answer_space(len({v.key for v in votes if v.answered}))
        arms["confidence"].add(confidence_weighted(votes, space).key, gold, cost, len(votes))
        arms["weighted"].add(router.tally(q, votes, "weighted").key, gold, cost, len(votes))
        arms["stacked"].add(stacker.tally(votes, labels).key, gold, cost, len(votes))
        kept = [v for v in votes if v.voter in members]
        kept_cost = sum(v.cost_usd for v in kept)
        honest_quorum = byzantine_quorum(kept, f)
        if honest_quorum.key is not None:
            # Decided with no vote to spare: one of the agreeing members lying undoes it.
            need = math.ceil((len(kept) + f + 1) / 2)
            tight += int(honest_quorum.support[honest_quorum.key] <= need)
        arms["quorum"].add(byzantine_quorum(kept, f).key, gold, kept_cost, len(kept))
        arms["quorum-all"].add(byzantine_quorum(votes, f).key, gold, cost, len(votes))
        answer, _ = _quorum_or_fallback(kept, f, learner.vote_accuracy, space, fallback)
        arms["quorum-fallback"].add(answer, gold, kept_cost, len(kept))
        trimmed = trimmed_weighted(votes, learner.vote_accuracy, space, f)
        arms["trimmed"].add(trimmed.key, gold, cost, len(votes))
        reliable, by_quorum = _reliable_or_fallback(
            votes, f, learner.vote_accuracy, space, bound, reliable_fallback
        )
        arms["reliable"].add(reliable, gold, cost, len(votes))
        reliable_decided += int(by_quorum)
        for arm_name, chosen_names in (
            ("self-consistency", samples),
            ("self-consistency-recalled", recalled_samples),
        ):
            if chosen_names:
                chosen = [v for v in votes if v.voter in chosen_names]
                arms[arm_name].add(
                    plurality(chosen).key, gold, sum(v.cost_usd for v in chosen), len(chosen)
                )
        absent = [v for v in votes if v.voter != liar]  # the liar's vote not cast at all
        arms["weighted-liar-absent"].add(
            router.tally(q, absent, "weighted").key, gold, cost, len(absent)
        )
        absent_kept = [v for v in kept if v.voter != liar]
        if len(absent_kept) >= 3 * f + 1:
            absent_answer, _ = _quorum_or_fallback(
                absent_kept, f, learner.vote_accuracy, space, fallback
            )
        else:  # too few members left for a quorum: the fallback rule alone
            absent_answer = weighted(absent_kept, learner.vote_accuracy, space).key
        arms["quorum-fallback-liar-absent"].add(
            absent_answer, gold, sum(v.cost_usd for v in absent_kept), len(absent_kept)
        )
        absent_reliable, _ = _reliable_or_fallback(
            absent, f, learner.vote_accuracy, space, bound, reliable_fallback
        )
        arms["reliable-liar-absent"].add(absent_reliable, gold, cost, len(absent))
        lied = tuple(_liar(v, gold, labels) if v.voter == liar else v for v in votes)
        lied_kept = [v for v in lied if v.voter in members]
        arms["quorum+liar"].add(byzantine_quorum(lied_kept, f).key, gold, kept_cost, len(kept))
        arms["quorum-all+liar"].add(byzantine_quorum(lied, f).key, gold, cost, len(votes))
        lied_fallback, _ = _quorum_or_fallback(lied_kept, f, learner.vote_accuracy, space, fallback)
        arms["quorum-fallback+liar"].add(lied_fallback, gold, kept_cost, len(kept))
        lied_reliable, _ = _reliable_or_fallback(
            lied, f, learner.vote_accuracy, space, bound, reliable_fallback
        )
        arms["reliable+liar"].add(lied_reliable, gold, cost, len(votes))
        arms["weighted+liar"].add(router.tally(q, lied, "weighted").key, gold, cost, len(votes))
        arms["stacked+liar"].add(stacker.tally(lied, labels).key, gold, cost, len(votes))
        lied_trimmed = trimmed_weighted(lied, learner.vote_accuracy, space, f)
        arms["trimmed+liar"].add(lied_trimmed.key, gold, cost, len(votes))
    # Each voter in turn as the liar: the mean error of the trimmed rule (every voter) and
    # of the quorum and its fallback (every quorum member; a liar outside it changes nothing).
    each_liar: dict[str, list[float]] = {
        "trimmed": [],
        "quorum": [],
        "fallback": [],
        "reliable": [],
    }
    each_wrong: dict[str, list[float]] = {"quorum": [], "fallback": []}
    for name in names:
        wrong = {"trimmed": 0, "quorum": 0, "fallback": 0, "reliable": 0}
        acted_wrongly = {"quorum": 0, "fallback": 0}
        for item, votes in test:
            lied = tuple(_liar(v, item.gold, labels) if v.voter == name else v for v in votes)
            space = item.question.schema.answer_space(len({v.key for v in lied if v.answered}))
            tally = trimmed_weighted(lied, learner.vote_accuracy, space, f)
            wrong["trimmed"] += int(tally.key != item.gold)
            reliable_key, _ = _reliable_or_fallback(
                lied, f, learner.vote_accuracy, space, bound, reliable_fallback
            )
            wrong["reliable"] += int(reliable_key != item.gold)
            if name in members:
                lied_kept = [v for v in lied if v.voter in members]
                quorum_key = byzantine_quorum(lied_kept, f).key
                fallback_key, _ = _quorum_or_fallback(
                    lied_kept, f, learner.vote_accuracy, space, fallback
                )
                wrong["quorum"] += int(quorum_key != item.gold)
                wrong["fallback"] += int(fallback_key != item.gold)
                acted_wrongly["quorum"] += int(quorum_key not in (None, item.gold))
                acted_wrongly["fallback"] += int(fallback_key not in (None, item.gold))
        each_liar["trimmed"].append(wrong["trimmed"] / max(1, len(test)))
        each_liar["reliable"].append(wrong["reliable"] / max(1, len(test)))
        if name in members:
            for rule in ("quorum", "fallback"):
                each_liar[rule].append(wrong[rule] / max(1, len(test)))
                each_wrong[rule].append(acted_wrongly[rule] / max(1, len(test)))
    # Members quarantined when their agreement with the decisions drops (no labels used).
    expected = _expected_agreement(members, train, f, learner.vote_accuracy, fallback)

    def monitored_error(lying: str | None) -> tuple[float, AgreementMonitor]:
        answers, monitor = _monitored(
            test, members, f, learner.vote_accuracy, fallback, expected, lying, labels
        )
        wrong = sum(a != i.gold for a, (i, _) in zip(answers, test, strict=True))
        return wrong / max(1, len(test)), monitor

    monitored_honest, honest_monitor = monitored_error(None)
    monitored_liar, liar_monitor = monitored_error(liar if liar in members else None)
    for arm_name, label, kind, lying in (
        ("monitored", "quorum else fallback, quarantine by agreement", "rule", None),
        ("monitored+liar", f"quorum else fallback + quarantine, {liar} lying", "adversarial", liar),
    ):
        arm = Arm(label, kind)
        answers, _ = _monitored(
            test, members, f, learner.vote_accuracy, fallback, expected, lying, labels
        )
        for answer, (item, votes) in zip(answers, test, strict=True):
            kept = [v for v in votes if v.voter in members]
            arm.add(answer, item.gold, sum(v.cost_usd for v in kept), len(kept))
        arms[arm_name] = arm
    monitored_each = [monitored_error(name)[0] for name in members]
    caught = liar_monitor.caught_after(liar)
    # A part-time liar: lies on PART_TIME_LIES of the questions, harder to catch.
    part_answers, part_monitor = _monitored(
        test, members, f, learner.vote_accuracy, fallback, expected, liar, labels, PART_TIME_LIES
    )
    part_error = sum(a != i.gold for a, (i, _) in zip(part_answers, test, strict=True)) / max(
        1, len(test)
    )
    part_caught = part_monitor.caught_after(liar)
    # Cascade: stages, threshold and agreement are the cheapest within 1 point of the full
    # ensemble on train (see _choose_cascade).
    full_train = sum(
        router.tally(i.question, vs, "weighted").key == i.gold for i, vs in train
    ) / max(1, len(train))
    all_stages = cascade_stages(pool, llm, train)
    stages, chosen_threshold, chosen_agreement = await _choose_cascade(
        pool, learner, train, all_stages, full_train - ACCURACY_TOLERANCE
    )
    _, _, escalated, results = await _cascade(
        pool, learner, test, chosen_threshold, stages, chosen_agreement
    )
    described = " > ".join("+".join(stage) for stage in stages)
    cascade = Arm(
        f"cascade (posterior {chosen_threshold}, agreement {chosen_agreement}; {described})",
        "cascade",
    )
    for (key, cost, calls), (item, _) in zip(results, test, strict=True):
        cascade.add(key, item.gold, cost, calls)
    arms["cascade"] = cascade

    voters = [arms[n] for n in names]
    rules = [a for a in arms.values() if a.kind == "rule"]
    best_single = min(voters, key=lambda a: a.error)
    best_vote = min(rules, key=lambda a: a.error)
    full = arms["weighted"]
    out = {
        "test_items": float(len(test)),
        "train_items": float(len(train)),
        "best_single_error": best_single.error,
        "best_vote_error": best_vote.error,
        "vote_error_ratio": best_vote.error / best_single.error
        if best_single.error > 0
        else (1.0 if best_vote.error == 0 else math.inf),
        "cascade_cost_ratio": full.cost_usd / cascade.cost_usd
        if cascade.cost_usd > 0
        else math.inf,
        "cascade_accuracy_drop_pts": 100.0 * (cascade.error - full.error),
        "cascade_threshold": chosen_threshold,
        "cascade_min_agreement": chosen_agreement,
        "cascade_escalation_rate": escalated / max(1, len(test)),
        "cascade_stages": float(len(stages)),
        "cascade_stages_dropped": float(len(all_stages) - len(stages)),
        "quorum_error": arms["quorum"].error,
        # The quorum's two failure modes apart: acting on a wrong answer (what one liar
        # must not cause) and not deciding (what a liar among weak voters does cause).
        "quorum_wrong_decision": arms["quorum"].wrong_decision,
        "quorum_no_decision": arms["quorum"].no_decision,
        "adversarial_quorum_wrong_decision": arms["quorum+liar"].wrong_decision,
        "adversarial_quorum_no_decision": arms["quorum+liar"].no_decision,
        "adversarial_quorum_error": arms["quorum+liar"].error,
        "adversarial_weighted_error": arms["weighted+liar"].error,
        "trimmed_error": arms["trimmed"].error,
        "adversarial_trimmed_error_mean_over_liars": statistics.mean(each_liar["trimmed"]),
        "adversarial_quorum_error_mean_over_liars": statistics.mean(each_liar["quorum"]),
        "adversarial_quorum_wrong_decision_mean_over_liars": statistics.mean(each_wrong["quorum"]),
        # What is left without the liar's information: the reliability-weighted vote of
        # every other voter and the best other voter (a rule that tolerates the liar
        # cannot be expected to beat what the honest voters know).
        "liar_absent_weighted_error": arms["weighted-liar-absent"].error,
        "liar_absent_best_single_error": min(arms[n].error for n in names if n != liar),
        # The single voter one would pick without looking at test: the most accurate on
        # train (the liar of the adversarial arms), scored on test.
        "train_best_single_error": arms[liar].error,
        "quorum_members": float(len(members)),
        "quorum_tight_share": tight / max(1, len(test)),
        "quorum_member_min_train_accuracy": bar,
        "quorum_all_error": arms["quorum-all"].error,
        "quorum_all_no_decision": arms["quorum-all"].no_decision,
        "adversarial_quorum_all_error": arms["quorum-all+liar"].error,
        "adversarial_quorum_all_no_decision": arms["quorum-all+liar"].no_decision,
        "adversarial_quorum_all_wrong_decision": arms["quorum-all+liar"].wrong_decision,
        "quorum_fallback_error": arms["quorum-fallback"].error,
        "quorum_fallback_weighted": float(fallback == "weighted"),
        "quorum_fallback_wrong_decision": arms["quorum-fallback"].wrong_decision,
        "adversarial_quorum_fallback_error": arms["quorum-fallback+liar"].error,
        "adversarial_quorum_fallback_wrong_decision": arms["quorum-fallback+liar"].wrong_decision,
        "adversarial_quorum_fallback_error_mean_over_liars": statistics.mean(each_liar["fallback"]),
        "adversarial_quorum_fallback_wrong_decision_mean_over_liars": statistics.mean(
            each_wrong["fallback"]
        ),
        "reliable_quorum_error": arms["reliable"].error,
        "reliable_quorum_bound": bound,
        "reliable_quorum_fallback_weighted": float(reliable_fallback == "weighted"),
        "reliable_quorum_decided_share": reliable_decided / max(1, len(test)),
        "adversarial_reliable_quorum_error": arms["reliable+liar"].error,
        "adversarial_reliable_quorum_gap_pts": 100.0
        * (arms["reliable+liar"].error - arms["reliable"].error),
        "adversarial_reliable_quorum_error_mean_over_liars": statistics.mean(each_liar["reliable"]),
        "adversarial_quorum_fallback_gap_pts": 100.0
        * (arms["quorum-fallback+liar"].error - arms["quorum-fallback"].error),
        # The same rules with the liar's vote not cast at all ("without it"): what the
        # honest voters alone decide, and how much the lying vote adds to that.
        "liar_absent_quorum_fallback_error": arms["quorum-fallback-liar-absent"].error,
        "adversarial_quorum_fallback_vs_absent_pts": 100.0
        * (arms["quorum-fallback+liar"].error - arms["quorum-fallback-liar-absent"].error),
        "liar_absent_reliable_quorum_error": arms["reliable-liar-absent"].error,
        "adversarial_reliable_quorum_vs_absent_pts": 100.0
        * (arms["reliable+liar"].error - arms["reliable-liar-absent"].error),
        "monitored_error": monitored_honest,
        "monitored_false_quarantines": float(len(honest_monitor.quarantined())),
        "adversarial_monitored_error": monitored_liar,
        "adversarial_monitored_gap_pts": 100.0 * (monitored_liar - monitored_honest),
        "adversarial_monitored_liar_caught_after": float(caught) if caught else -1.0,
        "adversarial_monitored_honest_quarantined": float(len(liar_monitor.quarantined() - {liar})),
        "adversarial_monitored_error_mean_over_liars": statistics.mean(monitored_each),
        "adversarial_monitored_gap_pts_mean_over_liars": 100.0
        * (statistics.mean(monitored_each) - monitored_honest),
        "adversarial_monitored_part_time_error": part_error,
        "adversarial_monitored_part_time_gap_pts": 100.0 * (part_error - monitored_honest),
        "adversarial_monitored_part_time_caught_after": float(part_caught) if part_caught else -1.0,
        "stacked_error": arms["stacked"].error,
        "stacked_l2": stack_l2,
        "stacked_per_answer": float(stack_per_answer),
        "adversarial_stacked_error": arms["stacked+liar"].error,
        "adversarial_trimmed_error": arms["trimmed+liar"].error,
        "weighted_error": full.error,
        "plurality_error": arms["plurality"].error,
        "confidence_error": arms["confidence"].error,
    }
    if samples:
        out["self_consistency_error"] = arms["self-consistency"].error
        out["greedy_fewshot_error"] = arms["gemma-fewshot"].error
    if recalled_samples:
        out["self_consistency_recalled_error"] = arms["self-consistency-recalled"].error
        out["greedy_recalled_error"] = arms["gemma-recalled"].error
    print(
        f"{task}: best single {best_single.name} {best_single.error:.3f}, best rule "
        f"{best_vote.name} {best_vote.error:.3f}, cascade {cascade.error:.3f} at "
        f"{out['cascade_cost_ratio']:.1f}x less cost",
        flush=True,
    )
    rows = [a.row() for a in arms.values()]
    rows.append({"arm": f"(liar: {liar})", "kind": "note"})
    return out, rows


# ---------------------------------------------------------------- overhead and speed


@contextlib.contextmanager
def _wire_timer() -> Iterator[list[float]]:
    """Seconds each HTTP exchange spends on the wire and at the server: from the transport
    sending the request to the whole reply body read. Both transports a call may take are
    timed (patched for the duration of the block and restored): litellm's aiohttp transport
    (a client litellm makes per call) and the OpenAI SDK's (the client a ``VoterPool`` keeps
    for a text-completion voter)."""
    from litellm.llms.custom_httpx.aiohttp_transport import LiteLLMAiohttpTransport

    try:  # the HTTP package of the OpenAI SDK: httpx2 in recent releases, httpx before
        import httpx2 as sdk_http
    except ImportError:
        import httpx as sdk_http  # type: ignore[no-redef]

    spans: list[float] = []
    patched: list[tuple[type[Any], Any]] = []
    for transport in (LiteLLMAiohttpTransport, sdk_http.AsyncHTTPTransport):
        original = transport.handle_async_request

        async def timed(self: Any, request: Any, _original: Any = original) -> Any:
            started = time.perf_counter()
            response = await _original(self, request)
            await response.aread()
            spans.append(time.perf_counter() - started)
            return response

        transport.handle_async_request = timed
        patched.append((transport, original))
    try:
        yield spans
    finally:
        for transport, original in patched:
            transport.handle_async_request = original


def _percentiles(name: str, values_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values_ms)
    if not ordered:
        return {}
    return {
        f"{name}_ms_p50": statistics.median(ordered),
        f"{name}_ms_p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
    }


def _post(url: str, payload: bytes) -> bytes:
    """POST ``payload`` as JSON to ``url``; the reply body."""
    request = urllib.request.Request(
        url, data=payload, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=LLM_TIMEOUT_S) as reply:
        body: bytes = reply.read()
        return body


_REPLAY_SERVER = """
import http.server, sys
body = sys.stdin.buffer.read()
reply = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\n"
         + b"content-length: %d\\r\\n\\r\\n" % len(body) + body)
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@contextlib.contextmanager
def _replay_server(body: bytes) -> Iterator[str]:
    """A loopback HTTP server in its own process that answers every POST with ``body`` in
    one write (keep-alive): the local model's reply replayed without the model, for the
    client-side cost on a machine where no model evicts the client's caches between calls."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-c", _REPLAY_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(body)
        process.stdin.close()
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _client_ms(
    base_url: str, prompt: str
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per call, the client-side milliseconds (wall minus the HTTP exchange) and the
    process CPU milliseconds of ``OVERHEAD_PAIRS`` calls each way, against ``base_url``:
    ``router_overhead`` (``VoterPool.ask``), ``router_call`` (``Router.acompletion``) and
    ``litellm_floor`` (a bare ``litellm.atext_completion``)."""
    import litellm

    from patterns.consensus_router import LabelSchema

    entry = local_llm.model_entry("probe", base_url, prompt, logprobs=False)
    pool = VoterPool(
        parse_model_list({"model_list": [entry], "router_settings": {"num_retries": 0}}),
        RouterSettings(max_tokens=1, voter_timeout_s=LLM_TIMEOUT_S),
    )
    q = Question("probe", "Sentiment?", LabelSchema(("positive", "negative")))
    messages = build_messages(q, pool.spec("probe"))
    params = entry["litellm_params"]

    async def bare() -> None:
        await litellm.atext_completion(
            model=params["model"],
            api_base=base_url,
            api_key=params["api_key"],
            prompt=prompt,
            max_tokens=1,
            temperature=0.0,
            stop=["\n"],
        )

    async def routed() -> None:
        await pool._router.acompletion(model="probe", messages=messages, max_tokens=1)

    async def asked() -> None:
        vote = await pool.ask("probe", q)
        if vote.status in (VoteStatus.FAILED, VoteStatus.TIMED_OUT):
            raise RuntimeError(f"probe call failed: {vote.error}")

    ways = {"litellm_floor": bare, "router_call": routed, "router_overhead": asked}
    try:
        for call in ways.values():  # warm up the clients and the server's prompt cache
            await call()
        client_ms: dict[str, list[float]] = {name: [] for name in ways}
        cpu_ms: dict[str, list[float]] = {name: [] for name in ways}
        with _wire_timer() as wire:
            for _ in range(OVERHEAD_PAIRS):
                for name, call in ways.items():
                    wire.clear()
                    cpu = time.process_time()
                    started = time.perf_counter()
                    await call()
                    wall = time.perf_counter() - started
                    cpu_ms[name].append((time.process_time() - cpu) * 1000)
                    if len(wire) == 1:  # one HTTP exchange, no retry
                        client_ms[name].append((wall - wire[0]) * 1000)
    finally:
        await pool.aclose()
    return client_ms, cpu_ms


async def _overhead_and_speed(base_url: str) -> dict[str, float]:
    """Client-side time around real calls, and the server's generation speed.

    The same one-token completion (prompt cached by the server) is asked, in turn,
    ``OVERHEAD_PAIRS`` times each way: through ``VoterPool.ask`` (the pattern: prompt,
    litellm.Router, parsing into a vote), through ``Router.acompletion`` alone, and
    through a bare ``litellm.atext_completion`` (litellm's own floor, no router). Each
    call's overhead is its wall time minus the time its HTTP exchange took on the wire
    and at the server (:func:`_wire_timer`), so the figures do not depend on how long
    the model takes. ``router_overhead`` is the pattern's whole path,
    ``litellm_floor`` a bare litellm call, ``pool_own_overhead`` the pool's part (its
    path minus the Router call inside it); the ``_cpu`` figures are the client
    process's CPU time per call (all its threads), which a busy machine inflates far less
    than wall time. The ``_replayed`` figures are the same calls answered by
    :func:`_replay_server` with the model's own reply: on this 2-core machine the model
    streams its weights through the caches the client shares with it, and the client's
    code runs cold after every real call; replayed, it runs as it would with the model on
    another machine. Speed: the server's own timings of three 32-token generations.
    """
    prompt = "Review: The room was clean and quiet.\nSentiment:"
    client_ms, cpu_ms = await _client_ms(base_url, prompt)
    own = [
        a - r for a, r in zip(client_ms["router_overhead"], client_ms["router_call"], strict=False)
    ]
    probe_body = json.dumps(
        {
            "model": local_llm.MODEL_ALIAS,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "stop": ["\n"],
        }
    ).encode()
    real_reply = await asyncio.to_thread(_post, f"{base_url}/completions", probe_body)
    with _replay_server(real_reply) as replay_url:
        replayed_ms, replayed_cpu = await _client_ms(replay_url, prompt)

    def direct(payload: bytes) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(_post(f"{base_url}/completions", payload))
        return result

    speed_body = json.dumps(
        {
            "model": local_llm.MODEL_ALIAS,
            "prompt": "Once upon a time",
            "max_tokens": 32,
            "temperature": 0.0,
            "ignore_eos": True,
        }
    ).encode()
    rates = [
        float((await asyncio.to_thread(direct, speed_body))["timings"]["predicted_per_second"])
        for _ in range(3)
    ]
    return {
        **_percentiles("router_overhead", client_ms["router_overhead"]),
        **_percentiles("litellm_floor", client_ms["litellm_floor"]),
        **_percentiles("router_call", client_ms["router_call"]),
        **_percentiles("pool_own_overhead", own),
        # CPU the client process spent per call (every thread): the same costs, without
        # the waiting for a core that a busy machine adds to the wall-clock figures.
        **_percentiles("router_overhead_cpu", cpu_ms["router_overhead"]),
        **_percentiles("litellm_floor_cpu", cpu_ms["litellm_floor"]),
        **_percentiles("router_overhead_replayed", replayed_ms["router_overhead"]),
        **_percentiles("litellm_floor_replayed", replayed_ms["litellm_floor"]),
        **_percentiles("router_overhead_replayed_cpu", replayed_cpu["router_overhead"]),
        "llm_tokens_per_s": statistics.median(rates),
    }


# ---------------------------------------------------------------- run


def _markdown(task: str, rows: list[dict[str, Any]], figures: dict[str, float]) -> str:
    cols = ["arm", "kind", "error", "no_answer", "cost_usd_per_q", "calls_per_q"]
    lines = [
        f"## {task}: {int(figures['test_items'])} test items ({int(figures['train_items'])} train)",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for row in rows:
        if row["kind"] == "note":
            lines.append(f"\n{row['arm']}\n")
            continue
        cells = [f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", ", ".join(f"{k}={v:.4g}" for k, v in figures.items()), ""]
    return "\n".join(lines)


async def _run(base_url: str, tasks: Sequence[str]) -> tuple[dict[str, float], str]:
    cache = _load_cache()
    counters = Counters()
    out: dict[str, float] = {}
    sections = []
    try:
        for task in tasks:
            items = load_task(task)
            limit = int(os.environ.get("SWARMKIT_ROUTER_BENCH_LIMIT", "0"))
            if limit > 0:  # a smoke run on the first items of each split
                items = {split: rows[:limit] for split, rows in items.items()}
            vectors: dict[str, list[float]] | None = None
            tokens = 0.0
            if task in EMBED_TASKS:
                texts = [str(i.question.payload["text"]) for rows in items.values() for i in rows]
                vectors, tokens = await embed_texts(base_url, texts, counters)
            items = _with_recall(task, items, vectors)
            pool, llm = build_pool(task, items, base_url, vectors, tokens)
            train = await collect(task, pool, llm, items["train"], cache, counters)
            test = await collect(task, pool, llm, items["test"], cache, counters)
            figures, rows = await analyse(task, pool, llm, train, test)
            out |= {f"{task}_{k}": float(v) for k, v in figures.items() if math.isfinite(v)}
            sections.append(_markdown(task, rows, figures))
        out |= await _overhead_and_speed(base_url)
    finally:
        await close_litellm_async_clients()
    out["llm_calls"] = float(counters.calls)
    out["llm_calls_cached"] = float(counters.cached)
    out["embedding_calls"] = float(counters.embedding_calls)
    out["embedding_tokens"] = float(counters.embedding_tokens)
    if counters.latencies:
        out["llm_call_s_p50"] = statistics.median(counters.latencies)
    return out, "\n".join(sections)


def run_router_bench(tasks: Sequence[str] = TASKS) -> dict[str, float]:
    """Run every text task through the local model and the cheap voters; flat figures."""
    missing = local_llm.missing_packages()
    if missing:
        raise RuntimeError(f"the local model is not installed: {missing}")
    started = time.perf_counter()
    with local_llm.LocalLLMServer(port=None, embeddings=True) as server:
        out, report = asyncio.run(_run(server.api_base, tasks))
    out["bench_s"] = time.perf_counter() - started
    REPORT_PATH.parent.mkdir(exist_ok=True)
    header = (
        "# Consensus router: per-arm results on the test splits\n\n"
        "Errors count no-answer as wrong. Costs: local LLM tokens at the price table of "
        "`patterns/consensus_router/local_llm.py` (the embedding voter: its embedding "
        "tokens at the prompt-token price plus its compute), other non-LLM voters at "
        f"measured compute. LLM calls made by this run: {int(out['llm_calls'])}, replayed "
        f"from the vote cache: {int(out['llm_calls_cached'])}; embedding requests made: "
        f"{int(out['embedding_calls'])} (cached embeddings replayed). The quorum rows: "
        "no_answer counts its no-decisions, error minus no_answer share its wrong "
        "decisions; `quorum of the N voters >= a on train` is taken over the voters at "
        "least that accurate on train (the bar chosen on train), `quorum of all voters` "
        "over every voter. `stacked`: the stacked combiner learned on train. `reliable "
        "quorum`: an answer needs learned-reliability support beyond its heaviest vote "
        "(bound chosen on train), else the fallback rule. `quarantine by agreement`: the "
        "test split as a stream; a member whose agreement with the decisions falls "
        "improbably below its train agreement is left out from then on. `absent` rows: "
        "the liar's vote not cast at all.\n\n"
    )
    REPORT_PATH.write_text(header + report)
    print(f"per-arm tables: {REPORT_PATH.relative_to(ROOT)}")
    return out


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-seed"]:
        for written in write_seed():
            print(written)
    else:
        print(json.dumps(run_router_bench(), indent=2, sort_keys=True))
