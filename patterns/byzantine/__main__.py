"""``python -m patterns.byzantine``: create a cluster directory, serve replicas, submit operations.

::

    python -m patterns.byzantine init .data/pbft --f 1 --clients 1
    python -m patterns.byzantine serve .data/pbft            # every replica, one process
    python -m patterns.byzantine serve .data/pbft --replicas 0 1
    python -m patterns.byzantine submit .data/pbft put k v get k

``init`` takes the protocol settings from ``SWARMKIT_BYZANTINE__*`` (``--f`` wins over
``SWARMKIT_BYZANTINE__F``) and writes them into ``cluster.json``; ``serve`` and ``submit``
take the QUIC settings from ``SWARMKIT_QUIC__*``. Exit status 2 for bad input (an
operation, an argument, a setting, a cluster file), 1 when a valid request fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from patterns.byzantine.clusterfile import ClusterFile, init_cluster
from patterns.byzantine.service import commit, serve
from patterns.byzantine.state_machine import Delete, Get, KvOp, Put, encode_op
from patterns.core.cli import SETTINGS_ERRORS, int_at_least, report_settings_error
from patterns.core.exceptions import PermanentError, SwarmError
from patterns.core.process import tune_for_serving
from patterns.core.settings import QuicSettings
from patterns.settings import get_settings

OPERATIONS = "put K V | get K | delete K"


def parse_ops(words: list[str]) -> list[KvOp]:
    """``put k v``, ``get k``, ``delete k`` words into operations.

    Raises:
        ValueError: an unknown verb or a missing argument (the words from there are named).
    """
    ops: list[KvOp] = []
    i = 0
    while i < len(words):
        verb = words[i].lower()
        if verb == "put" and i + 2 < len(words):
            ops.append(Put(words[i + 1], words[i + 2]))
            i += 3
        elif verb == "get" and i + 1 < len(words):
            ops.append(Get(words[i + 1]))
            i += 2
        elif verb == "delete" and i + 1 < len(words):
            ops.append(Delete(words[i + 1]))
            i += 2
        else:
            what = "missing argument(s)" if verb in ("put", "get", "delete") else "unknown verb"
            raise ValueError(
                f"operation {len(ops) + 1} ({' '.join(words[i:])!r}): {what}; "
                f"operations are {OPERATIONS}"
            )
    return ops


async def _serve_until_signal(path: str, replicas: list[int], quic: QuicSettings) -> None:
    tune_for_serving()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await serve(path, replicas, quic_settings=quic, stop=stop)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m patterns.byzantine")
    sub = parser.add_subparsers(dest="command", required=True)
    p_init = sub.add_parser("init", help="create a cluster directory (keys, CA, cluster.json)")
    p_init.add_argument("directory")
    p_init.add_argument(
        "--f",
        type=int_at_least(0),
        default=None,
        help="faults tolerated (default SWARMKIT_BYZANTINE__F, 1)",
    )
    p_init.add_argument("--clients", type=int_at_least(0), default=1)
    p_init.add_argument("--host", default="127.0.0.1")
    p_init.add_argument(
        "--base-port", type=int, default=7400, help="node i listens on base port + i (7400)"
    )
    p_serve = sub.add_parser("serve", help="run replicas of a cluster until interrupted")
    p_serve.add_argument("cluster")
    p_serve.add_argument("--replicas", type=int, nargs="*")
    p_submit = sub.add_parser("submit", help=f"commit operations: {OPERATIONS}")
    p_submit.add_argument("cluster")
    p_submit.add_argument("--client", type=int)
    p_submit.add_argument("--timeout", type=float, default=30.0)
    p_submit.add_argument("ops", nargs="+")
    args = parser.parse_args(argv)
    level = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    try:
        env = get_settings()
    except SETTINGS_ERRORS as err:  # a SWARMKIT_BYZANTINE__ / SWARMKIT_QUIC__ ... variable
        return report_settings_error(err)
    try:
        if args.command == "init":
            f = env.byzantine.f if args.f is None else args.f
            cf = init_cluster(
                args.directory,
                f,
                args.clients,
                host=args.host,
                base_port=args.base_port,
                settings=env.byzantine,
            )
            print(f"wrote {cf.path}: n={cf.config.n}, clients {sorted(cf.config.clients)}")
        elif args.command == "serve":
            cf = ClusterFile.load(args.cluster)
            ids = list(cf.config.replicas) if not args.replicas else args.replicas
            asyncio.run(_serve_until_signal(args.cluster, ids, env.quic))
        else:
            try:
                ops = [encode_op(op) for op in parse_ops(args.ops)]
            except ValueError as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
            report = commit(
                ops,
                cluster_file=args.cluster,
                client=args.client,
                timeout_s=args.timeout,
                quic_settings=env.quic,
            )
            print(json.dumps({"verified": report.verify(), "results": report.rows()}, indent=2))
    except (PermanentError, ValueError) as err:  # bad input: the same call fails again
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except SwarmError as err:  # e.g. no quorum answered in time
        print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
