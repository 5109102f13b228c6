"""The Job controller: run pods to completion, up to ``parallelism`` at a time.

As ``pkg/controller/job`` does for NonIndexed jobs: it keeps ``min(parallelism,
completions - succeeded)`` pods active (each creation passes quota admission, a refusal
is a ``FailedCreate`` event), deletes the active pods of a suspended job, counts failed
pods against ``backoffLimit``, and writes ``status`` and the ``Complete``/``Failed``/
``Suspended`` conditions.
"""

from __future__ import annotations

from typing import Any

from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, sim_time
from apps.k8s.sim.controllers import quota_admit
from apps.k8s.sim.podutil import delete_pod, new_pod, register_pod
from apps.k8s.sim.state import SimState

TERMINAL = ("Succeeded", "Failed")


def _owned_pods(state: SimState, job: KubeObject) -> list[KubeObject]:
    ns = job["metadata"]["namespace"]
    keys = state.pods_by_owner.get(job["metadata"]["uid"], set())
    pods = [state.get(Kind.POD, *k) for k in sorted(keys)]
    return [p for p in pods if p is not None and p["metadata"]["namespace"] == ns]


def _condition(
    status: dict[str, Any], ctype: str, value: str, reason: str, message: str, now: float
) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != ctype]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == ctype), None)
    since = old["lastTransitionTime"] if old and old.get("status") == value else sim_time(now)
    conds.append(
        {
            "type": ctype,
            "status": value,
            "reason": reason,
            "message": message,
            "lastProbeTime": sim_time(now),
            "lastTransitionTime": since,
        }
    )
    status["conditions"] = conds


def _finished(status: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def job_step(state: SimState) -> None:
    """Reconcile every Job once."""
    for job in state.store.values(Kind.JOB):
        _reconcile(state, job)


def _reconcile(state: SimState, job: KubeObject) -> None:
    now = state.now
    spec = job["spec"]
    status: dict[str, Any] = dict(job.get("status") or {})
    if _finished(status):
        return
    pods = _owned_pods(state, job)
    phase = [(p.get("status") or {}).get("phase") for p in pods]
    active = [
        p
        for p, ph in zip(pods, phase, strict=True)
        if ph not in TERMINAL and not p["metadata"].get("deletionTimestamp")
    ]
    succeeded = phase.count("Succeeded")
    failed = phase.count("Failed")
    completions = int(spec.get("completions", 1))
    if spec.get("suspend"):
        for pod in active:
            delete_pod(state, pod)
        if active:
            state.event(job, "Suspended", "Job suspended", component="job-controller")
        _condition(status, "Suspended", "True", "JobSuspended", "Job suspended", now)
        active = []
    else:
        if any(c.get("type") == "Suspended" for c in status.get("conditions") or []):
            _condition(status, "Suspended", "False", "JobResumed", "Job resumed", now)
            state.event(job, "Resumed", "Job resumed", component="job-controller")
        status.setdefault("startTime", sim_time(now))
        if failed > int(spec.get("backoffLimit", 6)):
            for pod in active:
                delete_pod(state, pod)
            active = []
            _condition(
                status,
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                now,
            )
            state.event(
                job,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                warning=True,
                component="job-controller",
            )
        elif succeeded >= completions:
            _condition(status, "Complete", "True", "", "", now)
            status["completionTime"] = sim_time(now)
            state.event(job, "Completed", "Job completed", component="job-controller")
        else:
            want = min(int(spec.get("parallelism", 1)), completions - succeeded) - len(active)
            if want < 0:  # parallelism lowered: the newest pods go first
                extra = sorted(active, key=lambda p: p["metadata"]["creationTimestamp"])[want:]
                for pod in extra:
                    delete_pod(state, pod)
                    state.event(
                        job,
                        "SuccessfulDelete",
                        f"Deleted pod: {pod['metadata']['name']}",
                        component="job-controller",
                    )
                active = [p for p in active if p not in extra]
            for _ in range(max(want, 0)):
                pod = new_pod(state, spec["template"], job, "Job")
                failure = quota_admit(state, pod)
                if failure is not None:
                    state.event(
                        job,
                        "FailedCreate",
                        f"Error creating: {failure}",
                        warning=True,
                        component="job-controller",
                    )
                    break
                register_pod(state, pod)
                active.append(pod)
                state.event(
                    job,
                    "SuccessfulCreate",
                    f"Created pod: {pod['metadata']['name']}",
                    component="job-controller",
                )
    status["active"] = len(active)
    status["succeeded"] = succeeded
    status["failed"] = failed
    status["ready"] = sum(
        1
        for p in active
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    )
    if job.get("status") != status:
        job["status"] = status
        state.store.touch(Kind.JOB, job)
