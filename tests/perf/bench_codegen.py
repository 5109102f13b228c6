"""Pattern 1 benchmark (`make bench NAME=codegen`): edit speed and accuracy, measured learning.

Figures (``bench-results/codegen.json``), besides the edit figures of
:mod:`tests.perf.bench_codegen_edits`:

- The learning curve. The repair suite (seeded bug injections into HumanEval's
  canonical solutions, :mod:`patterns.codegen.repair`) is split by problem into a
  training half and a held-out half. An agent with an empty reasoning bank is
  evaluated on the held-out half; then it trains on training tasks (each episode
  stored and distilled into the bank) and is evaluated again after 25, 50 and 100
  training trajectories. Evaluation never learns (the bank is frozen while the
  held-out half runs), so each point measures the bank after exactly N trajectories.
  success@K is the fraction of held-out tasks whose tests pass within the first K
  candidate edits; attempts-to-success is the mean attempt number of the solved ones
  within the evaluation budget. The same curve is repeated with a bank that distils
  memories from successful trajectories only. A program's test outcome is deterministic,
  so the sandbox outcome of each distinct program is memoized across checkpoints
  (:mod:`tests.perf.codegen_memo`). The agent's prior settings (recall size, prior
  weight and tags) were chosen on a validation split of the training half only
  (episodes 1-100 learn, the remaining training tasks validate); the held-out half
  played no part in choosing them.
- The local model's time to regenerate a ~300-line file: Gemma 3 270M on llama.cpp's
  server (one slot, 8k context), prompt evaluation and generation timed by the server
  itself on the whole file and ``LLM_GEN_TOKENS`` tokens; ``llm_regen_s`` is prompt
  time plus the file's token count at the measured generation rate.

Also writes ``bench-results/codegen_curve.json`` and ``bench-results/codegen_learning.png``.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from patterns.codegen.agent import AgentSettings, Episode, RepairAgent
from patterns.codegen.bank import BankSettings, ReasoningBank
from patterns.codegen.repair.suite import RepairTask, build_suite
from patterns.memory import MemorySettings, MemoryStore
from tests.perf.codegen_memo import MemoRunner

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-results"
SUITE_CACHE = ROOT / ".data" / "codegen"
SEED = 0
BUGS_PER_PROBLEM = 2
CHECKPOINTS = (0, 25, 50, 100)
TRAIN_BUDGET = 10  # attempts per training episode: exploration finds fixes to learn from
EVAL_BUDGET = 10  # held-out budget; success@1 and @3 are read off the same runs
CONCURRENCY = 2
LLM_GEN_TOKENS = 256


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


def _curve(
    train: Sequence[RepairTask],
    heldout: Sequence[RepairTask],
    *,
    success_only: bool,
    root: Path,
    runner: MemoRunner,
) -> list[dict[str, float]]:
    store = MemoryStore(
        MemorySettings(create_if_missing=True, uri=str(root / ("succ" if success_only else "all")))
    )
    bank = ReasoningBank(store, settings=BankSettings(success_only=success_only))
    trainer = RepairAgent(bank, settings=AgentSettings(budget=TRAIN_BUDGET), runner=runner)
    evaluator = RepairAgent(
        bank, settings=AgentSettings(budget=EVAL_BUDGET, learn=False), runner=runner
    )
    points: list[dict[str, float]] = []
    trained = 0
    train_solved = 0
    for checkpoint in CHECKPOINTS:
        if checkpoint > len(train):
            break
        batch = train[trained:checkpoint]
        if batch:
            t0 = time.perf_counter()
            done = asyncio.run(_run_all(trainer, batch, learn=True))
            train_solved += sum(e.success for e in done)
            print(
                f"  trained {checkpoint} trajectories ({time.perf_counter() - t0:.1f} s, "
                f"{train_solved} solved)",
                flush=True,
            )
        trained = checkpoint
        t0 = time.perf_counter()
        episodes = asyncio.run(_run_all(evaluator, heldout, learn=False))
        point = {"trajectories": float(checkpoint), **_ks(episodes)}
        stats = bank.stats()
        point["items"] = float(stats.strategies + stats.pitfalls)
        print(
            f"  {'success-only' if success_only else 'all'} bank after {checkpoint}: "
            f"success@1 {point['success1']:.3f} @3 {point['success3']:.3f} "
            f"attempts {point['attempts_to_success']:.2f} "
            f"({time.perf_counter() - t0:.1f} s)",
            flush=True,
        )
        points.append(point)
    store.close()
    return points


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
        curves = {
            "all memories": _curve(
                train, heldout, success_only=False, root=Path(tmp), runner=runner
            ),
            "successes only": _curve(
                train, heldout, success_only=True, root=Path(tmp), runner=runner
            ),
        }
    figures["sandbox_runs"] = float(runner.runs)
    figures["sandbox_memo_hits"] = float(runner.hits)
    full, succ = curves["all memories"], curves["successes only"]
    for point in full:
        n = int(point["trajectories"])
        tag = "empty" if n == 0 else f"after{n}"
        for key in ("success1", "success3", "attempts_to_success"):
            figures[f"{key}_{tag}"] = point[key]
    base, last = full[0], full[-1]
    figures["success1_relative_gain"] = (
        (last["success1"] - base["success1"]) / base["success1"] if base["success1"] else 0.0
    )
    figures["success3_relative_gain"] = (
        (last["success3"] - base["success3"]) / base["success3"] if base["success3"] else 0.0
    )
    figures["success1_after100_success_only"] = succ[-1]["success1"]
    figures["success3_after100_success_only"] = succ[-1]["success3"]
    figures["recall_p50_ms"] = statistics.median(p["recall_p50_ms"] for p in full[1:])
    OUT.mkdir(exist_ok=True)
    (OUT / "codegen_curve.json").write_text(json.dumps(curves, indent=2) + "\n")
    _plot(curves, OUT / "codegen_learning.png")
    return {k: round(v, 6) for k, v in figures.items()}


if __name__ == "__main__":
    print(json.dumps(run_codegen_bench(), indent=2, sort_keys=True))
