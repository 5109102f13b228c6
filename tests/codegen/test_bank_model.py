"""The model-backed parts of the reasoning bank, through a real VoterPool with callable voters."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from patterns.codegen.bank import (
    DistillationError,
    DraftList,
    ItemKind,
    ModelDistiller,
    ModelEditGenerator,
    ReasoningBank,
    RuleDistiller,
)
from patterns.codegen.records import EditFormat, Step, Trajectory
from patterns.codegen.records import TestOutcome as RunOutcome  # not a test class
from patterns.consensus_router import (
    CallableVoter,
    Question,
    RouterSettings,
    VoterFn,
    VoterPool,
    parse_model_list,
)
from patterns.memory import HashingEmbedder, MemorySettings, MemoryStore

DIM = 64
ROOT = Path(__file__).resolve().parents[2]
SOURCE = "def sum_to(n):\n    total = 0\n    for i in range(1, n):\n        total += i\n    return total\n"
EDIT = (
    "<<<<<<< SEARCH\n    for i in range(1, n):\n=======\n"
    "    for i in range(1, n + 1):\n>>>>>>> REPLACE"
)
FAIL = RunOutcome(False, 3, 1, "AssertionError", "assert sum_to(3) == 6")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MemoryStore]:
    settings = MemorySettings(create_if_missing=True, uri=str(tmp_path / "lancedb"), dim=DIM)
    with MemoryStore(settings, HashingEmbedder(dim=DIM)) as s:
        yield s


def pool_of(callables: Mapping[str, VoterFn]) -> VoterPool:
    """A pool of Python-callable voters ``pyvoter/NAME``, without retries."""
    entries = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"pyvoter/{name}",
                "input_cost_per_token": 1e-9,
                "output_cost_per_token": 1e-9,
            },
        }
        for name in callables
    ]
    model_list = parse_model_list({"model_list": entries, "router_settings": {"num_retries": 0}})
    wrapped = {name: CallableVoter(fn, in_thread=False) for name, fn in callables.items()}
    return VoterPool(model_list, RouterSettings(), wrapped)


def trajectory(tid: str, success: bool = True) -> Trajectory:
    steps = [
        Step(0, "c0", "swap", EditFormat.SEARCH_REPLACE, ("op:swap-args",), "swap", outcome=FAIL)
    ]
    if success:
        steps.append(
            Step(
                1,
                "c1",
                EDIT,
                EditFormat.SEARCH_REPLACE,
                ("op:widen-range", "op:widen-range@for-range"),
                "line 3: range(1, n) -> range(1, n + 1)",
                outcome=RunOutcome(True, 3, 0),
            )
        )
    return Trajectory(
        id=tid,
        task_id="HumanEval/sum",
        task="Return the sum of 1..n.",
        context={"signature": FAIL.signature, "features": ["for-range", "accumulator"]},
        steps=tuple(steps),
        success=success,
    )


DRAFTS: dict[str, Any] = {
    "items": [
        {
            "kind": "strategy",
            "title": "Include the upper bound",
            "description": "range(1, n) misses n",
            "content": "When a sum over 1..n is short by n, make the range end at n + 1.",
            "tags": ["op:widen-range", "op:invented"],
        },
        {
            "kind": "pitfall",
            "title": "Swapping arguments is unrelated",
            "content": "An off-by-n sum is not an argument-order bug.",
            "tags": ["op:swap-args"],
        },
    ]
}


class Distiller:
    """Callable voters: one malformed, one answering DRAFTS and recording its question."""

    def __init__(self) -> None:
        self.questions: list[Question] = []

    def good(self, q: Question) -> dict[str, Any]:
        self.questions.append(q)
        return DRAFTS

    @staticmethod
    def garbage(q: Question) -> str:
        return "I would rather not produce JSON."


async def test_model_distiller_through_a_voter_pool(store: MemoryStore) -> None:
    voters = Distiller()
    pool = pool_of({"garbage": voters.garbage, "good": voters.good})
    bank = ReasoningBank(store, distiller=ModelDistiller(pool, ["garbage", "good"]))

    report = await bank.arecord(trajectory("t1"))
    assert len(report.added_ids) == 2
    [question] = voters.questions
    assert "Return the sum of 1..n." in question.text and "op:widen-range" in question.text
    assert "PASSED" in question.text and question.payload["trajectory"]["id"] == "t1"

    [strategy] = bank.items("strategy")
    assert strategy.title == "Include the upper bound"
    assert strategy.tags == ("op:widen-range",)  # the invented tag is dropped
    assert strategy.context.signature == FAIL.signature  # the trajectory's, not the model's
    assert strategy.sources == ("t1",)
    [pitfall] = bank.items("pitfall")
    assert pitfall.tags == ("op:swap-args",)


def test_model_distiller_from_sync_code_drops_strategies_of_failures(store: MemoryStore) -> None:
    voters = Distiller()
    bank = ReasoningBank(store, distiller=ModelDistiller(pool_of({"good": voters.good}), ["good"]))
    report = bank.record(trajectory("t1", success=False))
    assert len(report.added_ids) == 1
    assert [i.kind for i in bank.items()] == [ItemKind.PITFALL]
    assert len(voters.questions) == 1 and "NOT solved" in voters.questions[0].text


async def test_model_distiller_without_answers(store: MemoryStore) -> None:
    pool = pool_of({"garbage": Distiller.garbage})
    bank = ReasoningBank(store, distiller=ModelDistiller(pool, ["garbage"]))
    count = store.count()
    with pytest.raises(DistillationError, match="garbage: malformed"):
        await bank.arecord(trajectory("t1"))
    assert store.count() == count == 0

    with_fallback = ModelDistiller(pool, ["garbage"], fallback=RuleDistiller())
    items = await with_fallback.adistill(trajectory("t1"))
    assert [i.kind for i in items] == [ItemKind.STRATEGY, ItemKind.PITFALL]
    assert DraftList.model_validate(DRAFTS).items[0].kind == "strategy"


async def test_edit_generator_puts_memories_into_the_prompt(store: MemoryStore) -> None:
    bank = ReasoningBank(store)
    bank.record(trajectory("t1"))
    recalled = bank.recall(f"{FAIL.signature} for-range accumulator")
    assert {r.item.kind for r in recalled} == {ItemKind.STRATEGY, ItemKind.PITFALL}
    block = bank.prompt_block(recalled)
    seen: list[Question] = []

    def coder(q: Question) -> dict[str, str]:
        seen.append(q)
        return {"format": "search_replace", "edit": EDIT, "rationale": "include n\nin the sum"}

    def echo(q: Question) -> dict[str, str]:  # the same edit again: deduplicated
        return {"format": "search_replace", "edit": EDIT, "rationale": "same"}

    def wrong(q: Question) -> dict[str, str]:  # not an edit format: malformed, dropped
        return {"format": "patch", "edit": "whatever", "rationale": ""}

    pool = pool_of({"coder": coder, "wrong": wrong, "echo": echo})
    generator = ModelEditGenerator(pool, ["coder", "wrong", "echo"])
    [candidate] = await generator.propose("Return the sum of 1..n.", SOURCE, FAIL, recalled)

    [question] = seen
    assert block and block in question.text  # the bank's memory block reached the voter
    assert "Relevant past strategies:" in question.text and "Pitfalls to avoid:" in question.text
    assert "Return the sum of 1..n." in question.text
    assert FAIL.signature in question.text
    assert "  3 |     for i in range(1, n):" in question.text  # numbered source
    assert question.payload["recalled_ids"] == [r.item.id for r in recalled]
    assert candidate.edit == EDIT and candidate.format is EditFormat.SEARCH_REPLACE
    assert candidate.source == "coder"
    assert candidate.tags == ("model:coder", "format:search_replace")
    assert candidate.description == "include n in the sum"

    two = await generator.propose("Return the sum of 1..n.", SOURCE, None, [], n=2)
    assert [c.source for c in two] == ["coder"]  # two samples each, one distinct edit
    assert len(seen) == 3 and seen[1].id != seen[2].id
    assert "Failing tests: not run yet" in seen[-1].text and "Memory" not in seen[-1].text


def test_bank_imports_do_not_load_litellm() -> None:
    code = (
        "import sys\n"
        "import patterns.codegen.bank as b\n"
        "import patterns.codegen.bank.prompting, patterns.codegen.bank.model_distiller\n"
        "b.ReasoningBank, b.ModelEditGenerator, b.ModelDistiller\n"
        "assert 'litellm' not in sys.modules, 'litellm imported'\n"
        "assert 'prefect' not in sys.modules, 'prefect imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
