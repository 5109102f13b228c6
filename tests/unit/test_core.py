"""Settings, exceptions, ids and the sans-IO node base class."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from patterns.core import exceptions as exc
from patterns.core.codec import Message
from patterns.core.ids import node_name, parse_node_name
from patterns.net.node import Node
from patterns.settings import Settings


def test_settings_env_prefix_and_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMKIT_QUIC__CONNECT_TIMEOUT_S", "2.5")
    monkeypatch.setenv("SWARMKIT_SIM__MAX_EVENTS", "1000")
    s = Settings()
    assert s.quic.connect_timeout_s == 2.5
    assert s.sim.max_events == 1000


def test_settings_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMKIT_QUIC__CONNECT_TIMEOUT_S", "-1")
    with pytest.raises(ValidationError, match="connect_timeout_s"):
        Settings()


def test_every_setting_is_described() -> None:
    for group in Settings.model_fields.values():
        assert group.description
        model = group.default_factory  # type: ignore[misc]
        assert model is not None
        for name, field in type(model()).model_fields.items():  # type: ignore[call-arg]
            assert field.description, name


def test_retryable_and_permanent_are_disjoint() -> None:
    retryable = [exc.PeerUnavailableError, exc.BackpressureError, exc.DeadlineExceededError]
    permanent = [
        exc.ConfigError,
        exc.MalformedFrameError,
        exc.FrameTooLargeError,
        exc.PeerIdentityError,
        exc.ProtocolError,
    ]
    for t in retryable:
        assert issubclass(t, exc.RetryableError) and not issubclass(t, exc.PermanentError)
    for t in permanent:
        assert issubclass(t, exc.PermanentError) and not issubclass(t, exc.RetryableError)


def test_node_names() -> None:
    assert node_name(12) == "node-12"
    assert parse_node_name("node-12") == 12
    for bad in ("node-", "node-x", "host-1", "node-1.example"):
        with pytest.raises(exc.ConfigError):
            parse_node_name(bad)
    with pytest.raises(exc.ConfigError):
        node_name(-1)


class _Tick(Message, frozen=True):
    k: int


class _TimerNode(Node):
    def __init__(self) -> None:
        super().__init__(0, [0, 1, 2])
        self.fired: list[tuple[str, float]] = []

    def on_message(self, src: int, msg: Message, now: float) -> None:
        self.send(src, msg)

    def on_timer(self, name: str, now: float) -> None:
        self.fired.append((name, now))


def test_node_timers_fire_in_order_and_only_when_due() -> None:
    node = _TimerNode()
    assert node.peers == (1, 2)
    node.set_timer("b", 2.0)
    node.set_timer("a", 1.0)
    node.set_timer("c", 5.0)
    assert node.next_timer() == 1.0
    node.handle_timer(0.5)
    assert node.fired == []
    node.handle_timer(2.0)
    assert node.fired == [("a", 2.0), ("b", 2.0)]
    node.cancel_timer("c")
    assert node.next_timer() is None


def test_node_outbox_drains_once() -> None:
    node = _TimerNode()
    node.receive(1, _Tick(3), 0.0)
    node.broadcast(_Tick(4))
    assert node.drain_outbox() == [(1, _Tick(3)), (1, _Tick(4)), (2, _Tick(4))]
    assert node.drain_outbox() == []
