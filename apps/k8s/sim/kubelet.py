"""The simulated kubelet: volumes, image pulls, container start, probes, crashes, back-off, OOM."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from apps.k8s.behaviour import ImageBehaviour
from apps.k8s.kinds import Kind
from apps.k8s.objects import KubeObject, sim_time
from apps.k8s.quantity import MIB, memory_bytes
from apps.k8s.sim.podutil import release_node_resources, remove_pod
from apps.k8s.sim.state import (
    BACKOFF_INITIAL_S,
    BACKOFF_MAX_S,
    BACKOFF_RESET_S,
    CONFIG_RETRY_S,
    MOUNT_RETRY_INITIAL_S,
    MOUNT_RETRY_MAX_S,
    ContainerPhase,
    ContainerRuntime,
    NodeRuntime,
    PodRuntime,
    SimState,
)

FAR_FUTURE_S = 1e18
WAIT_POLL_S = 2.0  # a wait-for init container re-checks its requirements this often
OOM_EXIT_CODE = 137
SIGTERM_EXIT_CODE = 143


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (``10s``, ``1m20s``, ``5m0s``)."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    return f"{s // 60}m{s % 60}s"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _container_id(pod: KubeObject, c: ContainerRuntime) -> str:
    uid = pod["metadata"]["uid"]
    return "containerd://" + _digest(f"{uid}/{c.name}/{c.restart_count}")


def kubelet_step(state: SimState) -> None:
    """One sync of every pod whose kubelet is up and that has something due."""
    now = state.now
    for node in state.nodes.values():
        if not node.kubelet_up:
            continue
        for key in sorted(node.pods):
            rt = state.pods.get(key)
            if rt is not None and rt.next_wake <= now:
                sync_pod(state, rt, node)


def sync_pod(state: SimState, rt: PodRuntime, node: NodeRuntime) -> None:
    """Advance one pod on a live node to the current time."""
    pod = state.get(Kind.POD, *rt.key)
    if pod is None:
        return
    now = state.now
    md = pod["metadata"]
    if md.get("deletionTimestamp"):
        _terminate_pod(state, pod, rt)
        return
    if rt.evicted:
        rt.next_wake = FAR_FUTURE_S  # an evicted pod stays Failed until someone deletes it
        return
    if not rt.volumes_ready:
        problem = check_volumes(state, pod)
        if problem is not None:
            if now >= rt.next_mount_at:
                rt.mount_attempts += 1
                vol, msg = problem
                state.event(
                    pod,
                    "FailedMount",
                    f'MountVolume.SetUp failed for volume "{vol}" : {msg}',
                    warning=True,
                    host=node.name,
                )
                delay = min(MOUNT_RETRY_INITIAL_S * 2 ** (rt.mount_attempts - 1), MOUNT_RETRY_MAX_S)
                rt.next_mount_at = now + delay
            write_status(state, pod, rt)
            rt.next_wake = rt.next_mount_at
            return
        rt.volumes_ready = True
    if rt.init_done < len(rt.init_containers):
        wake = _step_init(state, pod, rt, node)
        if rt.init_done < len(rt.init_containers):
            write_status(state, pod, rt)
            rt.next_wake = max(wake, now + 1.0) if wake > now else now + 1.0
            return
    wake = FAR_FUTURE_S
    for c in rt.containers:
        wake = min(wake, _step_container(state, pod, rt, c, node))
    write_status(state, pod, rt)
    rt.next_wake = max(wake, now + 1.0) if wake > now else now + 1.0


def _terminate_pod(state: SimState, pod: KubeObject, rt: PodRuntime) -> None:
    now = state.now
    if rt.remove_at is None:
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds", 30))
        stop = 0.0
        for c in rt.containers:
            if c.phase is ContainerPhase.RUNNING:
                state.event(pod, "Killing", f"Stopping container {c.name}", host=rt.node)
                stop = max(stop, c.behaviour.shutdown_s if c.behaviour else 0.0)
            c.ready = False
        rt.remove_at = now + min(grace, stop)
        write_status(state, pod, rt)
    if now >= rt.remove_at:
        remove_pod(state, rt.key)
        return
    rt.next_wake = rt.remove_at


def source_data(state: SimState, kind: Kind, namespace: str, name: str) -> dict[str, str] | None:
    """The decoded data of a ConfigMap or Secret (None if it does not exist)."""
    obj = state.get(kind, namespace, name)
    if obj is None:
        return None
    data = obj.get("data") or {}
    if kind is Kind.SECRET:
        return {k: base64.b64decode(str(v)).decode(errors="replace") for k, v in data.items()}
    return {k: str(v) for k, v in data.items()}


# volume source field -> (kind, field naming the object, word in the kubelet's messages)
_VOLUME_SOURCES = (
    ("configMap", Kind.CONFIG_MAP, "name", "configmap", "config key"),
    ("secret", Kind.SECRET, "secretName", "secret", "secret key"),
)


def check_volumes(state: SimState, pod: KubeObject) -> tuple[str, str] | None:
    """The first volume that cannot be mounted, with the kubelet's message; None if all can."""
    ns = pod["metadata"]["namespace"]
    for vol in pod["spec"].get("volumes") or []:
        for field, kind, name_field, word, key_word in _VOLUME_SOURCES:
            src = vol.get(field)
            if src is None:
                continue
            data = source_data(state, kind, ns, src.get(name_field, ""))
            if data is None:
                if not src.get("optional"):
                    return vol["name"], f'{word} "{src.get(name_field)}" not found'
                continue
            for item in src.get("items") or []:
                if item["key"] not in data and not src.get("optional"):
                    return vol["name"], f"{word} references non-existent {key_word}: {item['key']}"
        pvc_src = vol.get("persistentVolumeClaim")
        if pvc_src is not None:
            pvc = state.get(Kind.PERSISTENT_VOLUME_CLAIM, ns, pvc_src.get("claimName", ""))
            if pvc is None:
                return vol["name"], f'persistentvolumeclaim "{pvc_src.get("claimName")}" not found'
            if (pvc.get("status") or {}).get("phase") != "Bound":
                return vol[
                    "name"
                ], f'persistentvolumeclaim "{pvc_src.get("claimName")}" is not bound'
    return None


