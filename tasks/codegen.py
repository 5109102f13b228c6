"""Prefect tasks of pattern 1: apply an edit, recall strategies, record a trajectory, repair.

The reasoning bank lives in the shared vector memory (``memory`` settings group);
each worker process keeps one open bank per settings (see :func:`get_bank`).
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

from prefect import task
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE

from patterns.codegen.agent import AgentSettings, Episode, RepairAgent
from patterns.codegen.bank import BankSettings, ReasoningBank, RecalledItem, RecordReport
from patterns.codegen.bank.settings import repair_bank_settings
from patterns.codegen.edits import EditEngine, MergeResult
from patterns.codegen.humaneval import get_problem
from patterns.codegen.records import EditFormat, Trajectory
from patterns.codegen.repair.suite import RepairSuite, RepairTask, build_suite
from patterns.memory import MemorySettings, get_store
from patterns.settings import get_settings
from tasks.memory import memory_settings
from tasks.retry import retry_if_retryable

DEFAULT_NAMESPACE = "codegen"
_BANKS: dict[str, ReasoningBank] = {}
_BANKS_LOCK = threading.Lock()


def get_bank(
    settings: MemorySettings | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    bank_settings: BankSettings | None = None,
    *,
    create: bool = False,
) -> ReasoningBank:
    """A process-wide reasoning bank per (memory settings, namespace, bank settings).

    ``create`` lets a writer create the memory table when it does not exist yet;
    a reader of a missing table gets a ``TableNotFoundError`` naming it.
    """
    memory = memory_settings(settings)
    table_key = memory.model_copy(update={"create_if_missing": False}).model_dump_json()
    if create and not memory.create_if_missing:
        memory = memory.model_copy(update={"create_if_missing": True})
    if bank_settings is None:  # the repair agent's defaults, under what the user set explicitly
        configured = get_settings().bank
        bank_settings = repair_bank_settings(**configured.model_dump(exclude_unset=True))
    key = f"{table_key}|{namespace}|{bank_settings!r}"
    with _BANKS_LOCK:
        bank = _BANKS.get(key)
        if bank is None:
            bank = ReasoningBank(get_store(memory), namespace=namespace, settings=bank_settings)
            _BANKS[key] = bank
        return bank


@task(
    name="codegen-apply-edit",
    task_run_name="apply-edit-{path}",
    retries=0,
    timeout_seconds=60,
    cache_policy=NO_CACHE,
)
def apply_edit(path: str, edit: str, format: EditFormat | str | None = None) -> MergeResult:
    """Apply ``edit`` to the file at ``path`` in place (atomic; Python results must parse).

    Raises:
        EditError: the edit does not apply (the error names the hunk); the file is untouched.
    """
    return EditEngine().apply_to_file(Path(path), edit, format)


@task(
    name="codegen-recall-strategies",
    task_run_name="recall-strategies-k{k}",
    retries=3,
    retry_delay_seconds=[0.5, 2, 5],
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=120,
    cache_policy=NO_CACHE,
)
def recall_strategies(
    query: str,
    k: int = 8,
    settings: MemorySettings | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> list[RecalledItem]:
    """The strategies and pitfalls most relevant to ``query``, best first."""
    return get_bank(settings, namespace).recall(query, k=k)


@task(
    name="codegen-record-trajectory",
    task_run_name="record-trajectory-{trajectory.task_id}",
    retries=3,
    retry_delay_seconds=[0.5, 2, 5],
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=120,
    cache_policy=NO_CACHE,
)
def record_trajectory(
    trajectory: Trajectory,
    settings: MemorySettings | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    success_only: bool | None = None,
) -> RecordReport:
    """Store a finished trajectory and distil it into strategy / pitfall memories.

    ``success_only`` overrides the ``bank`` settings group's switch when given.
    """
    configured = get_settings().bank
    bank_settings = repair_bank_settings(**configured.model_dump(exclude_unset=True))
    if success_only is not None and success_only != bank_settings.success_only:
        bank_settings = bank_settings.model_copy(update={"success_only": success_only})
    return get_bank(settings, namespace, bank_settings, create=True).record(trajectory)


@task(
    name="codegen-build-suite",
    task_run_name="build-repair-suite-seed{seed}",
    retries=1,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=1800,
    # deterministic and expensive (every bug is verified in the sandbox): same inputs, same suite
    cache_policy=INPUTS + TASK_SOURCE,
    cache_expiration=dt.timedelta(days=7),
    persist_result=True,
)
def build_repair_suite(
    seed: int = 0, bugs_per_problem: int = 2, problems: list[int] | None = None
) -> RepairSuite:
    """The seeded HumanEval repair suite (bugs verified to fail their tests), split in halves."""
    chosen = [get_problem(n) for n in problems] if problems is not None else None
    return build_suite(seed=seed, bugs_per_problem=bugs_per_problem, problems=chosen)


@task(
    name="codegen-repair-episode",
    task_run_name="repair-{task.task_id}",
    retries=1,
    retry_condition_fn=retry_if_retryable,
    timeout_seconds=600,
    cache_policy=NO_CACHE,
)
def repair_episode(
    task: RepairTask,
    budget: int = 3,
    learn: bool = True,
    use_bank: bool = True,
    settings: MemorySettings | None = None,
    namespace: str = DEFAULT_NAMESPACE,
) -> Episode:
    """One repair episode: recall, rank and try up to ``budget`` edits, then learn."""
    bank = get_bank(settings, namespace, create=learn) if use_bank else None
    agent = RepairAgent(bank, settings=AgentSettings(budget=budget, learn=learn))
    return agent.solve(task)
