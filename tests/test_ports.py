"""Listening ports (server/ports.py): a random port of the ephemeral range with
SO_REUSEADDR, so that ports in TIME_WAIT neither block a small passive range nor make
every bind(port 0) slow in a long test suite."""

from __future__ import annotations

import io
import os
import random
import socket
import sys

import pytest
from conftest import StartServer, free_port, parse_pasv

from pytest_ftpserver.server import ports


def make_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


@pytest.mark.skipif(
    os.name != "posix",
    reason="passive sockets use SO_REUSEADDR on POSIX only (on Windows it would let a "
    "port be taken from a listener)",
)
def test_one_passive_port_serves_transfer_after_transfer(live_server: StartServer) -> None:
    """The server closes each data connection first, which leaves the passive port in
    TIME_WAIT: the next PASV must still get that port (it was 425 without
    SO_REUSEADDR on the passive socket)."""
    port = free_port()
    live = live_server(passive_ports=[port])
    live.put("/a.txt", b"hello")
    with live.ftp() as ftp:
        for _ in range(3):
            assert parse_pasv(ftp.sendcmd("PASV"))[1] == port
            assert ftp.nlst() == ["a.txt"]
            data = io.BytesIO()
            ftp.retrbinary("RETR a.txt", data.write)
            assert data.getvalue() == b"hello"


def test_a_port_held_by_a_listener_is_skipped() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        held = taken.getsockname()[1]
        with ports.listen_on(make_socket, "127.0.0.1", [held, 0], 8) as sock:
            assert sock.getsockname()[1] not in (held, 0)
        with pytest.raises(OSError):  # the last candidate's error is raised
            ports.listen_on(make_socket, "127.0.0.1", [held], 8)


def test_candidates() -> None:
    assert list(ports.candidate_ports(2121)) == [2121]
    candidates = list(ports.candidate_ports(0))
    assert candidates[-1] == 0  # the kernel's choice comes last
    if sys.platform.startswith("linux"):
        low, high = ports._ephemeral_range()
        assert len(candidates) == ports.RANDOM_PORT_TRIES + 1
        assert all(low <= port <= high for port in candidates[:-1])
    else:
        assert candidates == [0]


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="the server picks random ports itself on Linux only; elsewhere the kernel does "
    "(port 0)",
)
def test_seeding_random_does_not_repeat_the_ports() -> None:
    """A test that seeds ``random`` must not make every pytest-xdist worker try the
    same ports."""
    random.seed(1)
    first = list(ports.candidate_ports(0))
    random.seed(1)
    assert list(ports.candidate_ports(0)) != first
