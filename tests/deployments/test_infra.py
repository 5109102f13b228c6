"""infra/ manifests parse and agree with the RBAC and the settings they name."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from deployments.webhook.settings import WebhookSettings

INFRA = Path(__file__).resolve().parents[2] / "infra"


def test_the_kubernetes_job_template_runs_flows_as_the_healer_dry_run() -> None:
    template = json.loads((INFRA / "prefect" / "kubernetes-job-template.json").read_text())
    props = template["variables"]["properties"]
    rbac = list(yaml.safe_load_all((INFRA / "rbac" / "healer-rbac.yaml").read_text()))
    accounts = {
        (d["metadata"]["namespace"], d["metadata"]["name"])
        for d in rbac
        if d["kind"] == "ServiceAccount"
    }
    assert (props["namespace"]["default"], props["service_account_name"]["default"]) in accounts
    assert props["env"]["default"]["SWARMKIT_SELFHEAL__MODE"] == "dry-run"
    spec = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "{{ service_account_name }}"


def test_the_webhook_manifest_sets_only_settings_that_exist() -> None:
    docs = list(yaml.safe_load_all((INFRA / "webhook" / "webhook.yaml").read_text()))
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    fields = set(WebhookSettings.model_fields)
    for env in container["env"]:
        if env["name"].startswith("SWARMKIT_WEBHOOK__"):
            assert env["name"].removeprefix("SWARMKIT_WEBHOOK__").lower() in fields, env["name"]
    service = next(d for d in docs if d["kind"] == "Service")
    assert service["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
