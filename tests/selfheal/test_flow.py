"""The self-healing flow under Prefect: tasks per step, artifacts, alerts, scenario files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from prefect.client.orchestration import get_client

from apps.k8s.settings import SCENARIOS_DIR
from flows.self_healing import self_healing

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_the_flow_heals_a_scenario_and_leaves_artifacts(tmp_path: Path) -> None:
    out = self_healing(scenario="db-outage-cascade", memory_dir=str(tmp_path))
    (inc,) = out["incidents"]
    assert inc["outcome"] == "healed" and inc["root_cause"] == "bad_rollout: Deployment shop/db"
    assert len(inc["certificate"]) == 16 and out["healthy_after"]
    assert (tmp_path / "mttr.png").stat().st_size > 1000
    with get_client(sync_client=True) as client:
        art = client.read_latest_artifacts()
    keys = {a.key for a in art}
    assert {"selfheal-incidents", "selfheal-votes", "selfheal-health", "selfheal-mttr"} <= keys
    assert f"selfheal-{inc['incident']}" in keys


def test_an_alert_makes_the_flow_act_at_first_sight(tmp_path: Path) -> None:
    alert = json.loads((SHARED / "alertmanager_webhook_example.json").read_text())
    plain = self_healing(scenario="missing-env-var", memory_dir=str(tmp_path / "a"))
    alerted = self_healing(scenario="missing-env-var", alert=alert, memory_dir=str(tmp_path / "b"))
    assert alerted["incidents"][0]["outcome"] == "healed"
    assert alerted["incidents"][0]["detected"] < plain["incidents"][0]["detected"]


def test_a_scenario_file_nobody_catalogued_runs_by_path(tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIOS_DIR / "node-not-ready.yaml").read_text())
    data["name"] = "rack-power-loss"
    path = tmp_path / "rack-power-loss.yaml"
    path.write_text(yaml.safe_dump(data))
    out = self_healing(scenario_file=str(path), memory_dir=str(tmp_path / "m"))
    assert out["incidents"][0]["action"] == "kubectl drain node-2 --ignore-daemonsets"


def test_bad_input_fails_the_run_with_the_field_named(tmp_path: Path) -> None:
    state = self_healing(alert={"namespace": "shop"}, memory_dir=str(tmp_path), return_state=True)
    assert state.is_failed() and "alertname" in str(state.message) + repr(
        state.result(raise_on_failure=False)
    )
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: broken\ntitle: t\nnodes: []\n")
    state = self_healing(scenario_file=str(bad), memory_dir=str(tmp_path), return_state=True)
    err = state.result(raise_on_failure=False)
    assert state.is_failed() and "broken.yaml" in str(err)


def test_the_demo_needs_at_least_one_incident() -> None:
    from flows.self_healing import self_healing_demo

    with pytest.raises(ValueError, match="at least 1 incident"):
        self_healing_demo.fn(incidents=0)
