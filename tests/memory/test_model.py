"""Stateful property test: the store against a dictionary model, invariants after every step."""

from __future__ import annotations

import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from patterns.memory import HashingEmbedder, MemoryItem, MemorySettings, MemoryStore
from patterns.memory.exceptions import InvalidRecordError, RecordNotFoundError

POOL = [f"id{i}" for i in range(8)]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo"]
DIM = 32  # vector dimensions

ids = st.sampled_from(POOL)
scores = st.floats(min_value=-100, max_value=100, allow_nan=False)


class MemoryMachine(RuleBasedStateMachine):
    """Adds, upserts, deletes and score updates; the store must match the model."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="memory-model-")
        config = MemorySettings(create_if_missing=True, uri=self.dir, dim=DIM)
        self.store = MemoryStore(config, HashingEmbedder(dim=DIM))
        self.model: dict[str, tuple[str, float]] = {}

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(rid=ids, word=st.sampled_from(WORDS))
    def add(self, rid: str, word: str) -> None:
        text = f"{rid} {word}"
        if rid in self.model:
            with pytest.raises(InvalidRecordError, match="already exist"):
                self.store.add([MemoryItem(text=text, id=rid)])
        else:
            self.store.add([MemoryItem(text=text, id=rid)])
            self.model[rid] = (text, 0.0)

    @rule(
        batch=st.lists(
            st.tuples(ids, st.sampled_from(WORDS)), min_size=1, max_size=4, unique_by=lambda t: t[0]
        )
    )
    def upsert(self, batch: list[tuple[str, str]]) -> None:
        self.store.upsert([MemoryItem(text=f"{rid} {w}", id=rid, score=1.0) for rid, w in batch])
        for rid, w in batch:
            self.model[rid] = (f"{rid} {w}", 1.0)

    @rule(rids=st.lists(ids, max_size=3, unique=True))
    def delete(self, rids: list[str]) -> None:
        expected = sum(1 for r in rids if r in self.model)
        assert self.store.delete(rids) == expected
        for r in rids:
            self.model.pop(r, None)

    @rule(rid=ids, score=scores)
    def update_score(self, rid: str, score: float) -> None:
        if rid in self.model:
            self.store.update_score(rid, score)
            self.model[rid] = (self.model[rid][0], score)
        else:
            with pytest.raises(RecordNotFoundError):
                self.store.update_score(rid, score)

    @rule(rid=ids, delta=scores)
    def adjust_score(self, rid: str, delta: float) -> None:
        if rid in self.model:
            self.store.adjust_score(rid, delta)
            text, score = self.model[rid]
            self.model[rid] = (text, score + delta)
        else:
            with pytest.raises(RecordNotFoundError):
                self.store.adjust_score(rid, delta)

    @precondition(lambda self: bool(self.model))
    @rule(data=st.data())
    def search_finds_the_exact_text(self, data: st.DataObject) -> None:
        rid = data.draw(st.sampled_from(sorted(self.model)))
        text, score = self.model[rid]
        [hit] = self.store.search(text, k=1)
        assert hit.record.id == rid and hit.record.score == pytest.approx(score)

    @invariant()
    def matches_the_model(self) -> None:
        assert self.store.count() == len(self.model)
        got = {r.id: (r.text, r.score) for r in self.store.get_many(POOL)}
        assert got.keys() == self.model.keys()
        for rid, (text, score) in self.model.items():
            assert got[rid][0] == text and got[rid][1] == pytest.approx(score)


TestMemoryModel = MemoryMachine.TestCase
TestMemoryModel.settings = settings(
    max_examples=15,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
