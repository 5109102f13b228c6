"""Consensus router benchmark (`python -m tests.perf.bench_router`): real voters on labeled sets."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import numpy as np
from litellm import close_litellm_async_clients

from patterns.consensus_router import (
    CallableReply,
    CallableVoter,
    EvaluationReport,
    Question,
    RouterSettings,
    VoterPool,
    evaluate,
    load_labeled,
    local_llm,
    parse_model_list,
)
from patterns.consensus_router.callables import reply_text
from patterns.consensus_router.prompts import build_messages
from patterns.core.exceptions import SwarmError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "patterns" / "consensus_router" / "data"
SENTIMENT_SET = DATA / "sentiment_handwritten.jsonl"
DIGITS_SET = DATA / "digits_heldout.jsonl"
REPORT_PATH = ROOT / "bench-results" / "router_report.md"
COMPUTE_USD_PER_S = 2.8e-5  # a 2-core machine at about 0.10 USD/hour
PRICE_SAMPLES = 30  # single-sample calls timed to price a non-LLM voter (fastest counts)
SPLIT_SEED = 0
TEST_FRACTION = 0.3
VIEW_PIXELS = 16  # pixels each voter of the digits_views set sees
DIGIT_QUESTION = "Which digit (0-9) does this 8x8 grayscale image show?"
LLM_TIMEOUT_S = 180.0  # the one local server answers one request at a time
LLM_PORT = 8765
SENTIMENT_PROMPTS = {  # three voters: the same model under three few-shot prompts
    "gemma-2shot": (
        "Review: The pasta was overcooked and the waiter was rude.\nSentiment: negative\n\n"
        "Review: Lovely view from the balcony and a very comfortable bed.\nSentiment: positive\n\n"
        "Review: {payload[text]}\nSentiment:"
    ),
    "gemma-4shot": (
        "Review: The pasta was overcooked and the waiter was rude.\nSentiment: negative\n\n"
        "Review: Lovely view from the balcony and a very comfortable bed.\nSentiment: positive\n\n"
        "Review: The charger stopped working after two days.\nSentiment: negative\n\n"
        "Review: A gripping story with wonderful characters.\nSentiment: positive\n\n"
        "Review: {payload[text]}\nSentiment:"
    ),
    "gemma-label": (
        "Text: Quick delivery and the fit is perfect.\nLabel: positive\n\n"
        "Text: The screen cracked the first time I dropped it on the sofa.\nLabel: negative\n\n"
        "Text: Our guide was funny and knew everything about the castle.\nLabel: positive\n\n"
        "Text: Nobody answered my emails for a week.\nLabel: negative\n\n"
        "Text: {payload[text]}\nLabel:"
    ),
}


# ---------------------------------------------------------------- labeled data


def _digits_split() -> tuple[Any, Any, Any, Any, Any, Any]:
    """x_train, x_test, y_train, y_test, index_train, index_test."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    idx = np.arange(len(y))
    return train_test_split(x, y, idx, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y)


def write_digits_set(path: Path = DIGITS_SET) -> None:
    """Write the held-out digits as labeled JSONL (derived from scikit-learn's bundled copy)."""
    _, x_test, _, y_test, _, idx_test = _digits_split()
    schema = {"type": "label", "labels": [str(d) for d in range(10)]}
    with path.open("w", encoding="utf-8") as out:
        for x, y, i in zip(x_test, y_test, idx_test, strict=True):
            row = {
                "id": f"digit-{int(i):04d}",
                "question": DIGIT_QUESTION,
                "schema": schema,
                "gold": str(int(y)),
                "payload": {"index": int(i), "pixels": [int(v) for v in x]},
            }
            out.write(json.dumps(row, separators=(",", ":")) + "\n")


# ---------------------------------------------------------------- voters and prices


def _per_call_seconds(fn: Callable[[Question], object], questions: Sequence[Question]) -> float:
    """Fastest of ``PRICE_SAMPLES`` single-sample calls on one BLAS thread.

    The minimum is the call's own compute; the median on a shared machine measures
    the neighbours too.
    """
    from threadpoolctl import threadpool_limits

    times = []
    with threadpool_limits(1):
        for q in questions[:PRICE_SAMPLES]:
            started = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - started)
    return min(times)