# env source field -> (kind, name in the kubelet's messages)
_ENV_KEY_REFS = (("configMapKeyRef", Kind.CONFIG_MAP), ("secretKeyRef", Kind.SECRET))
_ENV_FROM_REFS = (("configMapRef", Kind.CONFIG_MAP), ("secretRef", Kind.SECRET))


def _config_error(state: SimState, pod: KubeObject, c: ContainerRuntime) -> str | None:
    """Why the kubelet cannot build the container's environment (CreateContainerConfigError)."""
    ns = pod["metadata"]["namespace"]
    for env in c.spec.get("env") or []:
        for field, kind in _ENV_KEY_REFS:
            ref = (env.get("valueFrom") or {}).get(field)
            if ref is None or ref.get("optional"):
                continue
            data = source_data(state, kind, ns, ref["name"])
            if data is None:
                return f'{kind.value.lower()} "{ref["name"]}" not found'
            if ref["key"] not in data:
                return f"couldn't find key {ref['key']} in {kind.value} {ns}/{ref['name']}"
    for src in c.spec.get("envFrom") or []:
        for field, kind in _ENV_FROM_REFS:
            ref = src.get(field)
            if ref is None or ref.get("optional"):
                continue
            if state.get(kind, ns, ref["name"]) is None:
                return f'{kind.value.lower()} "{ref["name"]}" not found'
    return None


def container_env(state: SimState, pod: KubeObject, c: ContainerRuntime) -> dict[str, str]:
    """The environment the container process sees (secrets decoded, as the kubelet does)."""
    ns = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for src in c.spec.get("envFrom") or []:
        for field, kind in _ENV_FROM_REFS:
            ref = src.get(field)
            if ref is not None:
                data = source_data(state, kind, ns, ref["name"]) or {}
                prefix = src.get("prefix", "")
                env.update({prefix + k: v for k, v in data.items()})
    for e in c.spec.get("env") or []:
        if "value" in e:
            env[e["name"]] = str(e["value"])
        for field, kind in _ENV_KEY_REFS:
            ref = (e.get("valueFrom") or {}).get(field)
            if ref is not None:
                value = (source_data(state, kind, ns, ref["name"]) or {}).get(ref["key"])
                if value is not None:
                    env[e["name"]] = value
    return env


