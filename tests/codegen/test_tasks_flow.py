"""Pattern 1's Prefect tasks and demo flow, run for real under the Prefect harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.demo_codegen import (
    DEMO_NAMESPACE,
    DEMO_PROBLEMS,
    codegen_demo,
    demo_workdir,
    verdict_text,
)
from patterns.codegen.exceptions import AnchorNotFoundError, SyntaxCheckError
from patterns.codegen.records import EditFormat, Step, Trajectory
from patterns.codegen.records import TestOutcome as RunOutcome
from patterns.memory import MemorySettings
from patterns.memory.exceptions import TableNotFoundError
from tasks.codegen import apply_edit, recall_strategies, record_trajectory

SOURCE = "def area(w, h):\n    return w + h\n"
FIX = "<<<<<<< SEARCH\n    return w + h\n=======\n    return w * h\n>>>>>>> REPLACE\n"


def test_apply_edit_task_rewrites_the_file_or_leaves_it_untouched(tmp_path: Path) -> None:
    path = tmp_path / "geometry.py"
    path.write_text(SOURCE)
    result = apply_edit.fn(str(path), FIX)
    assert path.read_text() == "def area(w, h):\n    return w * h\n"
    assert result.format is EditFormat.SEARCH_REPLACE
    assert result.changed_lines == 2  # one line removed, one inserted
    with pytest.raises(AnchorNotFoundError, match="hunk 1"):
        apply_edit.fn(str(path), FIX)  # the search text is gone now
    broken = "<<<<<<< SEARCH\n    return w * h\n=======\n    return w *\n>>>>>>> REPLACE\n"
    with pytest.raises(SyntaxCheckError):
        apply_edit.fn(str(path), broken)
    assert path.read_text() == "def area(w, h):\n    return w * h\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["geometry.py"]


def _trajectory(task_id: str, success: bool) -> Trajectory:
    step = Step(
        index=0,
        candidate_id="c0",
        edit=FIX,
        format=EditFormat.SEARCH_REPLACE,
        tags=("op:swap-arithmetic", "op:swap-arithmetic@return"),
        description="line 2: `+` -> `*`",
        outcome=RunOutcome(passed=success, total=3, failed=0 if success else 3),
    )
    return Trajectory(
        id=f"t-{task_id}",
        task_id=task_id,
        task="Repair `area`: the area of a rectangle",
        context={
            "signature": "AssertionError: assert candidate(2, 3) == 6",
            "features": ["arithmetic", "return"],
        },
        steps=(step,),
        success=success,
        final_source=SOURCE,
        budget=3,
    )


def test_record_then_recall_through_tasks(tmp_path: Path) -> None:
    settings = MemorySettings(uri=str(tmp_path / "db"), table="bank")
    with pytest.raises(
        TableNotFoundError, match="'bank' does not exist"
    ):  # reading creates nothing
        recall_strategies.fn("anything", settings=settings)
    report = record_trajectory.fn(_trajectory("area#b0", True), settings=settings)
    assert report.added_ids
    record_trajectory.fn(_trajectory("area#b1", False), settings=settings)
    recalled = recall_strategies.fn(
        "Repair `area`: AssertionError: assert candidate(2, 3) == 6 arithmetic return",
        k=4,
        settings=settings,
    )
    kinds = {r.item.kind.value for r in recalled}
    assert "strategy" in kinds
    assert recalled[0].item.tags[0] == "op:swap-arithmetic"


def test_demo_workdir_follows_the_memory_uri(tmp_path: Path) -> None:
    assert demo_workdir(str(tmp_path / "db")) == tmp_path / "codegen-demo"
    assert demo_workdir(f"file://{tmp_path}/db") == tmp_path / "codegen-demo"
    assert demo_workdir(".data/lancedb") == Path(".data/codegen-demo")  # the default, unchanged
    remote = demo_workdir("s3://bucket/prefix")
    assert remote.is_dir() and not remote.is_relative_to(Path.cwd())
    remote.rmdir()


def test_demo_flow_repairs_and_applies_the_winning_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # the demo must write next to its uri, not in the working directory
    out = codegen_demo(uri=str(tmp_path / "db"), train_tasks=3, budget=10)
    assert list(cwd.iterdir()) == []
    if out["fixed_path"] is not None:
        assert Path(out["fixed_path"]).parent == tmp_path / "codegen-demo"
    assert out["target"].startswith("HumanEval/")
    assert out["memories"] > 0
    if out["warm"]["solved"]:
        fixed = Path(out["fixed_path"])
        compile(fixed.read_text(), str(fixed), "exec")
    assert out["cold"]["attempts"] >= 1 and out["warm"]["attempts"] >= 1
    assert 0 <= out["warm_success1"] <= out["warm_solved"] <= out["held_out"]
    assert out["held_out"] > 0 and out["cold_solved"] <= out["held_out"]
    assert 0 < out["p_value1"] <= 1 and out["trained"] == 3
    # the bank the demo keeps holds the training trajectories and no held-out one
    from patterns.codegen.bank import ReasoningBank
    from patterns.codegen.humaneval import get_problem
    from patterns.codegen.repair.suite import split
    from patterns.memory import MemoryStore

    with MemoryStore(MemorySettings(uri=str(tmp_path / "db"), table="codegen_demo")) as store:
        stored = {t.task_id for t in ReasoningBank(store, namespace=DEMO_NAMESPACE).trajectories()}
    _train, heldout = split([get_problem(n).task_id for n in DEMO_PROBLEMS], 0)
    assert len(stored) == 3 and out["target"] not in stored
    assert not {task_id.split("#")[0] for task_id in stored} & heldout


def test_demo_verdict_claims_significance_only_below_005() -> None:
    assert verdict_text(0.03, 40) == "a significant difference on 40 bugs"
    assert verdict_text(1.0, 10).startswith("no significant difference on 10 bugs")


def test_bank_settings_group_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from patterns.core.exceptions import ConfigError
    from patterns.settings import get_settings

    monkeypatch.setenv("SWARMKIT_BANK__MERGE_THRESHOLD", "0.8")
    monkeypatch.setenv("SWARMKIT_BANK__SUCCESS_ONLY", "true")
    bank = get_settings().bank
    assert bank.merge_threshold == 0.8 and bank.success_only is True
    monkeypatch.setenv("SWARMKIT_BANK__MERGE_THRESHOLD", "2")
    with pytest.raises((ConfigError, ValueError), match="merge_threshold"):
        get_settings()
