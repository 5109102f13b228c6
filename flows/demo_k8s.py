"""Demo flow of app 11's cluster layer: run a failure scenario, apply its known fix, show before/after."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks.k8s import (
    advance_cluster,
    apply_k8s_action,
    load_k8s_scenario,
    observe_cluster,
    start_cluster,
)


@flow(name="k8s-scenario-demo", log_prints=True)
def k8s_demo(
    scenario: str = "bad-image-tag", remediation: int = 0, seed: int | None = None
) -> dict[str, object]:
    """Run ``scenario`` on the simulated cluster, apply acceptable remediation ``remediation``."""
    logger = get_run_logger()
    sc = load_k8s_scenario(scenario)
    gt = sc.ground_truth
    cluster = start_cluster(sc, seed)
    advance_cluster(cluster, gt.detect_at_s)
    before = observe_cluster(cluster, sc.namespace)
    action = gt.acceptable[remediation % len(gt.acceptable)]
    planned = apply_k8s_action(cluster, action, dry_run=True)
    applied = apply_k8s_action(cluster, action, dry_run=False)
    advance_cluster(cluster, gt.resolve_within_s)
    after = observe_cluster(cluster, sc.namespace)
    logger.info(
        "%s: %d problems before, %d after %s",
        sc.name,
        len(before.problems),
        len(after.problems),
        action.describe(),
    )
    create_markdown_artifact(
        key=f"k8s-{sc.name}",
        markdown=(
            f"# {sc.title}\n\n{sc.description}\n\n"
            f"Root cause: `{gt.root_cause.kind.value} {gt.root_cause.namespace}/{gt.root_cause.name}`.\n\n"
            f"Remediation: `{action.describe()}`\n\n"
            f"Dry run: {planned.message}\n\n"
            + before.markdown(f"Before (t={gt.detect_at_s:.0f}s)")
            + "\n"
            + after.markdown(f"After (+{gt.resolve_within_s:.0f}s)")
        ),
        description=f"Scenario {sc.name}: before and after {action.describe()}",
    )
    create_table_artifact(
        key=f"k8s-{sc.name}-services",
        table=[{"when": "before", **row} for row in before.table()]
        + [{"when": "after", **row} for row in after.table()],
        description="Service golden signals before and after the remediation",
    )
    return {
        "scenario": sc.name,
        "action": action.describe(),
        "requests": [op.describe() for op in applied.ops],
        "problems_before": len(before.problems),
        "problems_after": len(after.problems),
        "resolved": after.healthy,
    }


if __name__ == "__main__":
    print(k8s_demo())
