"""Listening sockets that stay cheap to open when thousands of ports sit in TIME_WAIT.

Every test's server listens on a new port, and every download leaves its data connection
in TIME_WAIT for a minute (the server closes first: the end of a stream-mode transfer).
On Linux, ``bind(("127.0.0.1", 0))`` then searches for a port that nothing holds at all;
once about 10,000 ports are held (5,000 tests within a minute, two ports each) each such
bind took 1-4 ms here instead of 10 us, and a long suite slowed from 2.7 to 6 ms per test.

A random port of the ephemeral range with ``SO_REUSEADDR`` binds at once: Linux lets it
share a port with sockets in TIME_WAIT, never with a listening socket, and a port in use by
another program's connection is refused (EADDRINUSE), so the next candidate is tried.
After a few refusals, or on other systems (whose ``SO_REUSEADDR`` means other things), the
kernel picks the port as before.
"""

from __future__ import annotations

import random
import socket
import sys
from collections.abc import Callable, Iterable, Iterator

#: Random ports tried before falling back to port 0.
RANDOM_PORT_TRIES = 16

# A private generator: a test that seeds ``random`` must not make every process of a
# pytest-xdist run try the same ports.
_random = random.Random()


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return 49152, 65535  # the IANA range
    if not 1024 <= low <= high <= 65535:
        return 49152, 65535
    return low, high


def _reserved_ports() -> frozenset[int]:
    """``net.ipv4.ip_local_reserved_ports``: ports the kernel never picks for port 0 (kept
    for services that listen on them later), so neither do we."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_reserved_ports") as f:
            text = f.read().strip()
    except OSError:
        return frozenset()
    reserved: set[int] = set()
    try:
        for item in filter(None, (part.strip() for part in text.split(","))):
            low, _, high = item.partition("-")
            reserved.update(range(int(low), int(high or low) + 1))
    except ValueError:
        return frozenset()
    return frozenset(reserved)


_LINUX = sys.platform.startswith("linux")
_EPHEMERAL = _ephemeral_range() if _LINUX else None
_RESERVED = _reserved_ports() if _LINUX else frozenset()


def candidate_ports(port: int) -> Iterator[int]:
    """The ports to try, in order, for a requested ``port`` (0: any free port).

    Drawn one at a time: the first random port is nearly always free, and drawing all
    sixteen up front cost a server start or a PASV about 5 us.
    """
    if port or _EPHEMERAL is None:
        yield port
        return
    low, high = _EPHEMERAL
    randint = _random.randint
    for _ in range(RANDOM_PORT_TRIES):
        candidate = randint(low, high)
        if candidate not in _RESERVED:
            yield candidate
    yield 0


def listen_on(
    make_socket: Callable[[], socket.socket],
    host: str,
    ports: Iterable[int],
    backlog: int,
) -> socket.socket:
    """Bind and listen on the first of ``ports`` that is free; return the socket.

    ``make_socket`` returns a new socket with its options set (``SO_REUSEADDR`` among
    them); its errors (out of descriptors) are raised at once. A port that cannot be
    bound or listened on (taken by another listener, also at listen time when two
    processes bound it at once; privileged) moves on to the next; the last port's error
    is raised.
    """
    error: OSError | None = None
    for port in ports:
        sock = make_socket()
        try:
            sock.bind((host, port))
            sock.listen(backlog)
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, OSError):
                raise
            error = exc
            continue
        return sock
    if error is None:
        raise ValueError("no port to listen on")
    raise error
