"""The folding swarm: ephemeral agents (pattern 4) that share folds by gossip (pattern 3),
agree by PBFT (pattern 2) and report statistics merged up a tree (pattern 6).

One call of :func:`fold` folds one sequence with a fixed budget of Monte Carlo
moves (``budget_moves``, split evenly over agents and epochs; no target energy is
ever used to stop or steer the search). Each epoch, every agent's next slice of
search runs as a work item of an :class:`~patterns.ephemeral.AgentPool` in a
worker process and hands back its state; the agents then publish their best
folds to the shared document, and an agent behind the shared best may restart its
coldest replica from it (after re-scoring it itself). At the end every agent's
best fold is a candidate, and so is what each injected Byzantine agent claims;
the PBFT replicas re-score all of them and the lowest accepted energy wins.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from apps.folding import kernel as K
from apps.folding.agree import Candidate, Referee, Verdict
from apps.folding.board import FoldBoard
from apps.folding.consensus import ContactConsensus, contact_consensus
from apps.folding.exceptions import AgentsFailedError, AgreementError, FoldingConfigError
from apps.folding.lattice import check_fold
from apps.folding.liars import LIES, Lie, lie
from apps.folding.search import (
    AgentConfig,
    AgentState,
    adopt,
    check_length,
    ladder,
    new_state,
    run,
    warm_up,
)
from apps.folding.sequence import Sequence as Chain
from apps.folding.settings import FoldingSettings, Lattice
from patterns.aggregation.aggregates import AggregateSpec, HistogramSpec, Summary
from patterns.aggregation.tree import KaryTree
from patterns.ephemeral import AgentContext, AgentPool, AgentSpec, EphemeralSettings, Isolation

T = TypeVar("T")
EPOCH_TIMEOUT_S = 3600.0  # longest one agent's epoch may run, seconds
Progress = Callable[[int, int, int], None]  # (epoch done, epochs, best energy so far)


@dataclass(frozen=True, slots=True)
class EpochWork:
    """One agent's work item: its state, how it searches, and its slice of the budget."""

    state: AgentState
    cfg: AgentConfig
    moves: int
    swarm_start: float  # time.time() when the swarm started


def search_epoch(_ctx: AgentContext, work: EpochWork) -> AgentState:
    """The agents' handler (runs in a worker process): search for ``work.moves`` moves."""
    warm_up(work.state.dim)  # loading the compiled kernel is not search time
    offset = time.time() - work.swarm_start
    return run(work.state, work.cfg, work.moves, clock_offset=offset)


def warm_worker(_ctx: AgentContext, dim: int) -> int:
    """Start a worker process and load the kernel into it."""
    warm_up(dim)
    return dim


async def _search_epoch_async(ctx: AgentContext, work: EpochWork) -> AgentState:
    return search_epoch(ctx, work)


@dataclass
class AgentReport:
    """What one agent did."""

    name: str
    seed: int
    temps: tuple[float, ...]
    best_energy: int
    moves: int
    seconds: float
    cpu_seconds: float
    acceptance: float  # accepted / attempted, all moves and temperatures
    exchange_acceptance: float
    restarts: int
    trace: list[tuple[float, int]]
    move_stats: dict[str, tuple[int, int, int]]  # class -> attempted, feasible, accepted

    @property
    def moves_per_s(self) -> float:
        """Moves per CPU second of the agent's core (contention with other processes excluded)."""
        return self.moves / self.cpu_seconds if self.cpu_seconds > 0 else 0.0


@dataclass
class FoldReport:
    """The outcome of folding one sequence."""

    name: str
    hp: str
    lattice: str
    coords: list[list[int]]
    energy: int
    winner: str
    budget_moves: int
    moves: int
    kernel_seconds: float
    kernel_cpu_seconds: float
    wall_seconds: float
    time_to_best_s: float
    agents: list[AgentReport]
    verdicts: list[Verdict]
    liars: dict[str, str]  # agent -> why it was rejected
    swarm_trace: list[tuple[float, int]]
    consensus: ContactConsensus
    stats: dict[str, dict[str, Any]]
    board_entries_rejected: int = 0
    adoptions: int = 0
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def moves_per_s(self) -> float:
        """Moves per CPU second of kernel time (per core; each agent runs on one core)."""
        return self.moves / self.kernel_cpu_seconds if self.kernel_cpu_seconds > 0 else 0.0


