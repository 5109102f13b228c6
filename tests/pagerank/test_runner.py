"""LeanDaskTaskRunner: real Prefect task runs on Dask, settings built once per worker process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext, TaskRunContext
from prefect.events.clients import AssertingPassthroughEventsClient
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL
from prefect.states import State
from prefect_dask import DaskTaskRunner

from apps.pagerank.settings import PageRankSettings
from tasks.pagerank import (
    LeanDaskTaskRunner,
    dask_runner_kwargs,
    dask_task_runner,
    worker_counters,
)

STEPS, WIDTH = 3, 4


@task(cache_policy=NO_CACHE, persist_result=False)
def where(i: int) -> dict[str, Any]:
    """Where the task ran: its task run, flow run, the API its client talks to."""
    ctx = TaskRunContext.get()
    assert ctx is not None
    return {
        "i": i,
        "task_run": ctx.task_run.id,
        "flow_run": ctx.task_run.flow_run_id,
        "api": str(get_client(sync_client=True).api_url),
    }


@task(cache_policy=NO_CACHE, persist_result=False)
def follow(seen: dict[str, Any]) -> tuple[int, list[UUID]]:
    """Downstream of ``where``: its value, and the upstream task runs Prefect recorded."""
    ctx = TaskRunContext.get()
    assert ctx is not None
    upstream = [getattr(i, "id", None) for i in ctx.task_run.task_inputs["seen"]]
    return seen["i"] + 100, upstream


@task(cache_policy=NO_CACHE, persist_result=False, retries=1, retry_delay_seconds=0)
def flaky(i: int) -> int:
    """Fails on its first run, succeeds on the retry."""
    ctx = TaskRunContext.get()
    assert ctx is not None
    if ctx.task_run.run_count < 2:
        raise RuntimeError(f"first run of {i} fails")
    return ctx.task_run.run_count


@task(cache_policy=NO_CACHE, persist_result=False, retries=0)
def broken(i: int) -> int:
    """Always fails."""
    raise ValueError(f"input {i} is bad")


@flow(persist_result=False)
def steps() -> dict[str, Any]:
    """``STEPS`` rounds of ``WIDTH`` mapped tasks, plus a retried and a failed task."""
    rounds: list[list[tuple[UUID, State[Any], dict[str, Any]]]] = []
    for _ in range(STEPS):
        futures = where.map(range(WIDTH))
        seen = [f.result() for f in futures]
        rounds.append([(f.task_run_id, f.state, r) for f, r in zip(futures, seen, strict=True)])
    ctx = FlowRunContext.get()
    assert ctx is not None and ctx.flow_run is not None
    failing = broken.submit(3)
    failing.wait()
    upstream = where.submit(5)
    return {
        "follow": follow.submit(upstream).result(),  # a Dask future passed as a parameter
        "upstream": upstream.task_run_id,
        "rounds": rounds,
        "flow_run": ctx.flow_run.id,
        "flaky": flaky.submit(7).result(),
        "broken": failing.state,
    }


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> Iterator[EventsWorker]:
    """Record the events emitted in this process (the in-process workers' too)."""
    worker = EventsWorker.instance(AssertingPassthroughEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    yield worker
    worker.drain()


def test_lean_runner_runs_real_task_runs(events: EventsWorker) -> None:
    before = dict(worker_counters)
    settings = PageRankSettings(dask_workers=2, dask_processes=False)
    runner: Any = LeanDaskTaskRunner(**dask_runner_kwargs(settings))
    out = steps.with_options(task_runner=runner)()

    runs = [r for rnd in out["rounds"] for r in rnd]
    assert sorted(r[2]["i"] for r in runs) == sorted(list(range(WIDTH)) * STEPS)
    assert len({r[0] for r in runs}) == STEPS * WIDTH  # one task run per task
    for run_id, state, seen in runs:
        assert state.is_completed() and state.state_details.task_run_id == run_id
        assert seen["task_run"] == run_id and seen["flow_run"] == out["flow_run"]
        assert seen["api"].rstrip("/") == str(PREFECT_API_URL.value()).rstrip("/")
    assert out["flaky"] == 2  # Prefect's retry ran on the worker
    assert out["follow"] == (105, [out["upstream"]])  # data and lineage from the upstream run
    assert out["broken"].is_failed() and "input 3 is bad" in str(out["broken"].message)

    # every task run reported its states to the API (as events), as with DaskTaskRunner
    events.drain()
    client = events._client
    assert isinstance(client, AssertingPassthroughEventsClient)
    for run_id, _, _ in runs:
        names = {e.event for e in client.events if e.resource.id == f"prefect.task-run.{run_id}"}
        assert {"prefect.task-run.Running", "prefect.task-run.Completed"} <= names

    # the settings were built at most once for all these task runs (not once per task)
    ran = worker_counters["tasks"] - before["tasks"]
    assert ran == STEPS * WIDTH + 4  # one call per task run, retries inside it
    assert worker_counters["settings_built"] - before["settings_built"] <= 1
    assert worker_counters["clients_opened"] - before["clients_opened"] <= settings.dask_workers


def test_settings_choose_the_runner() -> None:
    assert type(dask_task_runner(PageRankSettings())) is LeanDaskTaskRunner
    stock = dask_task_runner(PageRankSettings(dask_lean_runner=False, dask_address="tcp://h:8786"))
    assert type(stock) is DaskTaskRunner and stock.address == "tcp://h:8786"
    lean = LeanDaskTaskRunner(address="tcp://h:8786")
    assert type(lean.duplicate()) is LeanDaskTaskRunner and lean.duplicate() == lean
