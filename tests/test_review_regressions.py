"""Regressions found reviewing the performance commits (listen(), _Acceptor, quick close).

Each test talks to a real server over loopback sockets.
"""

from __future__ import annotations

import asyncio
import pathlib
import socket
from typing import Any

import pytest
from conftest import tls_contexts


def _closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Read until the server ends the connection (EOF or reset); False on timeout."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


@pytest.mark.asyncio
@pytest.mark.parametrize("turns", range(6))
async def test_close_ends_a_connection_accepted_just_before(
    tmp_path: pathlib.Path, turns: int
) -> None:
    """A connection the acceptor took just before ``close()`` must not outlive the server.

    ``_Acceptor._accept`` makes the transport at once, but ``Session.connection_made``
    (where the session joins ``server._sessions``) runs a loop turn later. A ``close()``
    (or the fixture's ``_close_if_idle``) in between sees no session, closes the listener
    and returns; then ``connection_made`` runs, greets the client with 220 and the session
    lives on, served by a closed server that nobody will close again.
    """
    from pytest_ftpserver import MemoryPathIO, Server, User

    server = Server([User("user", "pass", base_path=tmp_path)], path_io_factory=MemoryPathIO)
    await server.start()
    client = socket.create_connection(server.address[:2], timeout=5)
    try:
        for _ in range(turns):  # let the acceptor run, but not (yet) connection_made
            await asyncio.sleep(0)
        await server.close()
        for _ in range(10):
            await asyncio.sleep(0)
        leftover = len(server._sessions)
        closed = await asyncio.to_thread(_closed_by_peer, client, 2.0)
        assert leftover == 0 and closed, (
            f"after close(): {leftover} session(s) still open, "
            f"client connection {'closed' if closed else 'still served'}"
        )
    finally:
        client.close()
        for session in list(server._sessions):  # do not leak the fd if the test failed
            session.close()
        await asyncio.sleep(0)


def test_listing_after_prot_p_on_a_channel_connected_before_it(live_server: Any) -> None:
    """PROT P sent after the client connected the passive data channel (which was
    accepted in clear, PROT C) must still give a TLS listing, as it did before listings
    went to the raw accepted socket.

    ``_passive_ready`` keeps the accepted socket raw when ``_protect_data`` is off at
    accept time; ``_open_data`` does not attach a transport for LIST/NLST/MLSD, then sees
    ``_protect_data`` on and calls ``_wrap_tls``, whose ``assert connection.transport``
    fails: 451, an AssertionError in ``server.errors``, and the raw socket is never
    closed (``_send_listing`` calls ``_open_data`` outside its try).
    """
    import ftplib

    server_context, client_context = tls_contexts("the TLS data-channel case")

    live = live_server(ssl=server_context)
    live.put("a.txt", b"1")
    ftp = ftplib.FTP_TLS(context=client_context, timeout=5)
    try:
        ftp.connect(live.host, live.port)
        ftp.login("user", "pass")
        ftp.prot_c()
        port = int(ftp.sendcmd("EPSV").split("|")[3])
        data = socket.create_connection((live.host, port), timeout=5)
        try:
            assert ftp.sendcmd("NOOP").startswith("200")  # accepted (in clear) by now
            assert ftp.sendcmd("PROT P").startswith("200")
            assert ftp.sendcmd("NLST").startswith("150")
            secure = client_context.wrap_socket(data, server_hostname="127.0.0.1")
            data = secure
            received = b""
            while chunk := secure.recv(65536):
                received += chunk
            assert received == b"a.txt\r\n"
            secure.unwrap().close()
        finally:
            data.close()
        assert ftp.voidresp().startswith("226")
        ftp.quit()
    finally:
        ftp.close()


def test_custom_backend_may_use_asyncio_timeout(live_server: Any) -> None:
    """A backend (``path_io_factory``, documented as extensible) whose coroutines use
    ``asyncio.timeout()`` must work: it did while every async command had its own task.

    Since commands start eagerly, on Python < 3.12 ``Session._start`` sends the handler
    its first step outside any task (``asyncio.current_task()`` is None, or, for a command
    taken from the queue, the previous command's finished driver task), and
    ``asyncio.timeout()`` raises "Timeout should be used inside a task": every command
    touching storage answers 451 and lands in ``server.errors``.
    """
    timeout: Any = getattr(asyncio, "timeout", None)
    if timeout is None:
        pytest.skip("the custom backend in this test uses asyncio.timeout(), new in Python 3.11")
    from pytest_ftpserver import MemoryPathIO

    class TimedPathIO(MemoryPathIO):
        async def stat(self, path: pathlib.Path) -> Any:
            async with timeout(30):
                return await super().stat(path)

    live = live_server(backend="memory", path_io_factory=TimedPathIO)
    live.put("a.txt", b"abc")
    with live.ftp() as ftp:
        assert ftp.sendcmd("SIZE a.txt") == "213 3"