def _config_keys_visible(
    state: SimState, pod: KubeObject, c: ContainerRuntime
) -> set[tuple[Kind, str, str]]:
    """(kind, object, key) of every ConfigMap/Secret key the container can read."""
    ns = pod["metadata"]["namespace"]
    visible: set[tuple[Kind, str, str]] = set()
    mounted = {m["name"] for m in c.spec.get("volumeMounts") or []}
    for vol in pod["spec"].get("volumes") or []:
        if vol["name"] not in mounted:
            continue
        for field, kind, name_field, _word, _key_word in _VOLUME_SOURCES:
            src = vol.get(field)
            if src is None:
                continue
            data = source_data(state, kind, ns, src.get(name_field, "")) or {}
            keys = [i["key"] for i in src["items"]] if src.get("items") else list(data)
            visible.update((kind, src[name_field], k) for k in keys if k in data)
    for src in c.spec.get("envFrom") or []:
        for field, kind in _ENV_FROM_REFS:
            ref = src.get(field)
            if ref is not None:
                data = source_data(state, kind, ns, ref["name"]) or {}
                visible.update((kind, ref["name"], k) for k in data)
    for e in c.spec.get("env") or []:
        for field, kind in _ENV_KEY_REFS:
            ref = (e.get("valueFrom") or {}).get(field)
            if ref is not None and ref["key"] in (source_data(state, kind, ns, ref["name"]) or {}):
                visible.add((kind, ref["name"], ref["key"]))
    return visible


def _unmet_requirement(state: SimState, pod: KubeObject, c: ContainerRuntime) -> str | None:
    beh = c.behaviour
    if beh is None:
        return None
    env = container_env(state, pod, c)
    for name in beh.requires.env:
        if not env.get(name):
            return f"panic: required environment variable {name} is not set"
    if beh.requires.config_keys or beh.requires.secret_keys:
        visible = _config_keys_visible(state, pod, c)
        for ref in beh.requires.config_keys:
            if (Kind.CONFIG_MAP, ref.configmap, ref.key) not in visible:
                return f"fatal: config key {ref.key!r} (configmap {ref.configmap}) not found"
        for sref in beh.requires.secret_keys:
            if (Kind.SECRET, sref.secret, sref.key) not in visible:
                return f"fatal: secret key {sref.key!r} (secret {sref.secret}) not found"
    ns = pod["metadata"]["namespace"]
    for svc in beh.requires.services:
        name, _, svc_ns = svc.partition(".")
        ep = state.get(Kind.ENDPOINTS, svc_ns or ns, name)
        if ep is None or not any(s.get("addresses") for s in ep.get("subsets") or []):
            return f"fatal: dial tcp {name}.{svc_ns or ns}.svc: connect: connection refused"
    return None


def memory_limit(c: ContainerRuntime) -> float:
    """The container's memory limit in bytes (0: none)."""
    return memory_bytes(((c.spec.get("resources") or {}).get("limits") or {}).get("memory"))


def memory_usage(c: ContainerRuntime, load_rps: float, now: float) -> float:
    """Resident memory of a running container, bytes."""
    beh = c.behaviour
    if beh is None or c.phase is not ContainerPhase.RUNNING or c.started_at is None:
        return 0.0
    mib = (
        beh.memory.base_mib
        + beh.memory.leak_mib_per_min * (now - c.started_at) / 60.0
        + beh.memory.per_rps_mib * load_rps
    )
    return mib * MIB


def _oom_time(c: ContainerRuntime, load_rps: float, now: float) -> float:
    limit = memory_limit(c)
    beh = c.behaviour
    if not limit or beh is None or c.started_at is None:
        return FAR_FUTURE_S
    if memory_usage(c, load_rps, now) > limit:
        return now
    leak = beh.memory.leak_mib_per_min
    if leak <= 0:
        return FAR_FUTURE_S
    headroom_mib = limit / MIB - beh.memory.base_mib - beh.memory.per_rps_mib * load_rps
    return c.started_at + headroom_mib / leak * 60.0 + 1e-6


def _before_start(
    state: SimState, pod: KubeObject, c: ContainerRuntime, node: NodeRuntime
) -> float | None:
    """Pull, wait out the back-off, build the environment: when to look again, None to start."""
    if not c.pulled:
        due = _pull(state, pod, c, node)
        if due is not None:
            return due
    if state.now < c.next_start_at:
        return c.next_start_at
    err = _config_error(state, pod, c)
    if err is not None:
        c.waiting_reason, c.waiting_message = "CreateContainerConfigError", err
        state.event(pod, "Failed", f"Error: {err}", warning=True, host=node.name)
        c.next_start_at = state.now + CONFIG_RETRY_S
        return c.next_start_at
    return None


