"""Hypothesis state machine: random edits, syncs and partitions against a model of the document."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from patterns.gossip.checkers import ConvergenceChecker, ConvergenceWatch, NothingLostChecker
from patterns.gossip.messages import gossip_codec
from patterns.gossip.node import GossipNode
from patterns.gossip.settings import GossipSettings
from patterns.net.faults import FaultPlan
from patterns.net.sim import Simulator

N = 4
TOKEN = re.compile(r"<(\d+)\.(\d+)>")
SETTINGS = GossipSettings(rumor_hops=2)


class GossipMachine(RuleBasedStateMachine):
    """Drives a 4-node simulated cluster and keeps the expected final document.

    The model is what the document must end as: the map holds every key set and
    not deleted (keys are unique), the array every appended item, the text the
    tokens inserted and not deleted. Edits are chosen so the final document does
    not depend on delivery order, except for the interleaving of concurrent
    appends and inserts, which the invariants check as "each writer's own order
    is kept".
    """

    def __init__(self) -> None:
        super().__init__()
        self.watch = ConvergenceWatch()
        self.lost = NothingLostChecker(at_end=False)
        self.equal = ConvergenceChecker(at_end=False)
        self.sim = Simulator(
            lambda nid, rng: GossipNode(nid, range(N), rng, settings=SETTINGS),
            range(N),
            FaultPlan(seed=7),
            codec=gossip_codec(),
            checkers=[self.watch, self.lost, self.equal],
            record=False,
            wire_check=True,
        )
        self.counter = 0
        self.keys: dict[str, float] = {}  # the model of the map: set and not deleted
        self.deleted: set[str] = set()
        self.items: dict[str, int] = {}  # appended item -> writer
        self.tokens: dict[str, int] = {}  # text token -> writer, not deleted
        self.dead_tokens: set[str] = set()
        self.parts: list[list[int]] | None = None

    def node(self, nid: int) -> GossipNode:
        n = self.sim.nodes[nid]
        assert isinstance(n, GossipNode)
        return n

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    # -- edits ------------------------------------------------------------------------
    @rule(nid=st.integers(0, N - 1))
    def set_key(self, nid: int) -> None:
        k = self._next()
        key = f"k{k}"
        self.sim.call(nid, lambda n, now: n.set_key(key, k, now))
        self.keys[key] = float(k)

    @rule(nid=st.integers(0, N - 1), pick=st.integers(0, 1000))
    def delete_seen_key(self, nid: int, pick: int) -> None:
        seen = sorted(self.node(nid).snapshot()["map"])
        if not seen:
            return
        key = seen[pick % len(seen)]
        self.sim.call(nid, lambda n, now: n.delete_key(key, now))
        self.keys.pop(key, None)
        self.deleted.add(key)

    @rule(nid=st.integers(0, N - 1))
    def append(self, nid: int) -> None:
        item = f"{nid}.{self._next()}"
        self.sim.call(nid, lambda n, now: n.append(item, now))
        self.items[item] = nid

    @rule(nid=st.integers(0, N - 1))
    def insert_token(self, nid: int) -> None:
        token = f"<{nid}.{self._next()}>"
        text = self.node(nid).snapshot()["text"]
        self.sim.call(nid, lambda n, now: n.insert_text(len(text), token, now))
        self.tokens[token] = nid

    @rule(nid=st.integers(0, N - 1), pick=st.integers(0, 1000))
    def delete_seen_token(self, nid: int, pick: int) -> None:
        text = self.node(nid).snapshot()["text"]
        seen = [m for m in TOKEN.finditer(text)]
        if not seen:
            return
        m = seen[pick % len(seen)]
        self.sim.call(nid, lambda n, now: n.delete_text(m.start(), len(m.group(0)), now))
        self.tokens.pop(m.group(0), None)
        self.dead_tokens.add(m.group(0))

    # -- network ----------------------------------------------------------------------
    @rule(dt=st.sampled_from([0.002, 0.01, 0.05, 0.2]))
    def advance(self, dt: float) -> None:
        self.sim.run(max_time=self.sim.now + dt)

    @precondition(lambda self: self.parts is None)
    @rule(order=st.permutations(list(range(N))), cut=st.integers(1, N - 1))
    def partition(self, order: list[int], cut: int) -> None:
        self.parts = [sorted(order[:cut]), sorted(order[cut:])]
        self.sim.partition(self.parts)

    @precondition(lambda self: self.parts is not None)
    @rule()
    def heal(self) -> None:
        self.sim.heal()
        self.parts = None

    @rule()
    def converge(self) -> None:
        """Heal everything, run until all documents are equal, compare with the model."""
        self.sim.heal()
        self.parts = None
        start = self.sim.now
        result = self.sim.run(
            until=lambda s: s.now > start and self.watch.converged(s), max_time=start + 30.0
        )
        assert result.reached, result.describe()
        self.equal.check(self.sim)
        self.lost.check(self.sim)
        doc = self.node(0).snapshot()
        assert doc["map"] == self.keys
        assert sorted(doc["array"]) == sorted(self.items)
        assert sorted(TOKEN.findall(doc["text"])) == sorted(
            tuple(t[1:-1].split(".")) for t in self.tokens
        )
        assert TOKEN.sub("", doc["text"]) == ""

    # -- invariants, after every step ----------------------------------------------------
    @invariant()
    def every_replica_is_a_consistent_view(self) -> None:
        for nid in range(N):
            doc = self.node(nid).snapshot()
            for key, value in doc["map"].items():
                assert key in self.keys or key in self.deleted, f"node {nid}: invented {key}"
                assert float(key[1:]) == value
            items = doc["array"]
            assert len(items) == len(set(items)) and set(items) <= set(self.items)
            text = doc["text"]
            assert TOKEN.sub("", text) == "", f"node {nid}: a token was torn: {text!r}"
            found = [m.group(0) for m in TOKEN.finditer(text)]
            assert len(found) == len(set(found))
            assert set(found) <= set(self.tokens) | self.dead_tokens
            # each writer's items and tokens keep the order that writer made them in
            for writer in range(N):
                mine = [int(i.split(".")[1]) for i in items if self.items[i] == writer]
                assert mine == sorted(mine)
                toks = [
                    int(t[1:-1].split(".")[1])
                    for t in found
                    if t[1:-1].split(".")[0] == str(writer)
                ]
                assert toks == sorted(toks)

    @invariant()
    def a_replica_sees_its_own_edits(self) -> None:
        for nid in range(N):
            doc = self.node(nid).snapshot()
            assert {i for i, w in self.items.items() if w == nid} <= set(doc["array"])
            assert {t for t, w in self.tokens.items() if w == nid} <= set(
                m.group(0) for m in TOKEN.finditer(doc["text"])
            )

    def teardown(self) -> None:
        self.converge()


TestGossipStateMachine = GossipMachine.TestCase
TestGossipStateMachine.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
