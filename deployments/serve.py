"""Serve the project's flows from one process (no work pool needed): ``python -m deployments.serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from prefect import serve
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


def main() -> None:
    """Serve every deployment of ``prefect.yaml`` (schedules as declared there)."""
    deployments = []
    for spec in load_deployment_specs():
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
            )
        )
    serve(*deployments)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