def _step_container(
    state: SimState, pod: KubeObject, rt: PodRuntime, c: ContainerRuntime, node: NodeRuntime
) -> float:
    if c.phase is ContainerPhase.WAITING:
        due = _before_start(state, pod, c, node)
        if due is not None:
            return due
        _start(state, pod, rt, c, node)
    if c.phase is ContainerPhase.RUNNING:
        return _run_checks(state, pod, rt, c, node)
    return FAR_FUTURE_S


def _step_init(state: SimState, pod: KubeObject, rt: PodRuntime, node: NodeRuntime) -> float:
    """Run the init containers one at a time, in order; each must exit 0 before the next.

    Returns when to look again; ``rt.init_done`` counts those that completed.
    """
    now = state.now
    while rt.init_done < len(rt.init_containers):
        c = rt.init_containers[rt.init_done]
        if c.phase is ContainerPhase.WAITING:
            due = _before_start(state, pod, c, node)
            if due is not None:
                return due
            _start_init(state, pod, c, node)
        beh = c.behaviour
        assert beh is not None  # a started container's image was pulled
        if c.crash_at is not None:
            if now < c.crash_at:
                return c.crash_at
            terminate_container(state, pod, c, *c.crash_exit)
            return c.next_start_at
        if c.complete_at is None:
            missing = _unmet_requirement(state, pod, c)
            if missing is not None:
                waited = now - (c.started_at if c.started_at is not None else now)
                limit = beh.wait_for_requirements_s
                if limit is not None and waited >= limit:
                    terminate_container(state, pod, c, 1, "Error", missing)
                    return c.next_start_at
                return now + WAIT_POLL_S  # still waiting for what it needs
            if beh.completes_after_s is None:
                return FAR_FUTURE_S  # a server as an init container never completes
            c.complete_at = now + beh.completes_after_s
        if now < c.complete_at:
            return c.complete_at
        c.phase = ContainerPhase.TERMINATED
        c.terminated = {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": sim_time(c.started_at if c.started_at is not None else now),
            "finishedAt": sim_time(now),
            "containerID": _container_id(pod, c),
        }
        rt.init_done += 1
    return now


def _start_init(state: SimState, pod: KubeObject, c: ContainerRuntime, node: NodeRuntime) -> None:
    now = state.now
    beh = c.behaviour
    assert beh is not None
    if c.last_terminated is not None:
        c.restart_count += 1
    c.phase = ContainerPhase.RUNNING
    c.started_at = now
    c.waiting_reason = c.waiting_message = ""
    c.crash_at = c.complete_at = None
    state.event(pod, "Created", f"Created container {c.name}", host=node.name)
    state.event(pod, "Started", f"Started container {c.name}", host=node.name)
    missing = _unmet_requirement(state, pod, c)
    if missing is not None and beh.wait_for_requirements_s == 0:
        c.crash_at = now + beh.crash_after_s
        c.crash_exit = (1, "Error", missing)
    elif missing is None and beh.completes_after_s is not None:
        c.complete_at = now + beh.completes_after_s


