"""The scenario loader validates files and names the offending field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from apps.k8s.exceptions import ScenarioError
from apps.k8s.kinds import Kind
from apps.k8s.scenario import load_catalog, load_scenario, parse_scenario, scenario_names
from apps.k8s.settings import SCENARIOS_DIR
from apps.k8s.sim.cluster import SimCluster

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


def _container(d: dict[str, Any], deployment: int = 3) -> dict[str, Any]:
    """The first container of manifests[deployment] (3 is the db Deployment)."""
    return d["manifests"][deployment]["spec"]["template"]["spec"]["containers"][0]


DB = r"manifests\[3\].spec.template.spec.containers\[0\]"
# Fields the loader used to pass and the simulator tripped on later (or never): each must be
# refused at load time with the field's path in the message.
LOAD_TIME_CASES = [
    (
        "replicas a word",
        lambda d: d["manifests"][3]["spec"].__setitem__("replicas", "three"),
        r"manifests\[3\].spec.replicas: expected an integer, got a string \('three'\)",
    ),
    (
        "memory bad suffix",
        lambda d: _container(d)["resources"]["limits"].__setitem__("memory", "256Mx"),
        DB + r".resources.limits.memory: invalid quantity '256Mx'",
    ),
    (
        "cpu not a quantity",
        lambda d: _container(d)["resources"]["requests"].__setitem__("cpu", "half"),
        DB + r".resources.requests.cpu: invalid quantity 'half'",
    ),
    (
        "negative request",
        lambda d: _container(d)["resources"]["requests"].__setitem__("cpu", "-1"),
        DB + r".resources.requests.cpu: quantity '-1' must not be negative",
    ),
    (
        "request above limit",
        lambda d: _container(d)["resources"]["requests"].__setitem__("memory", "2Gi"),
        DB + r".resources.requests.memory: '2Gi' must be less than or equal to memory limit",
    ),
    (
        "pvc storage",
        lambda d: d["manifests"][0]["spec"]["resources"]["requests"].__setitem__("storage", "10GB"),
        r"manifests\[0\].spec.resources.requests.storage: invalid quantity '10GB'",
    ),
    (
        "misspelt field",
        lambda d: _container(d).__setitem__("readinesProbe", {"tcpSocket": {"port": 5432}}),
        DB + r".readinesProbe: unknown field",
    ),
    (
        "port a word",
        lambda d: _container(d)["ports"][0].__setitem__("containerPort", "5432/tcp"),
        DB + r".ports\[0\].containerPort: expected an integer",
    ),
    (
        "probe period a string",
        lambda d: _container(d)["readinessProbe"].__setitem__("periodSeconds", "5s"),
        DB + r".readinessProbe.periodSeconds: expected an integer",
    ),
    (
        "label not a string",
        lambda d: d["manifests"][1]["metadata"]["labels"].__setitem__("tier", 1),
        r"manifests\[1\].metadata.labels.tier: expected a string",
    ),
    (
        "wrong apiVersion",
        lambda d: d["manifests"][3].__setitem__("apiVersion", "extensions/v1beta1"),
        r"manifests\[3\].apiVersion: 'extensions/v1beta1' is not served for Deployment",
    ),
    (
        "node memory",
        lambda d: d["nodes"][0].__setitem__("memory", "16Gb"),
        r"nodes\[0\].memory: invalid quantity '16Gb'",
    ),
    (
        "node cpu zero",
        lambda d: d["nodes"][0].__setitem__("cpu", "0"),
        r"nodes\[0\].cpu: '0' must be positive",
    ),
    (
        "empty symptom path",
        lambda d: d["ground_truth"]["symptoms"][0].__setitem__("path", ""),
        r"ground_truth.symptoms\[0\].path: the path is empty",
    ),
    (
        "blank symptom path",
        lambda d: d["ground_truth"]["symptoms"][0].__setitem__("path", "   "),
        r"ground_truth.symptoms\[0\].path: the path is empty",
    ),
    (
        "symptom path empty element",
        lambda d: d["ground_truth"]["symptoms"][0].__setitem__("path", "status..phase"),
        r"ground_truth.symptoms\[0\].path: 'status..phase' has an empty element",
    ),
    (
        "metric symptom service",
        lambda d: d["ground_truth"]["symptoms"][2].__setitem__("service", "ghost"),
        r"ground_truth.symptoms\[2\].service: no Service shop/ghost",
    ),
    (
        "metric symptom bound",
        lambda d: d["ground_truth"]["symptoms"][2].pop("above"),
        r"ground_truth.symptoms\[2\]: a metric symptom needs above and/or below",
    ),
    (
        "patch fault quantity",
        lambda d: d["faults"][0]["patch"]["spec"]["template"]["spec"]["containers"][0]["resources"][
            "limits"
        ].__setitem__("memory", "256Mx"),
        r"faults\[0\].patch \(applied to Deployment db\).*limits.memory: invalid quantity",
    ),
    (
        "patch fault replicas",
        lambda d: d["faults"][0]["patch"]["spec"].__setitem__("replicas", "three"),
        r"faults\[0\].patch \(applied to Deployment db\).*spec.replicas: expected an integer",
    ),
    (
        "json patch not a list",
        lambda d: d["faults"][0].__setitem__("patch_type", "json"),
        r"faults\[0\].patch: a json patch must be a list of operations",
    ),
    (
        "action quantity",
        lambda d: d["ground_truth"]["acceptable"][1]["limits"].__setitem__("memory", "1Gx"),
        r"ground_truth.acceptable\[1\].limits.memory: invalid quantity '1Gx'",
    ),
    (
        "action target",
        lambda d: d["ground_truth"]["wrong"][0].__setitem__("name", "ghost"),
        r"ground_truth.wrong\[0\].name: no Deployment shop/ghost",
    ),
    (
        "action container",
        lambda d: d["ground_truth"]["acceptable"][1].__setitem__("container", "pg"),
        r"ground_truth.acceptable\[1\].container: db has no container 'pg'",
    ),
    (
        "image behaviour nobody runs",
        lambda d: d["images"].__setitem__("postgres:16.5", d["images"].pop("postgres:16.4")),
        r"images\['postgres:16.5'\]: no container of the manifests or faults runs this image",
    ),
    (
        "readiness dependency target",
        lambda d: d["images"]["shop/orders:3.0.4"].__setitem__(
            "readiness_depends_on", [{"service": "ghost"}]
        ),
        r"images\['shop/orders:3.0.4'\].readiness_depends_on\[0\].service: no Service 'ghost'",
    ),
    (
        "hpa target",
        lambda d: d["manifests"].append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "api", "namespace": "shop"},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                    "minReplicas": 1,
                    "maxReplicas": 3,
                },
            }
        ),
        r"manifests\[7\].spec.scaleTargetRef: no Deployment shop/x",
    ),
]


@pytest.mark.parametrize(
    ("label", "edit", "field"), LOAD_TIME_CASES, ids=[c[0] for c in LOAD_TIME_CASES]
)
def test_fields_quantities_and_references_are_checked_at_load_time(
    label: str, edit: Any, field: str
) -> None:
    with pytest.raises(ScenarioError, match=field) as info:
        parse_scenario(broken(edit), "x.yaml")
    assert str(info.value).startswith("x.yaml: ")  # the file, then the field path


def test_every_catalog_scenario_passes_the_load_time_checks() -> None:
    assert len(load_catalog()) == len(scenario_names()) >= 24


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


def test_a_secret_fault_patches_the_data_the_api_server_stores() -> None:
    """``stringData`` is write-only: a patch meets the Secret's base64 ``data``."""
    data = yaml.safe_load((SCENARIOS_DIR / "secret-key-rotated.yaml").read_text())
    fault = data["faults"][0]
    fault.update(patch_type="json", patch=[{"op": "remove", "path": "/data/DB_PASSWORD"}])
    sc = parse_scenario(data, "x.yaml")
    sim = SimCluster.from_scenario(sc)
    sim.run_until(fault["at_s"] + 1)
    assert set(sim.get(Kind.SECRET, "db-credentials", "shop")["data"]) == {"DB_USER"}
    fault["patch"] = [{"op": "remove", "path": "/data/NO_SUCH_KEY"}]  # still checked
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.patch: does not apply"):
        parse_scenario(data, "x.yaml")
