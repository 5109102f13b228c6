"""Serve the project's flows from one process (no work pool needed): ``python -m deployments.serve [NAME ...]``.

With no name, every deployment of ``prefect.yaml`` is served; ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import textwrap
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
    """Runner deployments of ``prefect.yaml`` (all, or those named), with optional spec overrides.

    Raises:
        ValueError: a name is not a deployment of ``prefect.yaml`` (the valid ones are listed).
    """
    specs = load_deployment_specs()
    unknown = unknown_names(names or [], specs)
    if unknown:
        raise ValueError(_unknown_message(unknown, specs))
    deployments = []
    for spec in specs:
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


def unknown_names(names: list[str], specs: list[dict[str, Any]]) -> list[str]:
    """The ``names`` that are not deployments of ``specs``."""
    valid = {spec["name"] for spec in specs}
    return [n for n in names if n not in valid]


def _unknown_message(unknown: list[str], specs: list[dict[str, Any]]) -> str:
    return (
        f"unknown deployment(s) {', '.join(map(repr, unknown))}; "
        f"deployments: {', '.join(spec['name'] for spec in specs)}"
    )


def main(argv: list[str] | None = None) -> None:
    """Serve the deployments of ``prefect.yaml`` (all, or those named) with their schedules and triggers.

    ``--help`` prints the usage and the deployment names; an unknown name exits with status 2.
    """
    specs = load_deployment_specs()
    listing = "\n".join(
        f"  {spec['name']:20s} {textwrap.shorten(str(spec.get('description') or ''), 56)}"
        for spec in specs
    )
    parser = argparse.ArgumentParser(
        prog="python -m deployments.serve",
        description="Serve the deployments of deployments/prefect.yaml from this process "
        "(with their schedules and event triggers) until interrupted.",
        epilog=f"deployments:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="deployments to serve (default: all)"
    )
    args = parser.parse_args(argv)
    unknown = unknown_names(args.names, specs)
    if unknown:
        parser.error(_unknown_message(unknown, specs))
    serve(*build_deployments(args.names or None))


if __name__ == "__main__":
    main()