def _priced_entry(
    name: str, fn: Callable[[Question], object], questions: Sequence[Question]
) -> dict[str, Any]:
    """A ``pyvoter`` entry whose per-token price makes one call cost its measured compute."""
    import litellm

    q = questions[0]
    entry: dict[str, Any] = {"model_name": name, "litellm_params": {"model": f"pyvoter/{name}"}}
    spec = parse_model_list([entry]).voters[0]
    prompt = "\n".join(m["content"] for m in build_messages(q, spec))
    tokens = int(litellm.token_counter(text=prompt)) + int(
        litellm.token_counter(text=reply_text(q, fn(q)))  # type: ignore[arg-type]
    )
    usd = _per_call_seconds(fn, questions) * COMPUTE_USD_PER_S
    entry["litellm_params"] |= {
        "input_cost_per_token": usd / tokens,
        "output_cost_per_token": usd / tokens,
    }
    return entry


def _classifier_voter(
    model: Any, columns: np.ndarray | None
) -> Callable[[Question], CallableReply]:
    def vote(q: Question) -> CallableReply:
        x = np.asarray(q.payload["pixels"], dtype=float)[None, :]
        if columns is not None:
            x = x[:, columns]
        proba = model.predict_proba(x)[0]
        best = int(np.argmax(proba))
        return CallableReply(str(int(model.classes_[best])), float(proba[best]))

    return vote


def _classifiers() -> dict[str, Any]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    return {
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)),
        "naive-bayes": GaussianNB(),
        "knn": make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
        "tree": DecisionTreeClassifier(random_state=SPLIT_SEED),
        "svm": make_pipeline(StandardScaler(), SVC(probability=True, random_state=SPLIT_SEED)),
        "forest": RandomForestClassifier(100, random_state=SPLIT_SEED),
        "mlp": make_pipeline(
            StandardScaler(), MLPClassifier((64,), max_iter=2000, random_state=SPLIT_SEED)
        ),
    }