def _pull(state: SimState, pod: KubeObject, c: ContainerRuntime, node: NodeRuntime) -> float | None:
    """Advance the image pull; None once the image is present."""
    now = state.now
    image = c.image
    if c.behaviour is None:
        if now >= c.next_pull_at:
            c.pull_attempts += 1
            ref = image if "/" in image.split(":")[0] else f"library/{image}"
            detail = (
                f'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/{ref}": '
                f'failed to resolve reference "docker.io/{ref}": docker.io/{ref}: not found'
            )
            state.event(pod, "Pulling", f'Pulling image "{image}"', host=node.name)
            state.event(
                pod,
                "Failed",
                f'Failed to pull image "{image}": {detail}',
                warning=True,
                host=node.name,
            )
            state.event(pod, "Failed", "Error: ErrImagePull", warning=True, host=node.name)
            c.waiting_reason, c.waiting_message = "ErrImagePull", detail
            delay = min(BACKOFF_INITIAL_S * 2 ** (c.pull_attempts - 1), BACKOFF_MAX_S)
            c.next_pull_at = now + delay
            return now + 1.0
        if c.waiting_reason == "ErrImagePull":
            c.waiting_reason = "ImagePullBackOff"
            c.waiting_message = f'Back-off pulling image "{image}"'
            state.event(pod, "BackOff", f'Back-off pulling image "{image}"', host=node.name)
            state.event(pod, "Failed", "Error: ImagePullBackOff", warning=True, host=node.name)
        return c.next_pull_at
    always = c.spec.get("imagePullPolicy") == "Always"
    if c.pull_done_at is None:
        if image in node.images and not always:
            state.event(
                pod,
                "Pulled",
                f'Container image "{image}" already present on machine',
                host=node.name,
            )
            c.pull_done_at = now
        else:
            state.event(pod, "Pulling", f'Pulling image "{image}"', host=node.name)
            c.pull_done_at = now + c.behaviour.pull_s
            c.pulling = True
    if now < c.pull_done_at:
        return c.pull_done_at
    if c.pulling:
        secs = c.behaviour.pull_s
        state.event(
            pod,
            "Pulled",
            f'Successfully pulled image "{image}" in {secs:.3g}s ({secs:.3g}s including waiting)',
            host=node.name,
        )
        node.images.add(image)
    c.pulled = True
    c.next_start_at = now
    return None


def _start(
    state: SimState, pod: KubeObject, rt: PodRuntime, c: ContainerRuntime, node: NodeRuntime
) -> None:
    now = state.now
    beh = c.behaviour
    assert beh is not None  # pulled images have a behaviour
    if c.last_terminated is not None:
        c.restart_count += 1
    c.phase = ContainerPhase.RUNNING
    c.started_at = now
    c.waiting_reason = c.waiting_message = ""
    c.listening_at = now + beh.startup_s
    c.ready = False
    c.ready_successes = c.ready_failures = c.live_failures = 0
    state.event(pod, "Created", f"Created container {c.name}", host=node.name)
    state.event(pod, "Started", f"Started container {c.name}", host=node.name)
    missing = _unmet_requirement(state, pod, c)
    c.complete_at = None
    if missing is not None:
        c.crash_at = now + beh.crash_after_s
        c.crash_exit = (1, "Error", missing)
    else:
        c.crash_at = None
        if beh.completes_after_s is not None:
            c.complete_at = now + beh.completes_after_s
    sp = c.spec.get("startupProbe")
    c.startup_done = sp is None
    c.next_startup_at = now + float(sp.get("initialDelaySeconds", 0)) if sp else None
    rp = c.spec.get("readinessProbe")
    c.next_readiness_at = now + float(rp.get("initialDelaySeconds", 0)) if rp else None
    lp = c.spec.get("livenessProbe")
    c.next_liveness_at = now + float(lp.get("initialDelaySeconds", 0)) if lp else None


def exit_container(
    state: SimState,
    pod: KubeObject,
    rt: PodRuntime,
    c: ContainerRuntime,
    exit_code: int,
    reason: str,
    message: str,
) -> float:
    """The main process exited: restart it, or not, as the pod's ``restartPolicy`` says.

    Returns when to look at the container again.
    """
    policy = pod["spec"].get("restartPolicy", "Always")
    if policy == "Always" or (policy == "OnFailure" and exit_code != 0):
        terminate_container(state, pod, c, exit_code, reason, message)
        return c.next_start_at
    now = state.now
    started = c.started_at if c.started_at is not None else now
    c.terminated = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": sim_time(started),
        "finishedAt": sim_time(now),
        "containerID": _container_id(pod, c),
    }
    if message:
        c.terminated["message"] = message
    c.phase = ContainerPhase.TERMINATED
    c.ready = False
    c.crash_at = c.complete_at = None
    c.next_readiness_at = c.next_liveness_at = c.next_startup_at = None
    state.endpoints_dirty = True
    if all(x.phase is ContainerPhase.TERMINATED for x in rt.containers):
        release_node_resources(state, rt)
    return FAR_FUTURE_S


