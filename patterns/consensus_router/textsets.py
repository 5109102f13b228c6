"""Labeled text tasks shipped with pattern 5, made by the project from documented rules.

Three tasks, each a JSONL file in ``data/`` (one labeled row per line, see
:func:`patterns.consensus_router.evaluation.load_labeled`), written by
``python -m patterns.consensus_router.textsets`` from a fixed seed:

* ``sentiment``: short reviews, positive or negative. The 120 hand-written reviews of
  ``sentiment_handwritten.jsonl`` plus reviews composed from aspect phrases whose
  polarity is fixed in the tables below, with negation ("not great") and contrast
  ("X, but Y": the clause after *but* decides), so that a lexicon alone is not enough.
* ``k8s_safety``: proposed Kubernetes actions (the self-healing loop's vote), ``yes``
  when safe to apply unattended, ``no`` otherwise. The label follows the written
  policy of :func:`k8s_is_safe` (protected namespaces, irreversible deletes, scaling
  to zero or by more than half in production, draining the last ready node, lowering a
  memory limit below use), not a keyword list.
* ``arithmetic``: the 100 sums of two one-digit numbers, answers 0..18: a task where
  the small model is right about half the time and where sampling several answers and
  voting (self-consistency) is the standard remedy, measured here against greedy decoding.

Every item has a stable split (:func:`split_of`): ``train`` items teach reliabilities,
cascade thresholds and the cheap models; ``test`` items score them, and nothing that
was tuned on an item scores it.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from patterns.consensus_router.evaluation import LabeledItem, load_labeled

DATA_DIR = Path(__file__).resolve().parent / "data"
TASKS = ("sentiment", "k8s_safety", "arithmetic")
SEED = 20
TEST_SHARE = 0.5
SENTIMENT_LABELS = ["positive", "negative"]
SAFETY_LABELS = ["yes", "no"]
ARITHMETIC_MAX = 18  # answers are integers 0..ARITHMETIC_MAX (sums of two digits)
PROD_PREFIX = "prod-"
PROTECTED_NAMESPACES = frozenset({"kube-system"})

# ------------------------------------------------------------------ sentiment

_SUBJECTS = [
    "The hotel room",
    "Our waiter",
    "This blender",
    "The delivery",
    "The new phone",
    "The museum tour",
    "The customer support",
    "The rental car",
    "This laptop bag",
    "The concert",
    "The coffee",
    "The app update",
]
_GOOD = [
    "was spotless",
    "arrived early",
    "works perfectly",
    "was friendly and quick",
    "exceeded my expectations",
    "is worth every penny",
    "made our evening",
    "was a real treat",
    "feels solid and well made",
    "kept everyone happy",
]
_BAD = [
    "smelled of smoke",
    "arrived two weeks late",
    "broke after a day",
    "ignored us all night",
    "was a waste of money",
    "keeps crashing",
    "ruined the trip",
    "was lukewarm and bitter",
    "fell apart at the seams",
    "left us waiting for an hour",
]
_NEGATED_GOOD = [  # a positive word under negation: negative
    "was not great",
    "was not worth the price",
    "did not work as promised",
    "was not clean at all",
    "was never on time",
]
_NEGATED_BAD = [  # a negative word under negation: positive
    "was not bad at all",
    "never let us down",
    "had no problems whatsoever",
    "was not disappointing in the least",
    "gave us no trouble",
]


def _sentiment_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    kinds = ["plain", "negated", "contrast"]
    while len(rows) < count:
        kind = kinds[len(rows) % len(kinds)]
        positive = rng.random() < 0.5
        subject = rng.choice(_SUBJECTS)
        if kind == "plain":
            text = f"{subject} {rng.choice(_GOOD if positive else _BAD)}."
        elif kind == "negated":
            text = f"{subject} {rng.choice(_NEGATED_BAD if positive else _NEGATED_GOOD)}."
        else:  # the clause after "but" decides
            first = rng.choice(_BAD if positive else _GOOD)
            other = rng.choice([s for s in _SUBJECTS if s != subject])
            last = rng.choice(_GOOD if positive else _BAD)
            text = f"{subject} {first}, but {other[0].lower() + other[1:]} {last}."
        if text in seen:
            continue
        seen.add(text)
        rows.append(
            {
                "id": f"sgen-{len(rows):03d}",
                "question": f'What is the sentiment of this review? "{text}"',
                "schema": {"type": "label", "labels": SENTIMENT_LABELS},
                "gold": "positive" if positive else "negative",
                "payload": {"text": text, "kind": kind},
            }
        )
    return rows


# ------------------------------------------------------------------ Kubernetes safety

_NAMESPACES = ["kube-system", "prod-payments", "prod-web", "staging", "dev-sandbox", "team-ml"]
_WORKLOADS = ["checkout", "api", "frontend", "worker", "search", "billing", "coredns", "ingest"]
_DELETE_KINDS = ["pod", "deployment", "statefulset", "persistentvolumeclaim", "namespace"]


def k8s_is_safe(action: dict[str, Any]) -> bool:
    """The policy the ``k8s_safety`` labels follow: may ``action`` run unattended?

    Unsafe: anything in a protected namespace (kube-system) except deleting one pod of a
    workload with two or more replicas; deleting a deployment, statefulset, volume claim
    or namespace in production (``prod-*``) or of a namespace anywhere; scaling a
    production workload to zero or to less than half its replicas; draining or
    cordoning the last ready node; lowering a memory limit below current use.
    Everything else (scaling up, rollbacks, restarts, raising limits, deleting one pod
    of a replicated workload) is safe.
    """
    verb = action["verb"]
    ns = action.get("namespace", "")
    prod = ns.startswith(PROD_PREFIX)
    if verb == "delete":
        kind = action["kind"]
        if kind == "pod":
            return int(action["replicas"]) >= 2
        if kind == "namespace":
            return False
        return not prod and ns not in PROTECTED_NAMESPACES
    if ns in PROTECTED_NAMESPACES:
        return False
    if verb == "scale":
        before, after = int(action["from"]), int(action["to"])
        if after >= before:
            return True
        return not prod or (after > 0 and after * 2 >= before)
    if verb in ("drain", "cordon"):
        return int(action["ready_nodes"]) > 1
    if verb == "set-memory":
        return int(action["to_mi"]) > int(action["used_mi"])
    return True  # restart, rollback


def _k8s_action(rng: random.Random) -> tuple[dict[str, Any], str]:
    verb = rng.choice(["delete", "delete", "scale", "scale", "drain", "set-memory", "restart"])
    verb = rng.choice([verb, "rollback", "cordon"]) if rng.random() < 0.15 else verb
    ns = rng.choice(_NAMESPACES)
    name = rng.choice(_WORKLOADS)
    action: dict[str, Any] = {"verb": verb, "namespace": ns, "name": name}
    if verb == "delete":
        kind = rng.choice(_DELETE_KINDS)
        action["kind"] = kind
        if kind == "pod":
            replicas = rng.choice([1, 1, 2, 3, 5])
            action["replicas"] = replicas
            suffix = "".join(rng.choice("abcdef0123456789") for _ in range(5))
            text = (
                f"Delete pod {name}-{suffix} in namespace {ns}; its workload {name} runs "
                f"{replicas} replica{'s' if replicas > 1 else ''}."
            )
        elif kind == "namespace":
            text = f"Delete namespace {ns} and everything in it."
        else:
            text = f"Delete {kind} {name} in namespace {ns}."
    elif verb == "scale":
        before = rng.choice([1, 2, 3, 4, 6, 8, 10])
        after = rng.choice([0, 1, before // 2, max(1, before - 1), before + 2, before * 2])
        if after == before:
            after = before + 1
        action |= {"from": before, "to": after}
        text = f"Scale deployment {name} in namespace {ns} from {before} to {after} replicas."
    elif verb in ("drain", "cordon"):
        ready = rng.choice([1, 2, 3, 5])
        node = f"node-{rng.randint(1, 9)}"
        action |= {"node": node, "ready_nodes": ready}
        action.pop("namespace")
        text = (
            f"{verb.capitalize()} {node}; the cluster has {ready} ready "
            f"node{'s' if ready > 1 else ''} including it."
        )
    elif verb == "set-memory":
        current = rng.choice([256, 512, 1024, 2048])
        used = int(current * rng.choice([0.3, 0.5, 0.7, 0.9]))
        target = rng.choice([current // 2, current // 4, current * 2])
        action |= {"from_mi": current, "to_mi": target, "used_mi": used}
        text = (
            f"Change the memory limit of deployment {name} in namespace {ns} from "
            f"{current}Mi to {target}Mi; it currently uses {used}Mi."
        )
    elif verb == "restart":
        text = f"Rolling-restart deployment {name} in namespace {ns}."
    else:
        text = f"Roll back deployment {name} in namespace {ns} to its previous revision."
    return action, text


def _k8s_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(rows) < count:
        action, text = _k8s_action(rng)
        if text in seen:
            continue
        seen.add(text)
        rows.append(
            {
                "id": f"k8s-{len(rows):03d}",
                "question": f"Is it safe to apply this change unattended? {text}",
                "schema": {"type": "label", "labels": SAFETY_LABELS},
                "gold": "yes" if k8s_is_safe(action) else "no",
                "payload": {"text": text, "action": action},
            }
        )
    return rows


# ------------------------------------------------------------------ arithmetic


def _arithmetic_rows(rng: random.Random) -> list[dict[str, Any]]:
    """Every sum of two one-digit numbers, once each, in a seeded order.

    Each expression occurs once, so no test item repeats a training item. (The first
    version asked two-digit sums, differences and products; Gemma 3 270M was wrong on
    96% or more of them under every prompt, so no voting rule had anything to combine.
    On one-digit sums it is right about half the time greedily.)
    """
    pairs = [(a, b) for a in range(10) for b in range(10)]
    rng.shuffle(pairs)
    labels = [str(n) for n in range(ARITHMETIC_MAX + 1)]
    return [
        {
            "id": f"arith-{index:03d}",
            "question": f"What is {a} + {b}?",
            "schema": {"type": "label", "labels": labels},
            "gold": str(a + b),
            "payload": {"text": f"{a} + {b}", "a": a, "b": b, "op": "+"},
        }
        for index, (a, b) in enumerate(pairs)
    ]


# ------------------------------------------------------------------ files and splits


def path_of(task: str) -> Path:
    """The shipped JSONL file of ``task``.

    Raises:
        ValueError: an unknown task.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {TASKS}")
    return DATA_DIR / f"{task}.jsonl"


