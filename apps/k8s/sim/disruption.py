"""PodDisruptionBudgets: the disruption controller's status and the eviction API's check.

As ``pkg/controller/disruption`` and ``pkg/registry/core/pod/storage/eviction.go`` do it:
``desiredHealthy`` comes from ``minAvailable`` (or ``expectedPods - maxUnavailable``),
percentages round up against the expected pods, and an eviction of a healthy pod is
refused with 429 when ``currentHealthy - 1 < desiredHealthy``.
"""

from __future__ import annotations

import math
from typing import Any

from apps.k8s.exceptions import ApiUnavailableError, InvalidObjectError
from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, is_pod_ready, label_selector_matches, sim_time
from apps.k8s.sim.state import SimState


def _scaled(value: Any, expected: int, what: str) -> int:
    if isinstance(value, str) and value.endswith("%"):
        try:
            pct = float(value[:-1])
        except ValueError as err:
            raise InvalidObjectError(f"{what}: invalid percentage {value!r}") from err
        return math.ceil(pct * expected / 100.0)
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise InvalidObjectError(
            f"{what}: must be an integer or a percentage, got {value!r}"
        ) from err


def validate_pdb(pdb: KubeObject) -> None:
    """The API server's validation of a PodDisruptionBudget spec."""
    name = pdb["metadata"].get("name", "")
    spec = pdb.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        raise InvalidObjectError(
            f'PodDisruptionBudget.policy "{name}" is invalid: spec: Invalid value: '
            "minAvailable and maxUnavailable cannot be both set"
        )
    for field in ("minAvailable", "maxUnavailable"):
        if field in spec:
            _scaled(spec[field], 100, f'PodDisruptionBudget "{name}" spec.{field}')
            if _scaled(spec[field], 100, field) < 0:
                raise InvalidObjectError(
                    f'PodDisruptionBudget.policy "{name}" is invalid: spec.{field}: '
                    "Invalid value: must be greater than or equal to 0"
                )


def _matching_pods(state: SimState, pdb: KubeObject) -> list[KubeObject]:
    selector = (pdb.get("spec") or {}).get("selector")
    if not selector:  # policy/v1: a null selector selects no pods
        return []
    return [
        p
        for p in state.store.in_namespace(Kind.POD, pdb["metadata"]["namespace"])
        if not p["metadata"].get("deletionTimestamp")
        and label_selector_matches(selector, p["metadata"].get("labels") or {})
    ]


def pdb_status(state: SimState, pdb: KubeObject) -> dict[str, Any]:
    """What the disruption controller writes: expected, healthy, desired, allowed."""
    pods = _matching_pods(state, pdb)
    expected = len(pods)
    healthy = sum(1 for p in pods if is_pod_ready(p))
    spec = pdb.get("spec") or {}
    if "maxUnavailable" in spec:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected, "maxUnavailable"))
    else:
        desired = _scaled(spec.get("minAvailable", 1), expected, "minAvailable")
    allowed = max(0, healthy - desired)
    return {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "expectedPods": expected,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "disruptionsAllowed": allowed,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True" if allowed > 0 else "False",
                "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
                "message": "",
                "observedGeneration": pdb["metadata"].get("generation", 1),
            }
        ],
    }


def pdb_step(state: SimState) -> None:
    """The disruption controller: refresh every budget's status (only writes on a change)."""
    for pdb in state.store.values(Kind.POD_DISRUPTION_BUDGET):
        status = pdb_status(state, pdb)
        old = pdb.get("status") or {}
        conds = old.get("conditions") or []
        if conds and conds[0].get("status") == status["conditions"][0]["status"]:
            status["conditions"][0]["lastTransitionTime"] = conds[0].get("lastTransitionTime")
        else:
            status["conditions"][0]["lastTransitionTime"] = sim_time(state.now)
        if old != status:
            pdb["status"] = status
            state.store.touch(Kind.POD_DISRUPTION_BUDGET, pdb)


def check_eviction(state: SimState, pod: KubeObject) -> None:
    """Refuse an eviction that would break a budget (HTTP 429), as the eviction API does."""
    labels = pod["metadata"].get("labels") or {}
    budgets = [
        b
        for b in state.store.in_namespace(Kind.POD_DISRUPTION_BUDGET, pod["metadata"]["namespace"])
        if (b.get("spec") or {}).get("selector")
        and label_selector_matches(b["spec"]["selector"], labels)
    ]
    if not budgets:
        return
    if len(budgets) > 1:
        raise InvalidObjectError(
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support."
        )
    (pdb,) = budgets
    status = pdb_status(state, pdb)
    if not is_pod_ready(pod) and status["currentHealthy"] >= status["desiredHealthy"]:
        return  # unhealthyPodEvictionPolicy IfHealthyBudget: an unready pod may go
    if status["disruptionsAllowed"] <= 0:
        raise ApiUnavailableError(
            "Cannot evict pod as it would violate the pod's disruption budget. "
            f"The disruption budget {pdb['metadata']['name']} needs "
            f"{status['desiredHealthy']} healthy pods and has {status['currentHealthy']} currently"
        )
