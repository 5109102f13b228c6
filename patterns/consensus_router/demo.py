"""Demo voters and questions: rule, heuristic and memory voters on Kubernetes remediation safety."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from patterns.consensus_router.callables import CallableReply, CallableVoter, VoterFn
from patterns.consensus_router.records import Question
from patterns.consensus_router.schema import LabelSchema

DEMO_MODEL_LIST = Path(__file__).parent / "data" / "demo_model_list.yaml"
SAFETY = LabelSchema(("safe", "unsafe"))
PROTECTED_NAMESPACES = frozenset({"kube-system", "kube-public", "istio-system"})
SAFE_VERBS = frozenset({"rollout undo", "rollout restart", "scale", "cordon", "annotate"})
RISKY_WORDS = ("delete", "drain", "--force", "--all", "replicas=0", "crd")
LOCAL_LLM_PROMPTS = {  # few-shot prompts for the local (pretrained) Gemma voters
    "gemma-ops-a": (
        "Command: kubectl rollout restart deployment/cart -n shop\nVerdict: safe\n\n"
        "Command: kubectl delete pvc --all -n payments\nVerdict: unsafe\n\n"
        "Command: {payload[command]}\nVerdict:"
    ),
    "gemma-ops-b": (
        "Change: kubectl scale deployment/search --replicas=6 -n web\nRisk: safe\n\n"
        "Change: kubectl delete deployment coredns -n kube-system\nRisk: unsafe\n\n"
        "Change: kubectl annotate pod api-7 note=checked -n web\nRisk: safe\n\n"
        "Change: {payload[command]}\nRisk:"
    ),
}
PAST_INCIDENTS = {  # action prefix -> what happened when it was last applied
    "kubectl rollout undo": ("safe", 0.9),
    "kubectl delete namespace": ("unsafe", 0.97),
    "kubectl scale": ("safe", 0.75),
}


def _command(question: Question) -> str:
    return str(question.payload.get("command", question.text)).strip()


def policy_rules(question: Question) -> CallableReply:
    """Unsafe when it touches a protected namespace or uses a verb off the allowlist."""
    command = _command(question)
    namespace = re.search(r"-n\s+(\S+)|--namespace[= ](\S+)", command)
    ns = next((g for g in namespace.groups() if g), "") if namespace else ""
    if ns in PROTECTED_NAMESPACES or "namespace kube-" in command:
        return CallableReply("unsafe", 0.99)
    verb = " ".join(command.split()[1:3]) if command.startswith("kubectl") else ""
    allowed = any(verb.startswith(v) for v in SAFE_VERBS)
    return CallableReply("safe" if allowed else "unsafe", 0.9 if allowed else 0.8)


def blast_radius(question: Question) -> CallableReply:
    """Unsafe when the command can remove or stop many things at once."""
    command = _command(question).lower()
    hits = sum(word in command for word in RISKY_WORDS)
    return CallableReply("unsafe" if hits else "safe", min(0.95, 0.6 + 0.15 * max(hits, 1)))


def incident_memory(question: Question) -> CallableReply | None:
    """The outcome of the last similar action, or an abstention when there is none."""
    command = _command(question)
    for prefix, (label, confidence) in PAST_INCIDENTS.items():
        if command.startswith(prefix):
            return CallableReply(label, confidence)
    return None


async def slow_reviewer(question: Question) -> str:
    """A voter that never answers: the router cuts it at its deadline."""
    await asyncio.Event().wait()
    return "safe"


def demo_callables() -> dict[str, CallableVoter | VoterFn]:
    """The Python-callable voters of the demo model list, by name."""
    return {
        "policy_rules": CallableVoter(policy_rules, in_thread=False),
        "blast_radius": CallableVoter(blast_radius, in_thread=False),
        "incident_memory": CallableVoter(incident_memory, in_thread=False),
        "slow_reviewer": slow_reviewer,
    }


def demo_questions() -> list[Question]:
    """Remediations to vote on; deleting a namespace is critical."""
    commands = [
        ("rollback-web", "kubectl rollout undo deployment/web -n shop", False),
        ("scale-api", "kubectl scale deployment/api --replicas=4 -n shop", False),
        ("drain-node", "kubectl drain node-7 --force --delete-emptydir-data", False),
        ("delete-ns", "kubectl delete namespace kube-system", True),
    ]
    return [
        Question(
            id=qid,
            text=f"Is it safe to apply this remediation to the production cluster?\n{cmd}",
            schema=SAFETY,
            critical=critical,
            payload={"command": cmd},
        )
        for qid, cmd, critical in commands
    ]