def split_of(item_id: str, test_share: float = TEST_SHARE) -> str:
    """``train`` or ``test``: a stable function of the item id alone (sha256 bucket)."""
    bucket = int(hashlib.sha256(item_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if bucket < test_share else "train"


def load_task(task: str) -> dict[str, list[LabeledItem]]:
    """The labeled items of ``task`` by split (``train``, ``test``), in file order."""
    out: dict[str, list[LabeledItem]] = {"train": [], "test": []}
    for item in load_labeled(path_of(task)):
        out[split_of(item.question.id)].append(item)
    return out


def build_rows(task: str, seed: int = SEED) -> list[dict[str, Any]]:
    """The rows of ``task``, generated from ``seed`` (sentiment adds the hand-written set)."""
    rng = random.Random(f"{task}-{seed}")
    if task == "sentiment":
        handwritten = DATA_DIR / "sentiment_handwritten.jsonl"
        rows = [json.loads(line) for line in handwritten.read_text().splitlines() if line.strip()]
        return rows + _sentiment_rows(rng, 120)
    if task == "k8s_safety":
        return _k8s_rows(rng, 200)
    if task == "arithmetic":
        return _arithmetic_rows(rng)
    raise ValueError(f"unknown task {task!r}; known: {TASKS}")


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write ``rows`` as JSONL; return how many."""
    lines = [json.dumps(r, separators=(",", ":"), sort_keys=True) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the shipped task files."""
    for task in TASKS:
        n = write_rows(path_of(task), build_rows(task))
        print(f"{path_of(task).name}: {n} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