def _in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh event loop in a helper thread (safe under any caller)."""
    box: dict[str, Any] = {}

    def go() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as err:  # handed to the caller's thread
            box["error"] = err

    t = threading.Thread(target=go, name="folding-swarm", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def agent_configs(settings: FoldingSettings, seed: int) -> list[AgentConfig]:
    """Each agent's seed and temperature ladder: the settings' ladder scaled by seeded jitter."""
    rng = random.Random(seed)
    out = []
    for _ in range(settings.agents):
        j = settings.ladder_jitter
        lo = settings.t_min * (1 + rng.uniform(-j, j))
        hi = max(settings.t_max * (1 + rng.uniform(-j, j)), lo * 1.05)
        out.append(
            AgentConfig(
                seed=rng.randrange(2**31),
                temps=ladder(lo, hi, settings.temperatures),
                steps_per_exchange=settings.steps_per_exchange,
                p_local=settings.p_local,
            )
        )
    return out


class Swarm:
    """Folds one chain with ``settings.agents`` honest agents plus injected liars.

    Args:
        chain: the sequence.
        settings: the ``folding`` settings.
        seed: seeds the agents, the liars, the gossip and PBFT simulators.
        byzantine: the lies injected, one Byzantine agent each (e.g. ``["false_energy"]``).
        isolation: ``process`` (agents in worker processes) or ``task`` (in this process);
            default ``settings.isolation``.
        progress: called after each epoch.
    """

    def __init__(
        self,
        chain: Chain,
        settings: FoldingSettings,
        seed: int = 0,
        byzantine: Sequence[Lie | str] = (),
        isolation: Isolation | str | None = None,
        progress: Progress | None = None,
    ) -> None:
        check_run(settings, seed)
        self.chain = chain
        self.settings = settings
        self.lattice = Lattice(settings.lattice)
        self.dim = self.lattice.dim
        check_length(len(chain.hp), self.dim)
        self.seed = seed
        self.lies = [Lie(x) for x in byzantine]
        self.isolation = Isolation(isolation or settings.isolation)
        self.progress = progress
        self.cfgs = agent_configs(settings, seed)
        self.names = [f"agent-{k}" for k in range(settings.agents)]
        self.liar_names = [f"agent-{settings.agents + k}" for k in range(len(self.lies))]
        self.rng = random.Random(seed ^ 0x5EED)
        peers = settings.gossip_peers or (settings.agents + len(self.lies))
        self.board = FoldBoard(peers, seed=seed)
        self.board_rejected = 0
        self.adoptions = 0
        self.failures: list[str] = []
        self.pool_account: dict[str, float] = {}
        self.t0 = self.t_end = time.time()

    # ------------------------------------------------------------------ search

    def _spec(self) -> AgentSpec:
        handler = search_epoch if self.isolation is Isolation.PROCESS else _search_epoch_async
        return AgentSpec(
            role="folding-agent",
            handler=handler,
            max_concurrency=self.settings.workers,
            timeout_s=EPOCH_TIMEOUT_S,
            result_type=AgentState,
            isolation=self.isolation,
        )

    async def _search(self, states: list[AgentState]) -> list[AgentState]:
        s = self.settings
        per_epoch = max(1, s.budget_moves // (s.agents * s.epochs))
        pool_settings = EphemeralSettings(
            max_attempts=2, process_workers=s.workers, default_max_idle_s=5.0
        )
        spec = self._spec()
        async with AgentPool(pool_settings) as pool:
            if self.isolation is Isolation.PROCESS:  # start the workers and load the kernel first
                warm = AgentSpec(
                    role="folding-warm-up",
                    handler=warm_worker,
                    isolation=Isolation.PROCESS,
                    max_concurrency=s.workers,
                    timeout_s=600.0,
                )
                await asyncio.gather(*[await pool.submit(warm, self.dim) for _ in range(s.workers)])
            else:
                warm_up(self.dim)
            t0 = time.time()
            self.t0 = t0
            for epoch in range(s.epochs):
                futures = [
                    await pool.submit(spec, EpochWork(st, cfg, per_epoch, t0))
                    for st, cfg in zip(states, self.cfgs, strict=True)
                ]
                outs = await asyncio.gather(*futures)
                for k, out in enumerate(outs):
                    if out.ok:
                        states[k] = out.value
                    else:  # a crashed agent keeps its previous state (the epoch is lost, not the agent)
                        self.failures.append(f"{self.names[k]} epoch {epoch}: {out.error}")
                if not any(out.ok for out in outs):
                    raise AgentsFailedError(
                        f"every agent failed in epoch {epoch}: {self.failures[-1]}"
                    )
                self._share(states, epoch)
                if self.progress is not None:
                    self.progress(epoch + 1, s.epochs, min(st.best_e for st in states))
            self.t_end = time.time()
        acct = pool.account()
        self.pool_account = {
            "spawns": acct.spawns,
            "peak_agents": acct.peak_agents,
            "completed": acct.completed,
            "failed": acct.failed,
            "retries": acct.retries,
            "agent_seconds": round(acct.agent_seconds, 3),
            "busy_seconds": round(acct.busy_seconds, 3),
        }
        return states

    def _share(self, states: list[AgentState], epoch: int) -> None:
        """Publish every agent's best (and the liars' claims) to the document; maybe restart from the shared best."""
        hp = self.chain.hp
        entries: dict[int, dict[str, Any]] = {
            k: {"energy": st.best_e, "coords": st.best_coords.tolist(), "hp": hp, "epoch": epoch}
            for k, st in enumerate(states)
        }
        honest = min(states, key=lambda st: st.best_e)
        for j, kind in enumerate(self.lies):
            c = lie(
                kind,
                self.liar_names[j],
                hp,
                self.dim,
                honest.best_coords.tolist(),
                honest.best_e,
                self.rng,
            )
            entries[len(states) + j] = {
                "energy": c.energy,
                "coords": c.coords,
                "hp": c.hp,
                "epoch": epoch,
            }
        self.board.publish_all(entries)
        if self.settings.restart_from_shared <= 0:
            return
        for k, st in enumerate(states):
            doc = self.board.read(k)
            best: tuple[int, list[list[int]]] | None = None
            for key, v in doc.items():
                if key == f"agent-{k}" or not isinstance(v, dict):
                    continue
                claimed = v.get("energy")
                if not isinstance(claimed, int) or claimed >= st.best_e:
                    continue
                if best is not None and claimed >= best[0]:
                    continue
                chk = check_fold(hp, v.get("coords") or [], self.dim) if v.get("hp") == hp else None
                if chk is None or not chk.valid or chk.energy != claimed:
                    self.board_rejected += 1  # the agent re-scores what it reads: a lie is ignored
                    continue
                best = (claimed, v["coords"])
            if best is not None and self.rng.random() < self.settings.restart_from_shared:
                adopt(st, np.asarray(best[1], dtype=np.int64))
                self.adoptions += 1

    # ------------------------------------------------------------------ agreement

    def _candidates(self, states: list[AgentState]) -> list[Candidate]:
        hp = self.chain.hp
        cands = [
            Candidate(name, st.best_coords.tolist(), st.best_e, hp)
            for name, st in zip(self.names, states, strict=True)
        ]
        honest = min(states, key=lambda st: st.best_e)
        for name, kind in zip(self.liar_names, self.lies, strict=True):
            cands.append(
                lie(kind, name, hp, self.dim, honest.best_coords.tolist(), honest.best_e, self.rng)
            )
        return cands

    def fold(self) -> FoldReport:
        """Search, agree and report (see the module docstring)."""
        s = self.settings
        states = [new_state(self.chain.hp, self.dim, s.temperatures) for _ in range(s.agents)]
        states = _in_thread(self._search(states))
        wall = self.t_end - self.t0
        referee = Referee(self.chain.hp, self.dim, s.pbft_replicas, seed=self.seed)
        cands = self._candidates(states)
        verdicts = referee.judge_all(cands)
        accepted = [(v, c) for v, c in zip(verdicts, cands, strict=True) if v.accepted]
        if not accepted:
            raise AgreementError(
                f"{self.chain.name}: no candidate fold reached a quorum of replicas"
            )
        win_v, win_c = min(accepted, key=lambda vc: (vc[1].energy, vc[1].agent))
        agents = [
            self._agent_report(n, c, st)
            for n, c, st in zip(self.names, self.cfgs, states, strict=True)
        ]
        trace = swarm_trace([a.trace for a in agents])
        best_e = win_c.energy
        ttb = next((t for t, e in trace if e <= best_e), trace[-1][0] if trace else 0.0)
        folds = [c.coords for v, c in accepted]
        return FoldReport(
            name=self.chain.name,
            hp=self.chain.hp,
            lattice=self.lattice.value,
            coords=win_c.coords,
            energy=best_e,
            winner=win_c.agent,
            budget_moves=s.budget_moves,
            moves=sum(st.moves for st in states),
            kernel_seconds=sum(st.seconds for st in states),
            kernel_cpu_seconds=sum(st.cpu_seconds for st in states),
            wall_seconds=wall,
            time_to_best_s=ttb,
            agents=agents,
            verdicts=verdicts,
            liars={v.agent: v.reason for v in verdicts if not v.accepted},
            swarm_trace=trace,
            consensus=contact_consensus(win_c.coords, folds),
            stats=aggregate_stats(agents, states, s.tree_fanout),
            board_entries_rejected=self.board_rejected,
            adoptions=self.adoptions,
            source=self.chain.source,
            extra={
                "winner_verdict": win_v.digest,
                "agent_pool": self.pool_account,
                "failures": self.failures,
            },
        )

    @staticmethod
    def _agent_report(name: str, cfg: AgentConfig, st: AgentState) -> AgentReport:
        tot = st.stats.sum(axis=0)
        attempted = int(tot[:, 0].sum())
        ex = st.exchanges.sum(axis=0)
        return AgentReport(
            name=name,
            seed=cfg.seed,
            temps=cfg.temps,
            best_energy=st.best_e,
            moves=st.moves,
            seconds=st.seconds,
            cpu_seconds=st.cpu_seconds,
            acceptance=float(tot[:, 2].sum() / attempted) if attempted else 0.0,
            exchange_acceptance=float(ex[1] / ex[0]) if ex[0] else 0.0,
            restarts=st.restarts,
            trace=list(st.trace),
            move_stats={
                c: (int(tot[i, 0]), int(tot[i, 1]), int(tot[i, 2]))
                for i, c in enumerate(K.MOVE_CLASSES)
            },
        )


def swarm_trace(traces: Sequence[Sequence[tuple[float, int]]]) -> list[tuple[float, int]]:
    """The swarm's best energy over time: the running minimum of every agent's trace."""
    events = sorted((t, e) for tr in traces for t, e in tr)
    out: list[tuple[float, int]] = []
    best: int | None = None
    for t, e in events:
        if best is None or e < best:
            best = e
            out.append((round(t, 4), e))
    if out and events:
        out.append((round(events[-1][0], 4), out[-1][1]))
    return out


ENERGY_SPEC = AggregateSpec(
    histogram=HistogramSpec(-100.0, 1.0, 101), ddsketch_alpha=None, hll_p=None, topk=3
)
RATE_SPEC = AggregateSpec(
    histogram=HistogramSpec(0.0, 1.0, 20), ddsketch_alpha=None, hll_p=None, topk=3
)
STAT_SPECS = {
    "best_energy": ENERGY_SPEC,
    "final_energy": ENERGY_SPEC,
    "acceptance": RATE_SPEC,
    "exchange_acceptance": RATE_SPEC,
    "moves_per_s": AggregateSpec(histogram=None, ddsketch_alpha=None, hll_p=None, topk=3),
}


def aggregate_stats(
    agents: Sequence[AgentReport], states: Sequence[AgentState], fanout: int
) -> dict[str, dict[str, Any]]:
    """Merge every agent's statistics up a k-ary tree of mergeable summaries (pattern 6).

    ``final_energy`` holds every replica's energy at the end (the swarm's energy
    distribution); the others hold one value per agent.
    """
    n = len(agents)
    tree = KaryTree(range(n), fanout)
    acc: dict[int, dict[str, Summary]] = {}
    for nid in reversed(tree.members):  # children before parents
        a, st = agents[nid], states[nid]
        mine = {
            "best_energy": Summary.of(ENERGY_SPEC, nid, float(a.best_energy)),
            "acceptance": Summary.of(RATE_SPEC, nid, a.acceptance),
            "exchange_acceptance": Summary.of(RATE_SPEC, nid, a.exchange_acceptance),
            "moves_per_s": Summary.of(STAT_SPECS["moves_per_s"], nid, a.moves_per_s),
            "final_energy": Summary.identity(ENERGY_SPEC),
        }
        for e in st.energy.tolist():
            mine["final_energy"] = mine["final_energy"].merge(
                Summary.of(ENERGY_SPEC, nid, float(e))
            )
        for child in tree.children(nid):
            sub = acc.pop(child)
            mine = {m: mine[m].merge(sub[m]) for m in mine}
        acc[nid] = mine
    root = acc[tree.root]
    out: dict[str, dict[str, Any]] = {}
    for m, summ in root.items():
        d: dict[str, Any] = dict(summ.describe())
        if summ.histogram is not None and m.endswith("energy"):
            spec = summ.histogram.spec
            width = (spec.hi - spec.lo) / spec.buckets
            d["histogram"] = {
                round(spec.lo + (i - 1) * width): c
                for i, c in enumerate(summ.histogram.counts)
                if c and 0 < i <= spec.buckets
            }
        out[m] = d
    out["tree"] = {"agents": n, "fanout": fanout, "depth": tree.depth}
    return out


def check_run(settings: FoldingSettings, seed: int) -> None:
    """Refuse a seed outside 0..2**63-1 and a budget that one exchange round per agent and
    epoch already exceeds (the swarm never spends more than ``budget_moves``).

    Raises:
        FoldingConfigError: naming the parameter and the smallest budget that works.
    """
    if not 0 <= seed < 2**63:
        raise FoldingConfigError(f"seed={seed} must be in 0..2**63-1")
    one_round = settings.temperatures * settings.steps_per_exchange  # moves of one agent
    least = settings.agents * settings.epochs * one_round
    if settings.budget_moves < least:
        raise FoldingConfigError(
            f"budget_moves={settings.budget_moves:,} is below one exchange round per agent and "
            f"epoch: agents {settings.agents} x epochs {settings.epochs} x temperatures "
            f"{settings.temperatures} x steps_per_exchange {settings.steps_per_exchange} = "
            f"{least:,} moves; raise the budget or lower one of these"
        )


def fold(
    chain: Chain,
    settings: FoldingSettings,
    seed: int = 0,
    byzantine: Sequence[Lie | str] = (),
    isolation: Isolation | str | None = None,
    progress: Progress | None = None,
) -> FoldReport:
    """Fold ``chain`` with the swarm (see :class:`Swarm`)."""
    return Swarm(chain, settings, seed, byzantine, isolation, progress).fold()


def lie_mix(count: int) -> list[Lie]:
    """``count`` lies cycling through every kind.

    Raises:
        FoldingConfigError: ``count`` is negative.
    """
    if count < 0:
        raise FoldingConfigError(f"byzantine={count}: the number of lying agents must be >= 0")
    return [LIES[k % len(LIES)] for k in range(count)]
