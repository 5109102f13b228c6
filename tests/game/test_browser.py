"""Two Chromium pages and a Python peer edit the shared world at once and converge (real server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.game.browser import run, skip_reason

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def test_pages_and_python_peer_converge(tmp_path: Path) -> None:
    shot = tmp_path / "game.png"
    out = run(tmp_path / "data", screenshot=shot, rounds=3)
    assert out["converged"], out
    # the ratings clicked in each page and written by the Python peer all arrived everywhere
    assert out["stars"] == {"alice": 4, "bob": 2, "carol": 5}
    # the server's Python gossip peers (pattern 3 over QUIC) hold the same world as the room
    assert len(out["gossip_peers"]) == 3
    assert all(p["same_as_room"] for p in out["gossip_peers"])
    # keyboard play moved the player
    assert "moves 0 " not in out["play_state"], out["play_state"]
    # a level requested in page B reached page A through the CRDT (or the vote refused it)
    if out["new_level_status"].startswith("accepted"):
        assert out["levels_after"] == out["levels_before"] + 1
    # a rating made in the browser reached the Python peer, every round
    assert len(out["latencies_ms"]) == 3
    assert shot.stat().st_size > 10_000
