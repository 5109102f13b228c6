"""Free ports for processes that must know each other's addresses before they start."""

from __future__ import annotations

import socket


def free_udp_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct UDP ports free on ``host`` right now (the OS picks them).

    They are free when this returns; a process that binds them later may lose one to
    another program in between, so use it where the addresses are local and short-lived.
    """
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
