"""Edit engine benchmark: exact-match rate on seeded HumanEval edit triples, merge latency."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from patterns.codegen.edits import (
    AmbiguousAnchorError,
    EditEngine,
    EditError,
    EditFormat,
    detect_format,
)
from patterns.codegen.edits.dataset import EditTriple, build_edit_triples

TRIPLES = 120  # seeded triples (half single problems, half ~300-line modules)
BIG_FILE_LINES = 150  # a triple's original counts as a big file from this many lines
TIMED_MERGES = 3000  # timed merges per latency series (cycled over the big-file edits)
TIMED_FILE_APPLIES = 300  # timed apply_to_file calls
WARMUP = 50  # untimed calls before each series


def _percentile_ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1e3, q))


def _accuracy(triples: list[EditTriple], engine: EditEngine) -> dict[str, float]:
    hits: Counter[str] = Counter()
    tries: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    detected = 0
    for triple in triples:
        for fmt, edit in triple.edits.items():
            tries[fmt.value] += 1
            detected += detect_format(edit) is fmt
            try:
                result = engine.merge(triple.original, edit, None, language="python")
            except EditError as err:
                errors[type(err).__name__] += 1
                continue
            hits[fmt.value] += result.text == triple.expected
    total = sum(tries.values())
    out = {
        "edit_triples": float(len(triples)),
        "edit_exact_match": sum(hits.values()) / total,
        "edit_detect_accuracy": detected / total,
        "edit_low_confidence": float(errors.pop(AmbiguousAnchorError.__name__, 0)),
        "edit_errors": float(sum(errors.values())),
    }
    for fmt in EditFormat:
        out[f"edit_exact_match_{fmt.value}"] = hits[fmt.value] / max(1, tries[fmt.value])
    for name, count in sorted(errors.items()):
        out[f"edit_errors_{name}"] = float(count)
    return out


def _timed_merges(
    cases: list[tuple[str, str, EditFormat]], engine: EditEngine
) -> tuple[list[float], list[float]]:
    """(merge-only seconds as the engine reports them, whole merge + syntax check seconds)."""
    for i in range(WARMUP):
        original, edit, fmt = cases[i % len(cases)]
        engine.merge(original, edit, fmt, language="python")
    merge_only: list[float] = []
    whole: list[float] = []
    for i in range(TIMED_MERGES):
        original, edit, fmt = cases[i % len(cases)]
        t0 = time.perf_counter()
        result = engine.merge(original, edit, fmt, language="python")
        whole.append(time.perf_counter() - t0)
        merge_only.append(result.merge_s)
    return merge_only, whole


def _timed_file_applies(
    cases: list[tuple[str, str, EditFormat]], engine: EditEngine
) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="bench-edits-"))
    try:
        target = root / "module.py"
        samples: list[float] = []
        for i in range(WARMUP + TIMED_FILE_APPLIES):
            original, edit, fmt = cases[i % len(cases)]
            target.write_text(original, encoding="utf-8")
            t0 = time.perf_counter()
            engine.apply_to_file(target, edit, fmt)
            if i >= WARMUP:
                samples.append(time.perf_counter() - t0)
        return samples
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_edit_bench(seed: int = 0) -> dict[str, float]:
    """Exact-match rates per format, error counts, and latency on ~300-line modules.

    ``edit_merge_*`` time the merge alone (no syntax check), ``edit_*`` the whole
    apply in memory (merge + ``ast.parse``), ``edit_file_*`` ``apply_to_file`` on a
    temporary file (read, merge, check, atomic replace with fsync).
    """
    triples = build_edit_triples(seed, TRIPLES)
    engine = EditEngine()
    figures = _accuracy(triples, engine)
    big = [t for t in triples if t.original.count("\n") >= BIG_FILE_LINES]
    cases: list[tuple[str, str, EditFormat]] = []
    for triple in big:
        for fmt, edit in triple.edits.items():
            try:
                engine.merge(triple.original, edit, fmt, language="python")
            except EditError:
                continue
            cases.append((triple.original, edit, fmt))
    merge_only, whole = _timed_merges(cases, engine)
    files = _timed_file_applies(cases, engine)
    figures.update(
        {
            "edit_file_lines": statistics.fmean(t.original.count("\n") for t in big),
            "edit_timed_cases": float(len(cases)),
            "edit_merge_p50_ms": _percentile_ms(merge_only, 50),
            "edit_merge_p99_ms": _percentile_ms(merge_only, 99),
            "edit_p50_ms": _percentile_ms(whole, 50),
            "edit_p99_ms": _percentile_ms(whole, 99),
            "edit_file_p50_ms": _percentile_ms(files, 50),
            "edit_file_p99_ms": _percentile_ms(files, 99),
        }
    )
    return {k: round(v, 4) for k, v in figures.items()}


if __name__ == "__main__":
    import json

    print(json.dumps(run_edit_bench(), indent=2, sort_keys=True))


def big_file_sample(seed: int = 0) -> str:
    """The first ~300-line module of the seeded triples (what the local model regenerates)."""
    triples = build_edit_triples(seed, TRIPLES)
    return next(t.original for t in triples if t.original.count("\n") >= BIG_FILE_LINES)