def terminate_container(
    state: SimState, pod: KubeObject, c: ContainerRuntime, exit_code: int, reason: str, message: str
) -> None:
    """The container exited: record lastState, enter CrashLoopBackOff with the kubelet back-off."""
    now = state.now
    started = c.started_at if c.started_at is not None else now
    term: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": sim_time(started),
        "finishedAt": sim_time(now),
        "containerID": _container_id(pod, c),
    }
    if message:
        term["message"] = message
    c.last_terminated = term
    c.crash_streak = 1 if now - started >= BACKOFF_RESET_S else c.crash_streak + 1
    delay = min(BACKOFF_INITIAL_S * 2 ** (c.crash_streak - 1), BACKOFF_MAX_S)
    md = pod["metadata"]
    who = f"{md['name']}_{md['namespace']}({md['uid']})"
    c.phase = ContainerPhase.WAITING
    c.waiting_reason = "CrashLoopBackOff"
    c.waiting_message = (
        f"back-off {go_duration(delay)} restarting failed container={c.name} pod={who}"
    )
    c.next_start_at = now + delay
    c.ready = False
    c.crash_at = None
    c.started_at = None
    c.next_readiness_at = c.next_liveness_at = c.next_startup_at = None
    state.endpoints_dirty = True
    state.event(
        pod,
        "BackOff",
        f"Back-off restarting failed container {c.name} in pod {who}",
        warning=True,
        host=pod["spec"].get("nodeName"),
    )


def _probe(
    state: SimState, rt: PodRuntime, c: ContainerRuntime, probe: dict[str, Any]
) -> tuple[bool, str]:
    beh = c.behaviour
    assert beh is not None
    now = state.now
    listening = now >= c.listening_at
    if "exec" in probe:
        return listening, "command terminated with non-zero exit code: exit status 1"
    port_spec = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
    port = port_spec
    if isinstance(port_spec, str):
        port = next(
            (p["containerPort"] for p in c.spec.get("ports") or [] if p.get("name") == port_spec),
            None,
        )
    ip = rt.ip
    if "tcpSocket" in probe:
        ok = listening and port == beh.port
        return ok, f"dial tcp {ip}:{port}: connect: connection refused"
    http = probe.get("httpGet") or {}
    path = http.get("path", "/")
    url = f"http://{ip}:{port}{path}"
    if not listening or port != beh.port:
        return False, f'Get "{url}": dial tcp {ip}:{port}: connect: connection refused'
    latency_ms = beh.health_latency_ms * c.throttle
    if latency_ms > float(probe.get("timeoutSeconds", 1)) * 1000.0:
        return False, (
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
        )
    if path not in beh.health_paths:
        return False, "HTTP probe failed with statuscode: 404"
    if probe is c.spec.get("readinessProbe") and _dependency_down(state, rt, beh):
        return False, "HTTP probe failed with statuscode: 503"
    return True, ""


def _dependency_down(state: SimState, rt: PodRuntime, beh: ImageBehaviour) -> bool:
    """A service the readiness endpoint checks has no ready endpoint or too many errors."""
    ns = rt.key[0]
    for dep in beh.readiness_depends_on:
        name, _, svc_ns = dep.service.partition(".")
        ep = state.get(Kind.ENDPOINTS, svc_ns or ns, name)
        if ep is None or not any(s.get("addresses") for s in ep.get("subsets") or []):
            return True
        if dep.max_error_rate is not None:
            stats = state.service_stats.get((svc_ns or ns, name))
            if stats is not None and stats.error_rate > dep.max_error_rate:
                return True
    return False


