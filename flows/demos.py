"""`make demo`: every pattern demo built so far, as subflows of one parent flow run.

The self-healing Kubernetes loop replaces this once it lands.
"""

from __future__ import annotations

from prefect import flow

from flows.demo_aggregation import aggregation_demo
from flows.demo_kernel import kernel_demo


@flow(name="pattern-demos", log_prints=True)
def pattern_demos() -> dict[str, object]:
    """Run the kernel demo (simulator + QUIC) and the aggregation demo (a million agents)."""
    kernel = kernel_demo()
    aggregation = aggregation_demo()
    print(
        f"kernel: {[(r.runtime, r.complete) for r in kernel]}; "
        f"aggregation: coverage {aggregation['coverage']} of {aggregation['agents']}, "
        f"p99 {aggregation['p99']} ms"
    )
    return {"kernel": kernel, "aggregation": aggregation}


if __name__ == "__main__":
    pattern_demos()
