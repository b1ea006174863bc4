"""Review regressions for server/ports.py (random ephemeral listening ports)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from pytest_ftpserver.server import ports

_CHILD = textwrap.dedent(
    """
    import sys
    low, high = (int(x) for x in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    # Reserve all of the ephemeral range but its last 200 ports (this netns only).
    reserved_high = high - 200
    with open("/proc/sys/net/ipv4/ip_local_reserved_ports", "w") as f:
        f.write(f"{low}-{reserved_high}")
    from pytest_ftpserver.server.server import Server
    bad = []
    for _ in range(50):
        server = Server()
        server.listen("127.0.0.1", 0)
        port = server.address[1]
        server._socket.close()
        server._socket = None
        if low <= port <= reserved_high:
            bad.append(port)
    print(bad)
    sys.exit(1 if bad else 0)
    """
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or os.geteuid() != 0
    or shutil.which("unshare") is None,
    reason="needs Linux, root and unshare(1) for a private network namespace",
)
def test_random_port_skips_ip_local_reserved_ports() -> None:
    """net.ipv4.ip_local_reserved_ports keeps automatic port choices off ports that
    other services will listen on; bind(port 0) honours it, so must the random port."""
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(
            "unshare -n was refused (no CAP_SYS_ADMIN, e.g. an unprivileged container): "
            "cannot reserve ports in a private network namespace"
        )
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, (
        f"listened on reserved ports: {result.stdout.strip()} {result.stderr[-500:]}"
    )


class _InterruptedSocket(socket.socket):
    def bind(self, address: object) -> None:  # type: ignore[override]
        raise KeyboardInterrupt


def test_listen_on_closes_the_socket_on_an_interrupt_before_the_last_port() -> None:
    """The last candidate closes its socket on any exception; the others only on
    OSError, so a KeyboardInterrupt (or any non-OSError) leaks the descriptor."""
    made: list[socket.socket] = []

    def make_socket() -> socket.socket:
        sock = _InterruptedSocket(socket.AF_INET, socket.SOCK_STREAM)
        made.append(sock)
        return sock

    try:
        with pytest.raises(KeyboardInterrupt):
            ports.listen_on(make_socket, "127.0.0.1", [50000, 0], 8)
        assert len(made) == 1
        assert made[0].fileno() == -1, "socket left open"
    finally:
        for sock in made:
            sock.close()
