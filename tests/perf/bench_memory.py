"""Vector memory benchmark: insert, index build, search latency and recall on LanceDB.

Searches go through the store as a user's do: LanceDB's index (the exact in-process
working set is off, ``working_set_rows=0``) finds ids and distances, and the records come
from the store's in-process record mirror (``record_mirror_rows``).
"""

from __future__ import annotations

import shutil
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from patterns.memory import HashingEmbedder, MemoryItem, MemorySettings, MemoryStore

DIM = 384  # dimensions, as all-MiniLM-L6-v2
QUERIES = 300  # timed queries with the index (and for recall)
NOINDEX_QUERIES = 30  # timed flat-scan queries (each scans every row)
WARMUP_QUERIES = 20  # untimed queries before each timed series
K = 10  # top-k
INSERT_BATCH_ROWS = 10_000  # records per add() call (one commit each)
MIN_LINE_CHARS = 24  # shortest source line kept in the corpus, characters
SEED = 20_240_601


def text_corpus(count: int) -> list[str]:
    """``count`` distinct lines of text from the standard library's sources (docstrings,
    comments and code), in a fixed order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    out: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            source = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for line in source.splitlines():
            text = line.strip()
            if len(text) >= MIN_LINE_CHARS and text not in seen:
                seen.add(text)
                out.append(text)
                if len(out) == count:
                    return out
    raise RuntimeError(f"the standard library holds only {len(out)} distinct lines, not {count}")


def _percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e3, q))


def _timed(fn: Callable[[], object], count: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _recall(found: list[int], sims: NDArray[np.float32], k: int) -> float:
    """Fraction of ``found`` within the exact top ``k`` (ties with the k-th count as hits)."""
    kth = np.partition(sims, -k)[-k]
    return sum(1 for i in found if sims[i] >= kth - 1e-6) / k


def bench_vectors(
    data: NDArray[np.float32], queries: NDArray[np.float32], texts: list[str]
) -> dict[str, float]:
    """Insert ``data`` into a fresh store, then time searches without and with the index."""
    root = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        settings = MemorySettings(
            create_if_missing=True, uri=str(root), auto_index=False, working_set_rows=0
        )
        store = MemoryStore(settings, HashingEmbedder(dim=data.shape[1]))
        t0 = time.perf_counter()
        ids: list[str] = []
        for start in range(0, data.shape[0], INSERT_BATCH_ROWS):
            stop = start + INSERT_BATCH_ROWS
            ids += store.add(
                MemoryItem(text=t, namespace="bench", kind="line", vector=v)
                for t, v in zip(texts[start:stop], data[start:stop], strict=True)
            )
        insert_s = time.perf_counter() - t0
        position = {rid: i for i, rid in enumerate(ids)}

        rng = np.random.default_rng(SEED)
        flat_q = queries[rng.choice(queries.shape[0], NOINDEX_QUERIES, replace=False)]
        it = iter(np.concatenate([flat_q[:2], flat_q]))
        noindex = _timed(lambda: store.search(next(it), k=K, exact=True), NOINDEX_QUERIES, 2)

        t0 = time.perf_counter()
        status = store.build_index()
        build_s = time.perf_counter() - t0
        assert status.indexed_rows == data.shape[0], status

        warm = iter(queries[:WARMUP_QUERIES])
        _timed(lambda: store.search(next(warm), k=K), WARMUP_QUERIES, 0)
        latencies: list[float] = []
        found: list[list[int]] = []
        for q in queries:
            t0 = time.perf_counter()
            hits = store.search(q, k=K)
            latencies.append(time.perf_counter() - t0)
            found.append([position[h.record.id] for h in hits])
        # The numpy baseline runs in its own loop: a multi-threaded BLAS call
        # leaves its threads spinning for a while, which would slow the
        # LanceDB searches if the two were interleaved.
        brute: list[float] = []
        recalls: list[float] = []
        for q, ids_found in zip(queries, found, strict=True):
            t0 = time.perf_counter()
            sims = data @ q
            top = np.argpartition(-sims, K)[:K]
            top[np.argsort(-sims[top])]
            brute.append(time.perf_counter() - t0)
            recalls.append(_recall(ids_found, sims, K))
        store.close()
        return {
            "insert_per_s": data.shape[0] / insert_s,
            "index_build_s": build_s,
            "search_p50_ms": _percentile_ms(latencies, 50),
            "search_p99_ms": _percentile_ms(latencies, 99),
            "search_noindex_p50_ms": _percentile_ms(noindex, 50),
            "recall_at_10": float(np.mean(recalls)),
            "numpy_bruteforce_p50_ms": _percentile_ms(brute, 50),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_memory_bench(records: int = 100_000) -> dict[str, float]:
    """The vector memory figures: text-like vectors (headline) and random unit vectors (``_random``).

    Text-like vectors are the hashing embedder's vectors of distinct lines of
    the standard library's sources; the queries are other lines of the same
    corpus, not in the table. Recall@10 compares the indexed search with an
    exact numpy search over the same vectors in the same run.
    """
    texts = text_corpus(records + QUERIES)
    embedder = HashingEmbedder(dim=DIM)
    t0 = time.perf_counter()
    data = embedder.embed(texts[:records])
    embed_s = time.perf_counter() - t0
    queries = embedder.embed(texts[records:])

    result: dict[str, float] = {
        "records": float(records),
        "dim": float(DIM),
        "embed_texts_per_s": records / embed_s,
    }
    result.update(bench_vectors(data, queries, texts[:records]))
    result["search_p50_vs_floor"] = result["search_p50_ms"] / result["numpy_bruteforce_p50_ms"]

    rng = np.random.default_rng(SEED)
    rand = rng.standard_normal((records + QUERIES, DIM)).astype(np.float32)
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    labels = [f"random vector {i}" for i in range(records)]
    random_figures = bench_vectors(rand[:records], rand[records:], labels)
    result.update({f"{key}_random": value for key, value in random_figures.items()})
    return result


if __name__ == "__main__":
    import json
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(run_memory_bench(count), indent=2))
