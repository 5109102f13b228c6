"""infra/rbac/healer-rbac.yaml grants exactly what the read kinds and the write allowlist need."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from apps.k8s.actions import plan_action
from apps.k8s.kinds import KINDS, METRICS_GROUP, kind_by_plural, kind_info
from apps.k8s.scenario import load_catalog
from apps.k8s.settings import DEFAULT_WRITE_RULES, K8sSettings
from apps.k8s.sim.cluster import SimCluster

RBAC = Path(__file__).resolve().parents[2] / "infra" / "rbac" / "healer-rbac.yaml"
READ_VERBS = ("get", "list", "watch")
Grant = tuple[str, str, str, str]  # verb, apiGroup, resource, namespace ("*" = cluster-wide)


def granted(
    docs: list[dict[str, Any]], sa: str = "healer", sa_ns: str = "healer-system"
) -> set[Grant]:
    roles = {
        (d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d["rules"]
        for d in docs
        if d["kind"] in ("Role", "ClusterRole")
    }
    out: set[Grant] = set()
    for b in docs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == sa and s["namespace"] == sa_ns
            for s in b["subjects"]
        ):
            continue
        ref = b["roleRef"]
        scope = b["metadata"].get("namespace", "*") if b["kind"] == "RoleBinding" else "*"
        role_ns = b["metadata"].get("namespace", "") if ref["kind"] == "Role" else ""
        for rule in roles[(ref["kind"], role_ns, ref["name"])]:
            for verb in rule["verbs"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        out.add((verb, group, resource, scope))
    return out


def needed(settings: K8sSettings) -> set[Grant]:
    out: set[Grant] = {(v, i.group, i.plural, "*") for i in KINDS.values() for v in READ_VERBS}
    out |= {("get", METRICS_GROUP, "pods", "*"), ("list", METRICS_GROUP, "pods", "*")}
    for rule in settings.write_rules:
        verb, resource = rule.split()
        info = kind_info(kind_by_plural(resource.split("/")[0]))
        scopes = settings.write_namespaces if info.namespaced else ["*"]
        out |= {(verb, info.group, resource, ns) for ns in scopes}
    return out


def test_rbac_grants_exactly_the_reads_and_the_write_allowlist() -> None:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    have = granted(docs)
    want = needed(K8sSettings())
    assert have - want == set(), "granted but not needed"
    assert want - have == set(), "needed but not granted"


def test_rbac_is_least_privilege() -> None:
    docs = [d for d in yaml.safe_load_all(RBAC.read_text()) if d]
    rules = [r for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]]
    flat = {x for r in rules for key in ("verbs", "resources", "apiGroups") for x in r[key]}
    assert "*" not in flat and "escalate" not in flat and "bind" not in flat
    # Secrets: read (the healer keeps digests only) and patched, never created or deleted
    secret_verbs = {v for r in rules if "secrets" in r["resources"] for v in r["verbs"]}
    assert secret_verbs == {"get", "list", "watch", "patch"}
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert (sa["metadata"]["name"], sa["metadata"]["namespace"]) == ("healer", "healer-system")


def test_the_allowlist_covers_every_remediation_of_the_catalog() -> None:
    rules: set[str] = set()
    for sc in load_catalog().values():
        sim = SimCluster.from_scenario(sc)
        sim.run_until(sc.ground_truth.detect_at_s)
        for action in [*sc.ground_truth.acceptable, *sc.ground_truth.wrong]:
            rules |= {op.rule for op in plan_action(action, sim)}
    assert rules <= set(DEFAULT_WRITE_RULES)
    assert len(rules) >= 10  # the catalog exercises most of the allowlist
