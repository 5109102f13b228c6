"""The ASGI server in process: health, level requests (good and bad input), the world file, refused rooms."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from apps.game.settings import GameSettings
from deployments.game_server import GameServer


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GameServer:
    monkeypatch.setenv("SWARMKIT_GAME_SEED_LEVELS", "0")
    return GameServer(GameSettings(data_dir=tmp_path / "data"))


def test_request_level_writes_the_world_and_survives_restart(
    server: GameServer, tmp_path: Path
) -> None:
    with TestClient(server.app) as client:
        assert client.get("/api/health").json()["levels"] == 0
        r = client.post("/api/levels", params={"player": "dana", "difficulty": "0.4"})
        assert r.status_code == 200
        body = r.json()
        assert len(body["votes"]) >= 1
        if body["accepted"]:
            assert body["level"] in server.view().levels
        html = client.get("/")
        assert html.status_code == 200 and "/dist/game.js" in html.text
    levels = set(server.view().levels)
    again = GameServer(GameSettings(data_dir=tmp_path / "data"))
    assert set(again.view().levels) == levels  # saved on shutdown, loaded at start


def test_bad_requests_name_the_problem(server: GameServer) -> None:
    with TestClient(server.app) as client:
        r = client.post("/api/levels", params={"player": "no spaces allowed"})
        assert r.status_code == 400 and "player" in r.json()["error"]
        r = client.post("/api/levels", params={"player": "ok", "difficulty": "7"})
        assert r.status_code == 400 and "difficulty" in r.json()["error"]
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/not-the-room") as ws:
            ws.receive_bytes()


def test_unreadable_world_file_is_kept_aside(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "world.ydoc").write_bytes(b"\x07garbage")
    s = GameServer(GameSettings(data_dir=data))
    assert s.view().levels == {}
    assert (data / "world.unreadable").read_bytes() == b"\x07garbage"


def test_ratings_from_the_world_reach_the_bandit_memory(tmp_path: Path) -> None:
    from apps.game.generators import generate
    from apps.game.level import GenParams
    from apps.game.world import put_level, put_rating

    s = GameServer(GameSettings(data_dir=tmp_path / "data", gossip_peers=0))
    lv = generate(GenParams(difficulty=0.3), 5, author="peer-1")
    with s.doc.transaction():
        put_level(s.doc, {**lv.to_dict(), "metrics": {"difficulty": 0.3}}, {"accepted": True})
        put_rating(s.doc, lv.level_id, "erin", 5, 1.0)  # as a page would write it
    assert s.service.learn(s.view()) == 1
    assert s.service.learn(s.view()) == 0  # already stored
    rows = s.service.memory.ratings("erin")
    assert rows[0]["stars"] == 5 and rows[0]["level"] == lv.level_id
    s.service.close()
