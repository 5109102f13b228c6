"""The HumanEval edit dataset: determinism, validity, and the engine's exact-match floor."""

from __future__ import annotations

import ast
import contextlib
from functools import cache

import pytest

from patterns.codegen.edits import EditEngine, EditError, EditFormat
from patterns.codegen.edits.dataset import TRANSFORMS, EditTriple, build_edit_triples

SEED = 7
SAMPLE = 40
# Floors observed on seeds 0-5 (SEARCH/REPLACE and unified diff 1.0, lazy >= 0.97);
# lazy misses are context lines that honestly match several places (low confidence).
FLOORS = {EditFormat.SEARCH_REPLACE: 1.0, EditFormat.UNIFIED_DIFF: 1.0, EditFormat.LAZY: 0.9}


@cache
def sample() -> tuple[EditTriple, ...]:
    return tuple(build_edit_triples(SEED, SAMPLE))


def test_same_seed_same_triples_other_seed_differs() -> None:
    again = build_edit_triples(SEED, SAMPLE)
    assert list(sample()) == again
    assert build_edit_triples(SEED + 1, SAMPLE) != again


def test_triples_are_valid_and_cover_every_transform() -> None:
    triples = sample()
    assert len(triples) == SAMPLE
    assert {t.transform for t in triples} == set(TRANSFORMS)
    for t in triples:
        ast.parse(t.original)
        ast.parse(t.expected)
        assert t.original != t.expected and set(t.edits) == set(EditFormat)
    big = [t for t in triples if len(t.original.splitlines()) >= 150]
    assert big and all(len(t.original.splitlines()) >= 250 for t in big)
    assert all(len(t.task_ids) > 5 for t in big)


@pytest.mark.parametrize("fmt", list(EditFormat))
def test_exact_match_floor(fmt: EditFormat) -> None:
    engine = EditEngine()
    hits = 0
    for t in sample():
        with contextlib.suppress(EditError):
            hits += (
                engine.merge(t.original, t.edits[fmt], None, language="python").text == t.expected
            )
    rate = hits / len(sample())
    assert rate >= FLOORS[fmt], f"{fmt.value}: exact match {rate:.3f} (seed {SEED})"
