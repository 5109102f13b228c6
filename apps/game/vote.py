"""The quality vote: five peers judge each proposed level through the pattern-5 router.

Every voter re-reads the proposal from its raw data (nothing the proposer claims
about its level is trusted) and first applies the hard gate that no honest peer
waives: the level parses, fits the size limit, is not an already accepted level, and
the voter's own solver run finds a solution. Each voter then checks its own quality
criterion:

========== =============================================================
solver      the solution is not trivial (``min_solution_steps``)
difficulty  measured difficulty within ``difficulty_band`` of the request
novelty     embedding similarity to accepted levels in LanceDB memory
size        area and aspect within the limits
content     hazard share, keys and doors consistent (no orphan door)
========== =============================================================

A level is accepted when a Byzantine quorum of the five approves: ``ceil((n+f+1)/2)``
= 4 of 5 with ``f = 1``, i.e. at least 2/3 (Malkhi & Reiter 1998). A bad level (the
hard gate fails) gets no honest approval, so one dishonest voter cannot let it in;
a good level still passes with one dishonest rejection.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from apps.game.exceptions import GameBackendError, LevelFormatError
from apps.game.level import DOOR_TILES, HARD_MAX_SIDE, KEY_TILES, Level, Tile, count_tiles
from apps.game.memory import GameMemory
from apps.game.records import Ballot, Proposal, Verdict
from apps.game.settings import GameSettings
from apps.game.solver import Solution, solve
from patterns.consensus_router import (
    CallableVoter,
    ConsensusRouter,
    LabelSchema,
    Mode,
    Question,
    RouterSettings,
    VoterPool,
    parse_model_list,
)
from patterns.core.loopthread import AsyncRuntime

__all__ = ["BYZANTINE_F", "VOTERS", "Ballot", "Dishonesty", "Proposal", "QualityVote", "Verdict"]

log = logging.getLogger(__name__)
VERDICT = LabelSchema(("approve", "reject"))
VOTERS = ("solver", "difficulty", "novelty", "size", "content")
BYZANTINE_F = 1  # dishonest voters tolerated out of five
VOTER_TIMEOUT_S = 10.0
MAX_ASPECT = 4.0  # longest side over shortest side


class Dishonesty(enum.StrEnum):
    """How a dishonest voter lies."""

    APPROVE_ALL = "approve-all"  # approves everything (the dangerous one for safety)
    REJECT_ALL = "reject-all"  # rejects everything (the dangerous one for liveness)
    INVERT = "invert"  # says the opposite of an honest check


@dataclass(frozen=True, slots=True)
class _Check:
    ok: bool
    reason: str


class QualityVote:
    """Five callable voters behind a :class:`ConsensusRouter`, deciding by Byzantine quorum.

    Args:
        settings: limits and thresholds.
        memory: where accepted levels are remembered (novelty).
        accepted_ids: ids already in the world (a resubmission is refused by every voter).
        dishonest: voters that lie, and how (tests and benchmarks inject them here).
        runtime: the event loop the router runs on (a private one if None).
    """

    def __init__(
        self,
        settings: GameSettings,
        memory: GameMemory,
        accepted_ids: Callable[[], Collection[str]] | None = None,
        dishonest: Mapping[str, Dishonesty] | None = None,
        runtime: AsyncRuntime | None = None,
    ) -> None:
        self.settings = settings
        self.memory = memory
        self.accepted_ids = accepted_ids or (lambda: ())
        self.dishonest = {k: Dishonesty(v) for k, v in (dishonest or {}).items()}
        unknown = set(self.dishonest) - set(VOTERS)
        if unknown:
            raise ValueError(f"dishonest voters {sorted(unknown)} are not among {VOTERS}")
        self._own_runtime = runtime is None
        self.runtime = runtime or AsyncRuntime("game-loop")
        checks: dict[str, Callable[[Level, Solution, float], _Check]] = {
            "solver": self._check_solver,
            "difficulty": self._check_difficulty,
            "novelty": self._check_novelty,
            "size": self._check_size,
            "content": self._check_content,
        }
        entries = [
            {
                "model_name": name,
                "litellm_params": {"model": f"pyvoter/{name}", "timeout": VOTER_TIMEOUT_S},
                "model_info": {"voter": {"tier": 0}},
            }
            for name in VOTERS
        ]
        callables = {
            name: CallableVoter(self._voter(name, checks[name]), in_thread=False) for name in VOTERS
        }
        pool = VoterPool(
            parse_model_list({"model_list": entries}),
            RouterSettings(num_retries=0, byzantine_f=BYZANTINE_F, voter_timeout_s=VOTER_TIMEOUT_S),
            callables,
        )
        self.router = ConsensusRouter(pool)
        self.decisions = 0
        self.admitted: set[str] = set()  # levels accepted through :meth:`admit`

    # -- voters -----------------------------------------------------------------------------
    def _voter(
        self, name: str, check: Callable[[Level, Solution, float], _Check]
    ) -> Callable[[Question], str]:
        def vote(q: Question) -> str:
            honest = self._judge(q.payload, check)
            lie = self.dishonest.get(name)
            if lie is Dishonesty.APPROVE_ALL:
                ok, reason = True, "approve (dishonest)"
            elif lie is Dishonesty.REJECT_ALL:
                ok, reason = False, "reject (dishonest)"
            elif lie is Dishonesty.INVERT:
                ok, reason = not honest.ok, "inverted (dishonest)"
            else:
                ok, reason = honest.ok, honest.reason
            return json.dumps(
                {"answer": "approve" if ok else "reject", "confidence": 0.95, "reason": reason}
            )

        return vote

    def _judge(
        self, payload: Mapping[str, Any], check: Callable[[Level, Solution, float], _Check]
    ) -> _Check:
        """The hard gate every honest voter applies, then its own criterion."""
        try:
            level = Level.from_dict(payload["level"], max_side=HARD_MAX_SIDE)
        except (LevelFormatError, KeyError, TypeError) as err:
            return _Check(False, f"malformed: {err}")
        s = self.settings
        if level.width > s.max_side or level.height > s.max_side:
            return _Check(False, f"{level.width}x{level.height} exceeds max_side={s.max_side}")
        if level.level_id in self.admitted or level.level_id in self.accepted_ids():
            return _Check(False, f"level {level.level_id} is already in the world")
        try:
            sol = solve(level.grid)
        except LevelFormatError as err:
            return _Check(False, f"malformed: {err}")
        if not sol.solvable:
            return _Check(False, f"unsolvable: {sol.reason}")
        return check(level, sol, float(payload.get("requested", 0.5)))

    def _check_solver(self, level: Level, sol: Solution, requested: float) -> _Check:
        ok = sol.length >= self.settings.min_solution_steps
        return _Check(ok, f"solved in {sol.length} steps (min {self.settings.min_solution_steps})")

    def _check_difficulty(self, level: Level, sol: Solution, requested: float) -> _Check:
        gap = abs(sol.difficulty - requested)
        ok = gap <= self.settings.difficulty_band
        return _Check(ok, f"difficulty {sol.difficulty:.2f} vs requested {requested:.2f}")

    def _check_novelty(self, level: Level, sol: Solution, requested: float) -> _Check:
        try:
            sim = self.memory.max_similarity(level)
        except Exception as err:  # memory down: this voter cannot judge novelty
            raise GameBackendError(f"novelty lookup failed: {err}") from err
        ok = sim <= self.settings.max_similarity
        return _Check(
            ok, f"similarity to accepted levels {sim:.3f} (max {self.settings.max_similarity})"
        )

    def _check_size(self, level: Level, sol: Solution, requested: float) -> _Check:
        aspect = max(level.width, level.height) / min(level.width, level.height)
        ok = aspect <= MAX_ASPECT
        return _Check(ok, f"{level.width}x{level.height}, aspect {aspect:.1f} (max {MAX_ASPECT})")

    def _check_content(self, level: Level, sol: Solution, requested: float) -> _Check:
        counts = count_tiles(level.grid)
        walkable = level.width * level.height - counts[Tile.WALL]
        share = counts[Tile.HAZARD] / max(1, walkable)
        if share > self.settings.max_hazard_share:
            return _Check(False, f"hazards cover {share:.0%} of walkable tiles")
        for key, door in zip(KEY_TILES, DOOR_TILES, strict=True):
            if counts[door] and not counts[key]:
                return _Check(False, f"door {door.name} has no key")
        return _Check(True, f"hazards {share:.0%}, {sol.keys_collected} keys")

    # -- deciding -----------------------------------------------------------------------------
    def judge(self, proposal: Proposal) -> Verdict:
        """Put ``proposal`` to the five voters; accepted iff a Byzantine quorum approves."""
        self.decisions += 1
        level_id = ""
        metrics: dict[str, Any] = {}
        try:
            level = Level.from_dict(proposal.level)
            level_id = level.level_id
        except (LevelFormatError, TypeError):
            level = None
        question = Question(
            id=f"level-{self.decisions}",
            text=f"Is level {level_id or '?'} from {proposal.proposer} good content?",
            schema=VERDICT,
            critical=True,
            payload={"level": proposal.level, "requested": proposal.requested_difficulty},
        )
        decision = self.runtime.call(self.router.decide(question, mode=Mode.CRITICAL))
        ballots = []
        for v in decision.votes:
            reason = v.error or v.status.value
            if v.raw:
                try:
                    reason = str(json.loads(v.raw).get("reason", reason))
                except (ValueError, AttributeError):
                    reason = v.raw[:200]
            ballots.append(Ballot(v.voter, v.key or "abstain", reason))
        accepted = decision.decided and decision.key == "approve"
        if accepted and level is not None:
            metrics = solve(level.grid).metrics()
        return Verdict(accepted, level_id, ballots, metrics, decision.reason)

    def admit(self, proposal: Proposal) -> Verdict:
        """:meth:`judge`, and remember an accepted level (memory for novelty, and its id).

        Raises:
            GameBackendError: memory failed while storing an accepted level.
        """
        verdict = self.judge(proposal)
        if verdict.accepted:
            level = Level.from_dict(proposal.level)
            try:
                self.memory.add_level(level, verdict.metrics)
            except Exception as err:
                raise GameBackendError(f"cannot remember level {level.level_id}: {err}") from err
            self.admitted.add(level.level_id)
        return verdict

    def close(self) -> None:
        """Stop the private event loop, if any."""
        if self._own_runtime:
            self.runtime.close()
