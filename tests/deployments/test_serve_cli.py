"""``python -m deployments.serve``: --help lists the deployments, an unknown name exits 2."""

from __future__ import annotations

from typing import Any

import pytest

import deployments.serve as serve_module
from deployments.serve import build_deployments, load_deployment_specs, main


@pytest.fixture(autouse=True)
def _no_serving(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(serve_module, "serve", lambda *deps: calls.append(deps))
    return calls


def test_help_lists_the_deployments_and_serves_nothing(
    capsys: pytest.CaptureFixture[str], _no_serving: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m deployments.serve")
    assert all(spec["name"] in out for spec in load_deployment_specs())
    assert _no_serving == []


def test_an_unknown_name_exits_2_listing_the_valid_ones(
    capsys: pytest.CaptureFixture[str], _no_serving: list[tuple[Any, ...]]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["self-heal"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown deployment(s) 'self-heal'" in err and "self-healing" in err
    assert _no_serving == []
    with pytest.raises(ValueError, match="deployments: self-healing"):
        build_deployments(["self-heal"])


def test_a_known_name_is_served(_no_serving: list[tuple[Any, ...]]) -> None:
    main(["folding"])
    (deps,) = _no_serving
    assert [d.name for d in deps] == ["folding"]


def test_the_game_server_names_a_bad_setting_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from deployments.game_server import main as game_main

    monkeypatch.setenv("SWARMKIT_GAME__PORT", "abc")
    with pytest.raises(SystemExit) as exit_:
        game_main()
    assert exit_.value.code == 2
    assert "SWARMKIT_GAME__PORT='abc'" in capsys.readouterr().err
