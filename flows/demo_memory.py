"""Demo flow of the vector memory: remember incident notes, recall them by similarity."""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from patterns.memory import MemorySettings, SearchHit, SearchMode
from tasks.memory import recall, remember

DEMO_NAMESPACE = "demo"
DEMO_NOTES = (
    "Pod api-7f9 in CrashLoopBackOff: container killed by the kernel OOM killer",
    "Memory limit of 256Mi too low for the api deployment; raised to 512Mi and pods recovered",
    "Node worker-3 reported DiskPressure; kubelet evicted pods; pruned images to free disk",
    "ImagePullBackOff on deployment web: registry credentials secret expired",
    "Rollout of payments v2 stuck: readiness probe failing on /healthz after config change",
    "Rolled back payments to v1 with kubectl rollout undo; error rate returned to baseline",
    "CoreDNS latency spike caused service discovery timeouts across the cluster",
    "HPA scaled checkout from 3 to 12 replicas during a traffic surge; CPU throttling stopped",
    "Certificate for ingress expired; cert-manager renewal failed on a DNS-01 challenge",
    "Etcd leader elections every few minutes due to slow disk fsync on control plane",
    "PersistentVolumeClaim pending: no storage class matched the requested access mode",
    "Network policy blocked traffic from frontend to backend after a namespace label change",
)
DEMO_QUERIES = (
    "container out of memory crash",
    "disk full on a node",
    "bad deploy, undo the rollout",
)


def _rows(query: str, mode: SearchMode, hits: list[SearchHit]) -> list[dict[str, object]]:
    return [
        {
            "query": query,
            "mode": mode.value,
            "rank": rank,
            "similarity": round(hit.similarity, 4),
            "kind": hit.record.kind,
            "text": hit.record.text,
        }
        for rank, hit in enumerate(hits, start=1)
    ]


@flow(name="memory-demo", log_prints=True)
def memory_demo(
    uri: str = ".data/lancedb",
    table: str = "demo_memories",
    queries: list[str] | None = None,
    k: int = 3,
) -> dict[str, list[SearchHit]]:
    """Remember the demo incident notes, then recall the closest ones for each query."""
    logger = get_run_logger()
    settings = MemorySettings(uri=uri, table=table, create_if_missing=True)
    ids = remember(
        list(DEMO_NOTES),
        namespace=DEMO_NAMESPACE,
        kind="incident-note",
        ids=[f"demo-{i:02d}" for i in range(len(DEMO_NOTES))],
        settings=settings,
    )
    logger.info("remembered %d notes in %s/%s", len(ids), uri, table)
    results: dict[str, list[SearchHit]] = {}
    rows: list[dict[str, object]] = []
    for query in queries or list(DEMO_QUERIES):
        for mode in (SearchMode.VECTOR, SearchMode.HYBRID):
            hits = recall(query, k=k, namespace=DEMO_NAMESPACE, mode=mode, settings=settings)
            results[f"{mode.value}: {query}"] = hits
            rows += _rows(query, mode, hits)
            if hits:
                logger.info("%s %r -> %s", mode.value, query, hits[0].record.text)
    create_table_artifact(
        key="memory-demo-recall",
        table=rows,
        description="Vector memory demo: the closest remembered notes per query",
    )
    return results


if __name__ == "__main__":
    memory_demo()
