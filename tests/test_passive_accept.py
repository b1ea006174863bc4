"""When the server takes the passive data connection.

A server without TLS leaves the client's connection in the kernel's queue and accepts it
when the transfer command comes (the usual order: clients connect first); a connection
that comes after the command is accepted as it arrives. A server with TLS accepts at once,
because some clients (aioftp) finish the data channel's handshake before the command.
"""

from __future__ import annotations

import contextlib
import socket
import time

import pytest
from conftest import (
    LiveServer,
    StartServer,
    parse_epsv,
    parse_pasv,
    recv_all,
    tls_contexts,
    tls_ftp,
)

DATA = bytes(range(256)) * 64


@pytest.fixture
def srv(live_server: StartServer) -> LiveServer:
    live = live_server(wait_future_timeout=2)
    live.put("/a.bin", DATA)
    return live


@pytest.mark.parametrize("verb", ["PASV", "EPSV"])
@pytest.mark.parametrize("command", ["RETR a.bin", "NLST", "LIST"])
def test_connection_made_after_the_command(srv: LiveServer, verb: str, command: str) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        reply = raw.cmd(verb)
        port = parse_pasv(reply)[1] if verb == "PASV" else parse_epsv(reply)
        raw.send(command + "\r\n")
        time.sleep(0.1)  # the server waits for the connection: nothing is queued yet
        with socket.create_connection(("127.0.0.1", port), timeout=5) as data:
            assert raw.reply().startswith("150")
            got = recv_all(data)
        assert raw.reply().startswith("226")
        if command.startswith("RETR"):
            assert got == DATA
        else:
            assert b"a.bin" in got
        assert raw.cmd("NOOP").startswith("200")


def test_connection_queued_before_the_command(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        _, port = parse_pasv(raw.cmd("PASV"))
        with socket.create_connection(("127.0.0.1", port), timeout=5) as data:
            time.sleep(0.05)  # connected (the kernel queued it) long before the command
            assert raw.cmd("RETR a.bin").startswith("150")
            assert recv_all(data) == DATA
        assert raw.reply().startswith("226")


def test_unused_queued_connection_is_dropped_by_the_next_pasv(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        _, first = parse_pasv(raw.cmd("PASV"))
        stale = socket.create_connection(("127.0.0.1", first), timeout=5)
        try:
            _, second = parse_pasv(raw.cmd("PASV"))
            # The first listener is gone with the connection it had queued.
            stale.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert stale.recv(1) == b""
            with socket.create_connection(("127.0.0.1", second), timeout=5) as data:
                assert raw.cmd("RETR a.bin").startswith("150")
                assert recv_all(data) == DATA
            assert raw.reply().startswith("226")
        finally:
            stale.close()
        assert srv.stats.connections_active == 1


def test_no_connection_at_all_gets_425(live_server: StartServer) -> None:
    live = live_server(wait_future_timeout=0.2)
    with live.raw_logged_in() as raw:
        raw.cmd("PASV")
        reply = raw.cmd("NLST")
        if reply.startswith("150"):
            reply = raw.reply()
        assert reply.startswith("425"), reply
        assert raw.cmd("NOOP").startswith("200")


def test_tls_server_accepts_before_the_command(live_server: StartServer) -> None:
    """With PROT P the client's handshake may come before RETR (aioftp does so): the
    server must have accepted the connection already to answer it."""
    server_context, client_context = tls_contexts("FTPS")
    live = live_server(ssl=server_context, wait_future_timeout=2)
    live.put("/a.bin", DATA)
    ftp = tls_ftp(live, client_context, timeout=5)
    try:
        ftp.voidcmd("TYPE I")
        host, port = ftp.makepasv()
        plain = socket.create_connection((host, port), timeout=5)
        # The handshake completes before any transfer command was sent.
        data = client_context.wrap_socket(plain, server_hostname="127.0.0.1")
        try:
            assert data.version() is not None
            assert ftp.sendcmd("RETR a.bin").startswith("150")
            assert recv_all(data) == DATA
            data.unwrap()
        finally:
            data.close()
        assert ftp.voidresp().startswith("226")
        ftp.quit()
    finally:
        ftp.close()