def _run_checks(
    state: SimState, pod: KubeObject, rt: PodRuntime, c: ContainerRuntime, node: NodeRuntime
) -> float:
    now = state.now
    if c.crash_at is not None and now >= c.crash_at:
        return exit_container(state, pod, rt, c, *c.crash_exit)
    if c.complete_at is not None and now >= c.complete_at:
        return exit_container(state, pod, rt, c, 0, "Completed", "")
    if _oom_time(c, rt.load_rps, now) <= now:
        used = memory_usage(c, rt.load_rps, now)
        state.event(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node.name, "uid": node.name}},
            "OOMKilling",
            f"Memory cgroup out of memory: Killed process {4000 + c.restart_count} ({c.name}) "
            f"total-vm:{int(used / 1024) + 65536}kB, anon-rss:{int(used / 1024)}kB, file-rss:0kB, "
            f"shmem-rss:0kB, UID:1000 pgtables:{int(used / 2**20) * 4}kB oom_score_adj:999",
            warning=True,
            component="kernel-monitor",
            host=node.name,
        )
        return exit_container(state, pod, rt, c, OOM_EXIT_CODE, "OOMKilled", "")
    sp = c.spec.get("startupProbe")
    due = c.next_startup_at is not None and now >= c.next_startup_at
    if sp is not None and not c.startup_done and due:
        ok, msg = _probe(state, rt, c, sp)
        if ok:
            c.startup_done = True
            c.live_failures = 0
            lp = c.spec.get("livenessProbe")
            c.next_liveness_at = now if lp else None
            rp = c.spec.get("readinessProbe")
            c.next_readiness_at = now if rp else None
        else:
            c.live_failures += 1
            state.event(
                pod, "Unhealthy", f"Startup probe failed: {msg}", warning=True, host=node.name
            )
            if c.live_failures >= int(sp.get("failureThreshold", 3)):
                state.event(
                    pod,
                    "Killing",
                    f"Container {c.name} failed startup probe, will be restarted",
                    host=node.name,
                )
                terminate_container(state, pod, c, SIGTERM_EXIT_CODE, "Error", "")
                return c.next_start_at
            c.next_startup_at = now + float(sp.get("periodSeconds", 10))
    if c.startup_done:
        lp = c.spec.get("livenessProbe")
        if lp is not None and c.next_liveness_at is not None and now >= c.next_liveness_at:
            ok, msg = _probe(state, rt, c, lp)
            if ok:
                c.live_failures = 0
            else:
                c.live_failures += 1
                state.event(
                    pod, "Unhealthy", f"Liveness probe failed: {msg}", warning=True, host=node.name
                )
                if c.live_failures >= int(lp.get("failureThreshold", 3)):
                    state.event(
                        pod,
                        "Killing",
                        f"Container {c.name} failed liveness probe, will be restarted",
                        host=node.name,
                    )
                    terminate_container(state, pod, c, SIGTERM_EXIT_CODE, "Error", "")
                    return c.next_start_at
            c.next_liveness_at = now + float(lp.get("periodSeconds", 10))
        rp = c.spec.get("readinessProbe")
        if rp is None:
            if not c.ready:
                c.ready = True
                state.endpoints_dirty = True
        elif c.next_readiness_at is not None and now >= c.next_readiness_at:
            ok, msg = _probe(state, rt, c, rp)
            if ok:
                c.ready_failures = 0
                c.ready_successes += 1
                if not c.ready and c.ready_successes >= int(rp.get("successThreshold", 1)):
                    c.ready = True
                    state.endpoints_dirty = True
            else:
                c.ready_successes = 0
                c.ready_failures += 1
                state.event(
                    pod, "Unhealthy", f"Readiness probe failed: {msg}", warning=True, host=node.name
                )
                if c.ready and c.ready_failures >= int(rp.get("failureThreshold", 3)):
                    c.ready = False
                    state.endpoints_dirty = True
            c.next_readiness_at = now + float(rp.get("periodSeconds", 10))
    wake = FAR_FUTURE_S
    for t in (
        c.crash_at,
        c.complete_at,
        c.next_readiness_at,
        c.next_liveness_at,
        c.next_startup_at if not c.startup_done else None,
        _oom_time(c, rt.load_rps, now),
    ):
        if t is not None:
            wake = min(wake, t)
    if not c.ready and c.spec.get("readinessProbe") is None:
        wake = min(wake, now + 1.0)
    return wake


def _transition(rt: PodRuntime, ctype: str, status: str, now: float) -> str:
    prev = rt.transitions.get(ctype)
    if prev is None or prev[0] != status:
        rt.transitions[ctype] = (status, now)
        return sim_time(now)
    return sim_time(prev[1])


def _container_status(pod: KubeObject, c: ContainerRuntime, lost: bool) -> dict[str, Any]:
    state: dict[str, Any]
    if c.phase is ContainerPhase.TERMINATED and c.terminated is not None:
        state = {"terminated": dict(c.terminated)}
    elif c.phase is ContainerPhase.RUNNING and c.started_at is not None:
        state = {"running": {"startedAt": sim_time(c.started_at)}}
    else:
        waiting: dict[str, Any] = {"reason": c.waiting_reason}
        if c.waiting_message:
            waiting["message"] = c.waiting_message
        state = {"waiting": waiting}
    entry: dict[str, Any] = {
        "name": c.name,
        "image": c.image,
        "imageID": f"docker.io/{c.image}@sha256:{_digest(c.image)}" if c.pulled else "",
        "ready": c.ready and not lost,
        "restartCount": c.restart_count,
        "started": c.phase is ContainerPhase.RUNNING and c.startup_done,
        "state": state,
        "lastState": {"terminated": dict(c.last_terminated)} if c.last_terminated else {},
    }
    if c.started_at is not None or c.last_terminated is not None:
        entry["containerID"] = _container_id(pod, c)
    if c.terminated is not None:
        entry["containerID"] = c.terminated["containerID"]
    return entry


