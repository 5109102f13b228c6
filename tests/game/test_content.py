"""Generators, solver, level parsing: seeded, solvable, difficulty follows the request, errors name fields."""

from __future__ import annotations

import numpy as np
import pytest

from apps.game.exceptions import LevelFormatError
from apps.game.generators import generate
from apps.game.level import GeneratorKind, GenParams, Level, rows_to_grid
from apps.game.solver import solve


@pytest.mark.parametrize("kind", list(GeneratorKind))
def test_generated_levels_are_solvable_and_seeded(kind: GeneratorKind) -> None:
    for seed in range(8):
        p = GenParams(kind=kind, difficulty=seed / 7, style=(seed % 3) / 2)
        a, b = generate(p, seed), generate(p, seed)
        assert np.array_equal(a.grid, b.grid)  # same seed, same level
        sol = solve(a.grid)
        assert sol.solvable, "\n".join(a.rows())
        assert sol.length == len(sol.path) - 1 > 0
    assert generate(GenParams(kind=kind), 1).level_id != generate(GenParams(kind=kind), 2).level_id


def test_difficulty_parameter_raises_measured_difficulty() -> None:
    means = []
    for d in (0.0, 0.5, 1.0):
        scores = [
            solve(generate(GenParams(kind=k, difficulty=d), s).grid).difficulty
            for k in GeneratorKind
            for s in range(6)
        ]
        means.append(float(np.mean(scores)))
    assert means[0] < means[1] < means[2]
    assert means[2] - means[0] > 0.4


def test_solver_needs_keys_in_order() -> None:
    rows = [
        "#######",
        "#S.A.E#",
        "##.####",
        "##a####",
        "#######",
    ]
    sol = solve(rows_to_grid(rows))
    assert sol.solvable and sol.doors_opened == 1 and sol.keys_collected == 1
    assert sol.length == 2 + 2 + 4  # down to the key, back up, through the door
    locked = [r.replace("a", ".") for r in rows]
    assert not solve(rows_to_grid(locked)).solvable
    hazard = ["#######", "#S.^.E#", "#######", "#######", "#######"]
    assert not solve(rows_to_grid(hazard)).solvable


def test_bad_levels_name_what_is_wrong() -> None:
    with pytest.raises(LevelFormatError, match=r"rows\[1\]\[2\]: unknown tile 'x'"):
        rows_to_grid(["#####", "#.x.#", "#####", "#S.E#", "#####"])
    with pytest.raises(LevelFormatError, match=r"rows\[2\]: length 4, expected 5"):
        rows_to_grid(["#####", "#...#", "####", "#S.E#", "#####"])
    with pytest.raises(LevelFormatError, match=r"params\.difficulty"):
        Level.from_dict({"rows": ["#####"] * 5, "params": {"difficulty": 3}})
    with pytest.raises(LevelFormatError, match="exactly one exit"):
        solve(rows_to_grid(["#####", "#S..#", "#...#", "#...#", "#####"]))


def test_level_round_trips_through_plain_data() -> None:
    lv = generate(GenParams(kind=GeneratorKind.CAVES, difficulty=0.7), 3, author="peer-0")
    back = Level.from_dict(lv.to_dict())
    assert back.level_id == lv.level_id and back.params == lv.params and back.author == "peer-0"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (GenParams(difficulty=-1.0), "params.difficulty"),
        (GenParams(difficulty=float("nan")), "params.difficulty"),
        (GenParams(style=2.0), "params.style"),
    ],
)
def test_generate_names_an_out_of_range_setting(params: GenParams, field: str) -> None:
    with pytest.raises(LevelFormatError, match=field):
        generate(params, 0)


def test_params_refuse_a_fractional_side() -> None:
    with pytest.raises(LevelFormatError, match=r"params\.width: expected a whole number"):
        GenParams.from_dict({"width": 24.9})
    assert GenParams.from_dict({"width": 24.0}).width == 24


def test_settings_refuse_levels_larger_than_the_size_gate() -> None:
    from pydantic import ValidationError

    from apps.game.settings import GameSettings

    with pytest.raises(ValidationError, match="width 24 is larger than max_side 10"):
        GameSettings(max_side=10)
    assert GameSettings(max_side=24, width=24, height=16).max_side == 24
