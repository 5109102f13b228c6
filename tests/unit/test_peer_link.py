"""The send queue of a QUIC peer link: what waits is bounded, what the connection takes is not."""

from __future__ import annotations

from types import SimpleNamespace

from patterns.net.quic import QuicStats, _PeerLink


class _Connection:
    """A connection taking every write while its send window has room."""

    usable = True
    closing = False

    def __init__(self, backlog: int = 0) -> None:
        self.written: list[bytes] = []
        self._backlog = backlog

    def backlog(self) -> int:
        return self._backlog

    def write(self, data: bytes) -> bool:
        self.written.append(data)
        return True


def _link(bound: int, conn: _Connection | None) -> tuple[_PeerLink, QuicStats]:
    stats = QuicStats()
    runtime = SimpleNamespace(settings=SimpleNamespace(send_queue_messages=bound), stats=stats)
    link = _PeerLink(runtime, 2, None)  # type: ignore[arg-type]
    link.conn = conn  # type: ignore[assignment]
    return link, stats


def test_a_flush_of_more_frames_than_the_bound_is_sent_whole_on_an_open_link() -> None:
    conn = _Connection()
    link, stats = _link(2, conn)
    link.enqueue([b"a", b"b", b"c", b"d"])
    assert b"".join(conn.written) == b"abcd"
    assert stats.queue_drops == 0 and not link.queue


def test_frames_that_must_wait_are_bounded_dropping_the_oldest() -> None:
    full = _Connection(backlog=1 << 40)  # its send window is full: nothing moves
    link, stats = _link(2, full)
    link.enqueue([b"a", b"b", b"c"])
    link.enqueue([b"d"])
    assert not full.written
    assert list(link.queue) == [b"c", b"d"] and stats.queue_drops == 2
    down, stats = _link(3, None)  # no connection yet
    down.enqueue([b"a", b"b", b"c", b"d", b"e"])
    assert list(down.queue) == [b"c", b"d", b"e"] and stats.queue_drops == 2
