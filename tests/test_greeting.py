"""The 220 greeting, which the acceptor sends before the session's transport exists."""

from __future__ import annotations

import ftplib
import socket
import struct

from conftest import StartServer, wait_until


def test_a_custom_banner_is_the_welcome(live_server: StartServer) -> None:
    srv = live_server(banner="Test server, be nice.")
    with srv.ftp() as ftp:
        assert ftp.getwelcome() == "220 Test server, be nice."
        assert ftp.pwd() == "/"


def test_a_multi_line_banner_is_a_multi_line_reply(live_server: StartServer) -> None:
    srv = live_server(banner="Welcome.\nSecond line.\nReady.")
    with srv.ftp() as ftp:
        assert ftp.getwelcome() == "220-Welcome.\nSecond line.\n220 Ready."
        assert ftp.sendcmd("NOOP").startswith("200")


def test_a_banner_changed_later_greets_the_next_client(live_server: StartServer) -> None:
    srv = live_server()
    with srv.ftp() as ftp:
        assert ftp.getwelcome() == "220 pytest-ftpserver ready."
    srv.server.banner = "Changed."
    with srv.ftp() as ftp:
        assert ftp.getwelcome() == "220 Changed."


def test_a_client_that_resets_at_once_leaves_nothing_behind(live_server: StartServer) -> None:
    srv = live_server()
    for _ in range(20):
        sock = socket.create_connection((srv.host, srv.port), timeout=5)
        # Linger 0: close() sends a reset, maybe before the server has accepted.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    stats = srv.server.stats
    wait_until(lambda: stats.connections_total >= 20 and not stats.connections_active, 10)
    assert stats.connections_total == 20
    assert stats.connections_active == 0
    assert srv.server.errors == []
    with srv.ftp() as ftp:  # and the server goes on
        assert ftp.getwelcome().startswith("220")


def test_the_connection_over_the_limit_gets_421_not_220(live_server: StartServer) -> None:
    srv = live_server(maximum_connections=1)
    with srv.ftp() as first:
        with socket.create_connection((srv.host, srv.port), timeout=5) as second:
            reply = second.makefile("rb").readline()
        assert reply.startswith(b"421 "), reply
        assert first.sendcmd("NOOP").startswith("200")
    assert srv.server.stats.connections_total == 2
    with ftplib.FTP() as third:  # the first has gone: room again
        third.connect(srv.host, srv.port, timeout=5)
        assert third.getwelcome().startswith("220")


def test_a_connection_that_fails_to_set_up_is_counted_out(live_server: StartServer) -> None:
    srv = live_server()
    acceptor = srv.server._listener
    make_transport = acceptor._make_transport
    calls = []

    def failing(*args: object, **kwargs: object) -> object:
        if not calls:
            calls.append(1)
            raise OSError("simulated failure while setting the connection up")
        return make_transport(*args, **kwargs)

    acceptor._make_transport = failing
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        received = sock.makefile("rb").read()  # the early 220, then the end
    assert received.startswith(b"220 ")
    assert calls == [1]
    stats = srv.server.stats
    wait_until(lambda: not stats.connections_active, 10)
    assert (stats.connections_total, stats.connections_active) == (1, 0)
    with srv.ftp() as ftp:  # the next connection is served
        assert ftp.pwd() == "/"
    assert stats.connections_total == 2
