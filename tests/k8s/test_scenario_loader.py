"""The scenario loader validates files and names the offending field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps.k8s.exceptions import ScenarioError
from apps.k8s.scenario import load_scenario, parse_scenario
from apps.k8s.settings import SCENARIOS_DIR

BASE: dict[str, Any] = yaml.safe_load((SCENARIOS_DIR / "db-outage-cascade.yaml").read_text())


def broken(edit: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    edit(data)
    return data


CASES = [
    ("missing title", lambda d: d.pop("title"), "required field `title`"),
    ("wrong type", lambda d: d["faults"][0].__setitem__("at_s", "soon"), r"\$.faults\[0\].at_s"),
    ("unknown field", lambda d: d.__setitem__("colour", "red"), "unknown field `colour`"),
    (
        "unknown fault",
        lambda d: d["faults"][0].__setitem__("type", "meteor"),
        r"\$.faults\[0\].type",
    ),
    (
        "bad action",
        lambda d: d["ground_truth"]["acceptable"][0].__setitem__("replicas", 3),
        r"acceptable\[0\]",
    ),
    ("no wrong", lambda d: d["ground_truth"].__setitem__("wrong", []), r"ground_truth.wrong"),
    (
        "unsupported kind",
        lambda d: d["manifests"][0].__setitem__("kind", "StatefulSet"),
        r"manifests\[0\].kind",
    ),
    (
        "no name",
        lambda d: d["manifests"][1]["metadata"].pop("name"),
        r"manifests\[1\].metadata.name",
    ),
    (
        "selector mismatch",
        lambda d: d["manifests"][1]["spec"]["template"]["metadata"].__setitem__(
            "labels", {"app": "x"}
        ),
        r"manifests\[1\].spec.template.metadata.labels",
    ),
    (
        "no image",
        lambda d: d["manifests"][2]["spec"]["template"]["spec"]["containers"][0].pop("image"),
        r"containers\[0\].image",
    ),
    (
        "traffic target",
        lambda d: d["traffic"][0].__setitem__("service", "ghost"),
        r"traffic\[0\].service",
    ),
    ("fault target", lambda d: d["faults"][0].__setitem__("name", "ghost"), r"faults\[0\].name"),
    (
        "unknown node",
        lambda d: d["faults"].append({"type": "node_down", "at_s": 1, "node": "node-9"}),
        r"faults\[1\].node",
    ),
    (
        "root cause",
        lambda d: d["ground_truth"]["root_cause"].__setitem__("name", "ghost"),
        "ground_truth.root_cause",
    ),
    (
        "detect early",
        lambda d: d["ground_truth"].__setitem__("detect_at_s", 10),
        "ground_truth.detect_at_s",
    ),
    (
        "call target",
        lambda d: d["images"]["postgres:16.4"].__setitem__("calls", [{"service": "ghost"}]),
        r"calls\[0\].service",
    ),
    (
        "call cycle",
        lambda d: d["images"]["postgres:16.4"].__setitem__("calls", [{"service": "frontend"}]),
        "cycle: frontend -> orders -> db -> frontend",
    ),
]


@pytest.mark.parametrize(("label", "edit", "field"), CASES, ids=[c[0] for c in CASES])
def test_malformed_scenarios_are_rejected_naming_the_field(
    label: str, edit: Any, field: str
) -> None:
    with pytest.raises(ScenarioError, match=field):
        parse_scenario(broken(edit), "x.yaml")


def test_the_unbroken_base_is_valid() -> None:
    assert parse_scenario(copy.deepcopy(BASE), "x.yaml").name == "db-outage-cascade"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: invalid YAML"):
        load_scenario(bad_yaml)
    renamed = tmp_path / "other-name.yaml"
    renamed.write_text(yaml.safe_dump(BASE))
    with pytest.raises(ScenarioError, match="differs from the file name"):
        load_scenario(renamed)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario("no-such-scenario", tmp_path)
