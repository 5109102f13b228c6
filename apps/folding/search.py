"""One folding agent: replica-exchange Monte Carlo (Thachuk, Shmygelska & Hoos 2007) on the numba kernel.

An agent's whole state is a picklable :class:`AgentState` (replica folds, the
temperature ladder's assignment, statistics, its best fold and its energy
trace), so an ephemeral agent can run one epoch in a worker process, return its
state and be reaped; the next epoch's agent picks the state up again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from apps.folding import kernel as K
from apps.folding.exceptions import SequenceError

MAX_LENGTH_3D = 125  # residues: the 3D occupancy grid is 128^3 cells per replica
CHUNK_ROUNDS_MIN = 1  # exchange rounds per kernel call, at least
CHUNK_TARGET_MOVES = 1_000_000  # moves per kernel call: the trace's time resolution (~0.2 s)
HIST_BINS = 512  # energy histogram bins (-E), clamped


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """How one agent searches.

    Attributes:
        seed: seeds its generator (each kernel call is seeded from it and the call count).
        temps: the temperature ladder, coldest first.
        steps_per_exchange: moves per replica between exchanges.
        p_local: share of local moves (the rest are pull moves).
    """

    seed: int
    temps: tuple[float, ...]
    steps_per_exchange: int = 500
    p_local: float = 0.1


@dataclass
class AgentState:
    """Everything an agent carries between epochs (plain numpy arrays and numbers)."""

    hp: str
    dim: int
    coords: npt.NDArray[np.int64]  # (R, n, 3) replica folds
    energy: npt.NDArray[np.int64]  # (R,)
    slot_of: npt.NDArray[np.int64]  # (R,) replica at each temperature slot
    best_e: int
    best_coords: npt.NDArray[np.int64]  # (n, 3)
    stats: npt.NDArray[np.int64]  # (R, classes, 3) attempted, feasible, accepted per slot
    exchanges: npt.NDArray[np.int64]  # (R, 2) attempted, accepted per slot pair
    hist: npt.NDArray[np.int64]  # (R, HIST_BINS) visits per slot and energy
    moves: int = 0
    seconds: float = 0.0  # wall time spent in the kernel
    cpu_seconds: float = 0.0  # CPU time of this process spent in the kernel (one core)
    calls: int = 0
    trace: list[tuple[float, int]] = field(default_factory=list)  # (agent seconds, best energy)
    restarts: int = 0

    @property
    def n(self) -> int:
        return len(self.hp)


def straight(n: int) -> npt.NDArray[np.int64]:
    """The straight chain along x."""
    c = np.zeros((n, 3), dtype=np.int64)
    c[:, 0] = np.arange(n)
    return c


def h_mask(hp: str) -> npt.NDArray[np.int8]:
    """1 for H, 0 for P."""
    out: npt.NDArray[np.int8] = (np.frombuffer(hp.encode(), dtype=np.uint8) == ord("H")).astype(
        np.int8
    )
    return out


def check_length(n: int, dim: int) -> None:
    """Raise :class:`SequenceError` when a chain of ``n`` is too long for the ``dim``-D grid."""
    if dim == 3 and n > MAX_LENGTH_3D:
        raise SequenceError(
            f"{n} residues is over the 3D length limit of {MAX_LENGTH_3D} (residue {MAX_LENGTH_3D + 1} onwards)"
        )


def new_state(hp: str, dim: int, replicas: int) -> AgentState:
    """A fresh agent: every replica starts as the straight chain."""
    n = len(hp)
    check_length(n, dim)
    coords = np.repeat(straight(n)[None], replicas, axis=0)
    return AgentState(
        hp=hp,
        dim=dim,
        coords=coords,
        energy=np.zeros(replicas, dtype=np.int64),
        slot_of=np.arange(replicas, dtype=np.int64),
        best_e=0,
        best_coords=straight(n),
        stats=np.zeros((replicas, K.N_CLASSES, 3), dtype=np.int64),
        exchanges=np.zeros((replicas, 2), dtype=np.int64),
        hist=np.zeros((replicas, HIST_BINS), dtype=np.int64),
    )


def _grids(state: AgentState, shift: int, cells: int) -> npt.NDArray[np.int32]:
    grid = np.zeros((state.coords.shape[0], cells), dtype=np.int32)
    for r in range(state.coords.shape[0]):
        if not K.fill_grid(state.coords[r], grid[r], shift):
            raise ValueError(f"replica {r} holds a fold that is not self-avoiding")
    return grid


def adopt(state: AgentState, coords: npt.NDArray[np.int64], slot: int = 0) -> None:
    """Put ``coords`` (a valid fold of the same chain) into the replica at temperature ``slot``."""
    r = int(state.slot_of[slot])
    state.coords[r] = coords
    state.restarts += 1


_WARM: set[int] = set()


def warm_up(dim: int = 2) -> None:
    """Load (or compile) the kernel for ``dim`` in this process, so timed runs exclude it."""
    if dim in _WARM:
        return
    st = new_state("HPPH", dim, 1)
    run(st, AgentConfig(seed=0, temps=(1.0,), steps_per_exchange=1), 1, _timed=False)
    _WARM.add(dim)


def run(
    state: AgentState,
    cfg: AgentConfig,
    moves: int,
    *,
    clock_offset: float = 0.0,
    _timed: bool = True,
) -> AgentState:
    """Search for about ``moves`` Monte Carlo moves (whole exchange rounds), updating ``state``.

    The kernel runs in chunks of about ``CHUNK_TARGET_MOVES``; after each chunk the
    best energy is appended to the trace with the agent's elapsed kernel time.
    """
    hp, dim = state.hp, state.dim
    if _timed:
        warm_up(dim)
    n = len(hp)
    reps = state.coords.shape[0]
    if len(cfg.temps) != reps:
        raise ValueError(f"{len(cfg.temps)} temperatures for {reps} replicas")
    off = K.offsets(dim)
    shift, cells = K.grid_shape(n, dim)
    grid = _grids(state, shift, cells)
    h = h_mask(hp)
    for r in range(reps):
        state.energy[r] = K.energy_of(h, state.coords[r], grid[r], off, shift)
    if not state.trace:
        r0 = int(np.argmin(state.energy))
        if state.energy[r0] < state.best_e or state.calls == 0:
            state.best_e = int(state.energy[r0])
            state.best_coords = state.coords[r0].copy()
        state.trace.append((clock_offset + state.seconds, state.best_e))
    elif int(state.energy.min()) < state.best_e:  # an adopted fold better than our own
        r0 = int(np.argmin(state.energy))
        state.best_e = int(state.energy[r0])
        state.best_coords = state.coords[r0].copy()
    betas = 1.0 / np.asarray(cfg.temps, dtype=np.float64)
    per_round = reps * cfg.steps_per_exchange
    rounds_total = max(1, moves // per_round)
    chunk = max(CHUNK_ROUNDS_MIN, CHUNK_TARGET_MOVES // per_round)
    best = np.array([state.best_e], dtype=np.int64)
    best_coords = state.best_coords.copy()
    done = 0
    while done < rounds_total:
        k = min(chunk, rounds_total - done)
        t0 = time.perf_counter()
        c0 = time.process_time()
        state.moves += K.remc(
            h,
            dim,
            off,
            shift,
            state.coords,
            grid,
            state.energy,
            state.slot_of,
            betas,
            cfg.steps_per_exchange,
            k,
            cfg.p_local,
            (cfg.seed * 1_000_003 + state.calls) % (2**31 - 1),
            best,
            best_coords,
            state.stats,
            state.exchanges,
            state.hist,
        )
        state.seconds += time.perf_counter() - t0
        state.cpu_seconds += time.process_time() - c0
        state.calls += 1
        done += k
        if int(best[0]) < state.best_e:
            state.best_e = int(best[0])
            state.best_coords = best_coords.copy()
            state.trace.append((clock_offset + state.seconds, state.best_e))
    state.trace.append((clock_offset + state.seconds, state.best_e))
    return state


def ladder(t_min: float, t_max: float, count: int) -> tuple[float, ...]:
    """A geometric temperature ladder, coldest first."""
    if count == 1:
        return (float(t_min),)
    if t_max <= t_min:
        raise ValueError(f"t_max={t_max} must be above t_min={t_min}")
    return tuple(float(t) for t in np.geomspace(t_min, t_max, count))
