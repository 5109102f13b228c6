"""Serve the project's flows from one process (no work pool needed): ``python -m deployments.serve [NAME ...]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from prefect import serve
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger
from prefect.flows import Flow, load_flow_from_entrypoint

PREFECT_FILE = Path(__file__).with_name("prefect.yaml")
ROOT = PREFECT_FILE.parent.parent


def load_deployment_specs(path: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    """The ``deployments`` entries of ``prefect.yaml``."""
    data = yaml.safe_load(path.read_text())
    specs: list[dict[str, Any]] = data.get("deployments") or []
    return specs


def load_flow(entrypoint: str) -> Flow[Any, Any]:
    """The flow object named by an entrypoint relative to the repo root."""
    file, _, name = entrypoint.partition(":")
    return load_flow_from_entrypoint(f"{ROOT / file}:{name}")


def event_triggers(spec: dict[str, Any]) -> list[DeploymentEventTrigger]:
    """The ``type: event`` triggers of a deployment spec, as Prefect objects."""
    out = []
    for t in spec.get("triggers") or []:
        if t.get("type") != "event":
            raise ValueError(
                f"deployment {spec['name']}: only event triggers are served (got {t.get('type')!r})"
            )
        out.append(DeploymentEventTrigger(**{k: v for k, v in t.items() if k != "type"}))
    return out


def build_deployments(
    names: list[str] | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> list[Any]:
    """Runner deployments of ``prefect.yaml`` (all, or those named), with optional spec overrides."""
    deployments = []
    for spec in load_deployment_specs():
        if names and spec["name"] not in names:
            continue
        spec = {**spec, **(overrides or {}).get(spec["name"], {})}
        flow = load_flow(spec["entrypoint"])
        active = [s for s in spec.get("schedules") or [] if s.get("active")]
        cron = next((s["cron"] for s in active if "cron" in s), None)
        interval = next((s["interval"] for s in active if "interval" in s), None)
        deployments.append(
            flow.to_deployment(
                name=spec["name"],
                parameters=spec.get("parameters") or {},
                description=spec.get("description"),
                cron=cron,
                interval=interval,
                concurrency_limit=spec.get("concurrency_limit"),
                triggers=event_triggers(spec),
            )
        )
    return deployments


def main(argv: list[str] | None = None) -> None:
    """Serve the deployments of ``prefect.yaml`` (all, or those named) with their schedules and triggers."""
    names = list(sys.argv[1:] if argv is None else argv)
    serve(*build_deployments(names or None))


if __name__ == "__main__":
    main()