def digits_pool(questions: Sequence[Question], views: bool) -> VoterPool:
    """Seven trained classifiers as callable voters (each on all pixels, or on its own view)."""
    import warnings

    x_train, _, y_train, _, _, _ = _digits_split()
    rng = np.random.default_rng(SPLIT_SEED)
    entries, callables = [], {}
    for name, model in _classifiers().items():
        columns = (
            np.sort(rng.choice(x_train.shape[1], VIEW_PIXELS, replace=False)) if views else None
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(x_train if columns is None else x_train[:, columns], y_train)
        fn = _classifier_voter(model, columns)
        entries.append(_priced_entry(name, fn, questions))
        callables[name] = CallableVoter(fn, in_thread=False)
    model_list = parse_model_list({"model_list": entries, "router_settings": {"num_retries": 0}})
    return VoterPool(model_list, RouterSettings(), callables)


def _vader() -> Callable[[Question], CallableReply | None]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def vote(q: Question) -> CallableReply | None:
        compound = float(analyzer.polarity_scores(str(q.payload["text"]))["compound"])
        if compound == 0.0:
            return None  # no sentiment words: abstain
        label = "positive" if compound > 0 else "negative"
        return CallableReply(label, 0.5 + abs(compound) / 2)

    return vote


def _afinn() -> Callable[[Question], CallableReply | None]:
    from afinn import Afinn

    lexicon = Afinn()

    def vote(q: Question) -> CallableReply | None:
        score = float(lexicon.score(str(q.payload["text"])))
        if score == 0.0:
            return None
        label = "positive" if score > 0 else "negative"
        return CallableReply(label, 0.5 + min(abs(score), 10.0) / 20)

    return vote


def sentiment_pool(questions: Sequence[Question], base_url: str) -> VoterPool:
    """Three local-Gemma voters (three prompts) and two lexicon voters."""
    entries: list[dict[str, Any]] = []
    callables: dict[str, CallableVoter] = {}
    for name, fn in (("vader", _vader()), ("afinn", _afinn())):
        entries.append(_priced_entry(name, fn, questions))
        callables[name] = CallableVoter(fn, in_thread=False)
    entries += [
        local_llm.model_entry(name, base_url, prompt, timeout_s=LLM_TIMEOUT_S)
        for name, prompt in SENTIMENT_PROMPTS.items()
    ]
    model_list = parse_model_list({"model_list": entries, "router_settings": {"num_retries": 1}})
    return VoterPool(model_list, RouterSettings(voter_timeout_s=LLM_TIMEOUT_S), callables)


# ---------------------------------------------------------------- runs


def _figures(name: str, report: EvaluationReport) -> dict[str, float]:
    head = report.headline()
    out = {f"{name}_{k}": float(v) for k, v in head.items() if math.isfinite(v)}
    out[f"{name}_questions"] = float(report.questions)
    for row in report.rows:
        if row["kind"] in ("voter", "rule", "cascade"):
            out[f"{name}_{row['arm']}_error".replace("-", "_")] = float(row["error"])
            out[f"{name}_{row['arm']}_cost_usd_per_q".replace("-", "_")] = float(
                row["cost_usd_per_q"]
            )
            out[f"{name}_{row['arm']}_no_answer".replace("-", "_")] = float(row["no_answer"])
    out[f"{name}_full_ensemble_accuracy"] = float(
        report.arm(f"{report.default_rule}/noncritical")["accuracy"]
    )
    out[f"{name}_cascade_accuracy"] = float(report.arm("cascade")["accuracy"])
    print(
        f"{name}: best single {report.best_single['arm']} ({report.best_single['error']:.4f}), "
        f"best rule {report.best_vote['arm']} ({report.best_vote['error']:.4f})"
    )
    return out


async def _run_digits(views: bool) -> EvaluationReport:
    if not DIGITS_SET.exists():
        write_digits_set()
    items = load_labeled(DIGITS_SET)
    pool = digits_pool([i.question for i in items], views)
    await pool.ask_many([v.name for v in pool.voters], items[0].question)  # warm up litellm
    try:
        return await evaluate(pool, items, dataset="digits_views" if views else "digits")
    finally:
        await close_litellm_async_clients()


async def _run_llm(base_url: str) -> EvaluationReport:
    items = load_labeled(SENTIMENT_SET)
    pool = sentiment_pool([i.question for i in items], base_url)
    await pool.ask_many([v.name for v in pool.voters], items[0].question)  # warm up
    try:
        # Temperature 0: the cascade replays the ensemble's votes instead of asking again.
        return await evaluate(pool, items, dataset="llm", replay_cascade=True)
    finally:
        await close_litellm_async_clients()


def run_router_bench() -> dict[str, float]:
    """Run every labeled set; return flat figures (``NAME_*`` keys per set).

    Three labeled sets, every voter a real model, each run once through the evaluation
    harness (every single voter, every voting rule over the full ensemble, and the
    cascade, side by side):

    * ``llm``: 120 hand-written reviews with hand-assigned sentiment
      (``patterns/consensus_router/data/sentiment_handwritten.jsonl``). Voters: the
      local Gemma 3 270M under three few-shot prompts (three voters: one model, three
      prompts) plus two lexicon classifiers, VADER and AFINN. Needs the ``local-llm``
      extra; when it is absent the set is skipped and ``llm_set_skipped`` = 1.
    * ``digits``: scikit-learn's bundled 8x8 digits, split 70/30 (seed 0); seven
      standard classifiers trained on the 70 % and asked about the 30 % held out
      (``data/digits_heldout.jsonl``), each on all 64 pixels.
    * ``digits_views``: the same held-out questions and classifier types, each trained
      on its own random 16-pixel view (the random subspace method, Ho 1998): voters
      that hold partly independent evidence.

    The cascade is run live on the digits sets; on the llm set, whose Gemma voters
    are deterministic (temperature 0) and slow, it replays the ensemble's votes.

    Prices: the Gemma voters pay the per-token prices of
    :mod:`patterns.consensus_router.local_llm`; every non-LLM voter is priced at its
    measured compute time per call (fastest of 30 single-sample calls) at
    ``COMPUTE_USD_PER_S``, written into the model list as a per-token price, so
    litellm's cost accounting prices every call the same way.
    """
    out: dict[str, float] = {}
    reports: list[EvaluationReport] = []
    for views in (False, True):
        report = asyncio.run(_run_digits(views))
        reports.append(report)
        out |= _figures(report.dataset, report)
    available, reason = local_llm.availability(port=LLM_PORT)
    missing_lexicons = [m for m in ("vaderSentiment", "afinn") if not _importable(m)]
    if not available or missing_lexicons:
        print(f"llm set skipped: {reason if not available else missing_lexicons}")
        out["llm_set_skipped"] = 1.0
    else:
        try:
            with local_llm.LocalLLMServer(port=LLM_PORT) as server:
                report = asyncio.run(_run_llm(server.api_base))
        except SwarmError as err:  # the server did not come up: report, do not crash
            print(f"llm set skipped: {type(err).__name__}: {err}")
            out["llm_set_skipped"] = 1.0
        else:
            reports.append(report)
            out |= _figures("llm", report)
            out["llm_set_skipped"] = 0.0
    REPORT_PATH.parent.mkdir(exist_ok=True)
    REPORT_PATH.write_text("\n".join(r.markdown() for r in reports))
    print(f"side-by-side tables: {REPORT_PATH.relative_to(ROOT)}")
    return out


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    print(json.dumps(run_router_bench(), indent=2, sort_keys=True))
