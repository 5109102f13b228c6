"""`make demos`: every pattern demo, as subflows of one parent flow run.

`make demo` runs the main job instead: the self-healing loop (``flows/self_healing.py``).
"""

from __future__ import annotations

from prefect import flow
from prefect.utilities.asyncutils import run_coro_as_sync

from flows.demo_aggregation import aggregation_demo
from flows.demo_byzantine import byzantine_demo
from flows.demo_codegen import codegen_demo
from flows.demo_consensus import consensus_demo
from flows.demo_gossip import gossip_demo
from flows.demo_k8s import k8s_demo
from flows.demo_kernel import kernel_demo
from flows.demo_memory import memory_demo


@flow(name="pattern-demos", log_prints=True)
def pattern_demos() -> dict[str, object]:
    """Kernel, aggregation, memory, gossip, PBFT, consensus, codegen repair, a cluster scenario."""
    kernel = kernel_demo()
    aggregation = aggregation_demo()
    memory = memory_demo()
    gossip = gossip_demo()
    byzantine = byzantine_demo()
    consensus = run_coro_as_sync(consensus_demo(use_local_llm=False)) or []
    codegen = codegen_demo()
    cluster = k8s_demo()
    print(
        f"kernel: {[(r.runtime, r.complete) for r in kernel]}; "
        f"aggregation: coverage {aggregation['coverage']} of {aggregation['agents']}, "
        f"p99 {aggregation['p99']} ms; memory: {len(memory)} queries answered; "
        f"gossip: converged={gossip.converged} in {gossip.rounds_to_converge} rounds; "
        f"PBFT: {len(byzantine.rows())} operations committed with certificates; "
        f"consensus: {len(consensus)} questions decided; "
        f"codegen: first-attempt repairs {codegen['cold_success1']} -> "
        f"{codegen['warm_success1']} of {codegen['held_out']} after learning; "
        f"cluster scenario resolved: {cluster.get('resolved')}"
    )
    return {
        "kernel": kernel,
        "aggregation": aggregation,
        "memory": memory,
        "gossip": gossip,
        "byzantine": byzantine,
        "consensus": consensus,
        "codegen": codegen,
        "cluster": cluster,
    }


if __name__ == "__main__":
    pattern_demos()
