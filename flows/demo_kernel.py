"""Demo flow of the network kernel: reliable broadcast under the simulator and over QUIC."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from patterns.net.reference_run import BroadcastReport
from tasks.kernel import broadcast_in_simulator, broadcast_over_quic


def _summary(report: BroadcastReport) -> str:
    status = "complete" if report.complete else "INCOMPLETE"
    return (
        f"| {report.runtime} | {report.nodes} | {report.values_per_node} | {status} | "
        f"{report.messages_delivered} | {report.elapsed_s:.3f} |"
    )


@flow(name="kernel-demo", log_prints=True)
def kernel_demo(
    nodes: int = 5, values: int = 3, seed: int = 0, loss: float = 0.2
) -> list[BroadcastReport]:
    """Broadcast ``values`` values from each of ``nodes`` nodes and show who delivered what."""
    logger = get_run_logger()
    reports = [
        broadcast_in_simulator(nodes, values, seed=seed, loss=loss),
        broadcast_over_quic(nodes, values),
    ]
    for r in reports:
        logger.info("%s: complete=%s delivered=%s", r.runtime, r.complete, r.messages_delivered)
        create_table_artifact(
            key=f"kernel-demo-{r.runtime}",
            table=r.rows(),
            description=f"Reliable broadcast on the {r.runtime}: values delivered per node",
        )
    lines = [
        "| runtime | nodes | values/node | result | messages delivered | seconds |",
        "|---|---|---|---|---|---|",
        *(_summary(r) for r in reports),
    ]
    create_markdown_artifact(
        key="kernel-demo-summary",
        markdown="# Kernel demo: reliable broadcast\n\n" + "\n".join(lines),
        description="Reliable broadcast under the simulator and over QUIC",
    )
    return reports


if __name__ == "__main__":
    kernel_demo()
