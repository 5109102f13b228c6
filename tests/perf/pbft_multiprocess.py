"""PBFT with every replica in its own OS process, as a deployment runs them (for the bench).

The one-process figures of ``bench_pbft`` put 3f+1 replicas and the client on one
event loop, so on one core. Here each replica is a ``spawn``-ed process with its own
event loop and QUIC endpoint (mutual TLS, session keys: the same runtime and
authentication as ``python -m patterns.byzantine serve``), and the client node runs
in the calling process. Keys come from a seed shared with the children, so the
logical clients a client node hosts need no cluster file.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

from patterns.byzantine import ByzantineSettings
from patterns.byzantine.auth import generate_cluster
from patterns.byzantine.client import Client
from patterns.byzantine.local import _Completion, stop_runtime, submit_all
from patterns.byzantine.messages import pbft_codec
from patterns.byzantine.replica import Replica
from patterns.core.ids import NodeId
from patterns.core.keys import ClusterCA
from patterns.core.process import tune_for_serving
from patterns.core.settings import QuicSettings
from patterns.net.ports import free_udp_ports
from patterns.net.quic import QuicNodeRuntime

KEY_SEED = 20_261_204
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class _Layout:
    f: int
    host: NodeId  # the client node
    logical: tuple[NodeId, ...]  # the logical clients it hosts
    addresses: dict[NodeId, tuple[str, int]]
    certs: str
    settings_json: str
    quic_json: str

    def keys(self) -> tuple[object, dict[NodeId, object]]:
        hosts = {cid: self.host for cid in self.logical if cid != self.host}
        return generate_cluster(self.f, list(self.logical), seed=KEY_SEED, hosts=hosts)


def _replica_main(layout: _Layout, rid: NodeId, ready: MpEvent) -> None:
    asyncio.run(_replica(layout, rid, ready))


async def _replica(layout: _Layout, rid: NodeId, ready: MpEvent) -> None:
    config, keys = layout.keys()
    settings = ByzantineSettings.model_validate_json(layout.settings_json)
    runtime = QuicNodeRuntime(
        Replica(rid, config, keys[rid], settings),  # type: ignore[arg-type]
        pbft_codec(),
        ClusterCA.open_or_create(layout.certs).credentials(rid),
        layout.addresses,
        QuicSettings.model_validate_json(layout.quic_json),
        record_events=False,
    )
    await runtime.start()
    tune_for_serving()  # as `python -m patterns.byzantine serve` does
    ready.set()
    await asyncio.Event().wait()  # until the parent terminates this process


class ProcessCluster:
    """3f+1 replica processes and an in-process client node hosting ``sessions`` clients."""

    def __init__(
        self,
        directory: Path,
        f: int,
        settings: ByzantineSettings,
        quic: QuicSettings,
        sessions: int = 1,
    ) -> None:
        n = 3 * f + 1
        ports = free_udp_ports(n + 1)
        host = NodeId(n)
        logical = (host,) if sessions == 1 else tuple(NodeId(n + 1 + i) for i in range(sessions))
        self.layout = _Layout(
            f,
            host,
            logical,
            {NodeId(i): ("127.0.0.1", ports[i]) for i in range(n + 1)},
            str(directory),
            settings.model_copy(update={"f": f}).model_dump_json(),
            quic.model_dump_json(),
        )
        self.n = n
        self.settings = settings.model_copy(update={"f": f})
        self.quic = quic
        ca = ClusterCA.open_or_create(directory)
        for nid in range(n + 1):  # issued here, so the children only read them
            ca.credentials(NodeId(nid))
        self._ca = ca
        self._procs: list[mp.process.BaseProcess] = []
        self.runtime: QuicNodeRuntime[Client] | None = None

    async def __aenter__(self) -> ProcessCluster:
        ctx = mp.get_context("spawn")
        events = []
        for rid in range(self.n):
            ready = ctx.Event()
            proc = ctx.Process(
                target=_replica_main, args=(self.layout, NodeId(rid), ready), daemon=True
            )
            proc.start()
            self._procs.append(proc)
            events.append(ready)
        deadline = time.monotonic() + READY_TIMEOUT_S
        for ready in events:
            while not ready.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError("a replica process did not start its runtime")
                await asyncio.sleep(0.05)
        config, keys = self.layout.keys()
        client = Client(
            self.layout.host,
            config,  # type: ignore[arg-type]
            {cid: keys[cid] for cid in self.layout.logical},  # type: ignore[misc]
            self.settings,
        )
        self.runtime = QuicNodeRuntime(
            client,
            pbft_codec(),
            self._ca.credentials(self.layout.host),
            self.layout.addresses,
            self.quic,
            record_events=False,
        )
        await self.runtime.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.runtime is not None:
            await stop_runtime(self.runtime)
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.join(10)

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by the replica processes and this one."""
        tick = os.sysconf("SC_CLK_TCK")
        total = time.process_time()  # the client node runs in this process
        for proc in self._procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return total

    async def submit(self, ops: Sequence[bytes], timeout_s: float) -> list[tuple[float, float]]:
        """Commit ``ops`` through the hosted clients; ``(sent_at, done_at)`` of each."""
        assert self.runtime is not None
        client = self.runtime.node
        tickets: list[int] = self.runtime.call(partial(submit_all, ops=ops, want=False))
        await self.runtime.wait_until(_Completion(client, tickets, False), timeout_s)
        return [(r.sent_at, r.done_at) for r in client.take(tickets)]
