"""Every deployment in prefect.yaml names a real flow and parameters that flow accepts."""

from __future__ import annotations

import inspect

import pytest
from prefect.flows import Flow

from deployments.serve import load_deployment_specs, load_flow

SPECS = load_deployment_specs()


def test_there_are_deployments() -> None:
    assert {s["name"] for s in SPECS} >= {"kernel-demo", "aggregation-hourly"}


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_entrypoint_and_parameters(spec: dict[str, object]) -> None:
    flow = load_flow(str(spec["entrypoint"]))
    assert isinstance(flow, Flow)
    accepted = set(inspect.signature(flow.fn).parameters)
    params = spec.get("parameters") or {}
    assert isinstance(params, dict)
    assert set(params) <= accepted, f"unknown parameters {set(params) - accepted}"
    assert spec["work_pool"]["name"] == "swarmkit-process"  # type: ignore[index]


def test_deployment_object_builds() -> None:
    spec = SPECS[0]
    flow = load_flow(str(spec["entrypoint"]))
    dep = flow.to_deployment(name=str(spec["name"]), parameters=spec.get("parameters") or {})  # type: ignore[arg-type]
    assert dep.name == spec["name"] and dep.parameters == spec["parameters"]