def _init_status(pod: KubeObject, c: ContainerRuntime) -> dict[str, Any]:
    entry = _container_status(pod, c, lost=False)
    if c.terminated is not None:
        entry["state"] = {"terminated": dict(c.terminated)}
        entry["ready"] = True
        entry["containerID"] = c.terminated["containerID"]
    else:
        entry["ready"] = False
    entry["started"] = c.phase is ContainerPhase.RUNNING
    return entry


def _pod_phase(rt: PodRuntime, ever_started: bool) -> str:
    """Succeeded/Failed once every container has exited for good; else Running or Pending."""
    if rt.containers and all(
        c.phase is ContainerPhase.TERMINATED and c.terminated for c in rt.containers
    ):
        ok = all((c.terminated or {}).get("exitCode") == 0 for c in rt.containers)
        return "Succeeded" if ok else "Failed"
    return "Running" if ever_started else "Pending"


def write_status(state: SimState, pod: KubeObject, rt: PodRuntime) -> None:
    """Write the pod's status as the kubelet reports it (only if it changed)."""
    now = state.now
    statuses = [_container_status(pod, c, rt.node_lost) for c in rt.containers]
    initialized = rt.init_done >= len(rt.init_containers)
    if not initialized:
        for s in statuses:
            s["state"] = {"waiting": {"reason": "PodInitializing"}}
    pending_init = [c.name for c in rt.init_containers[rt.init_done :]]
    unready = [s["name"] for s in statuses if not s["ready"]]
    ever_started = any(c.started_at is not None or c.last_terminated for c in rt.containers)
    ready = "False" if unready else "True"
    if rt.node_lost:
        ready = "False"
    conds: list[dict[str, Any]] = []
    for ctype, status in (
        ("PodReadyToStartContainers", "True" if rt.volumes_ready else "False"),
        ("Initialized", "True" if initialized else "False"),
        ("Ready", ready),
        ("ContainersReady", ready),
        ("PodScheduled", "True"),
    ):
        cond: dict[str, Any] = {
            "type": ctype,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": _transition(rt, ctype, status, now),
        }
        if ctype == "Initialized" and status == "False":
            cond["reason"] = "ContainersNotInitialized"
            cond["message"] = f"containers with incomplete status: [{' '.join(pending_init)}]"
        if ctype in ("Ready", "ContainersReady") and status == "False":
            cond["reason"] = "ContainersNotReady"
            cond["message"] = f"containers with unready status: [{' '.join(unready)}]"
            if rt.node_lost and ctype == "Ready":
                cond["reason"] = "NodeNotReady"
                cond["message"] = "Node is not ready"
        conds.append(cond)
    node = state.nodes.get(rt.node or "")
    host_ip = f"10.0.0.{node.index + 10}" if node else ""
    status_obj: dict[str, Any] = {
        "phase": _pod_phase(rt, ever_started),
        "conditions": conds,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": rt.ip,
        "podIPs": [{"ip": rt.ip}],
        "startTime": sim_time(rt.bound_at if rt.bound_at is not None else now),
        "containerStatuses": statuses,
        **(
            {"initContainerStatuses": [_init_status(pod, c) for c in rt.init_containers]}
            if rt.init_containers
            else {}
        ),
        "qosClass": (pod.get("status") or {}).get("qosClass", "BestEffort"),
    }
    was_ready = any(
        cd.get("type") == "Ready" and cd.get("status") == "True"
        for cd in (pod.get("status") or {}).get("conditions") or []
    )
    if rt.evicted:
        status_obj["phase"] = "Failed"
        status_obj["reason"] = "Evicted"
        status_obj["message"] = rt.evicted
    if status_obj != pod.get("status"):
        pod["status"] = status_obj
        state.store.touch(Kind.POD, pod)
        if was_ready != (ready == "True"):
            state.endpoints_dirty = True
