"""Regressions found reviewing the commits after 36dc57d (early greeting, QUIT counted out
before its 221, log recorded before each reply, the early-pause and TLS workarounds).

Each test talks to a real server over loopback; the TLS ones need trustme (test extra).
A TLS control connection whose client has read the 221 but not closed its socket keeps
the session open on the server (its TLS shutdown waits for the client's close_notify):
that makes the moment between "221 sent" and "socket closed" last as long as the test
needs, without timing anything.
"""

from __future__ import annotations

import ftplib
import socket
import ssl
from typing import Any

import pytest
from conftest import StartServer, tls_contexts

from pytest_ftpserver import Server


def _tls_client(live: Any, context: ssl.SSLContext, timeout: float = 10.0) -> ftplib.FTP_TLS:
    ftp = ftplib.FTP_TLS(context=context, timeout=timeout)
    try:
        ftp.connect(live.host, live.port)
        ftp.login(live.login, live.password)
    except BaseException:
        ftp.close()
        raise
    return ftp


def test_a_session_counted_out_at_its_221_leaves_room_for_the_next(
    live_server: StartServer,
) -> None:
    server_context, client_context = tls_contexts("the FTPS cases")
    live = live_server(backend="memory", ssl=server_context, maximum_connections=1)
    first = _tls_client(live, client_context)
    try:
        # sendcmd, not quit(): the client keeps its socket after the 221.
        assert first.sendcmd("QUIT").startswith("221")
        assert live.stats.connections_active == 0  # counted out before the 221 (by design)
        with socket.create_connection((live.host, live.port), timeout=10) as second:
            reply = second.makefile("rb").readline()
        # The stats say there is room; the server must agree.
        assert reply.startswith(b"220 "), reply
    finally:
        first.close()


def test_quit_during_a_transfer_is_counted_out_like_any_quit(live_server: StartServer) -> None:
    server_context, client_context = tls_contexts("the FTPS cases")
    live = live_server(backend="memory", ssl=server_context)
    ftp = _tls_client(live, client_context)  # control in TLS, data in clear (PROT C)
    try:
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR upload.bin")  # 150 read: the transfer is on
        try:
            conn.sendall(b"x" * 1000)
            assert ftp.sock is not None
            ftp.sock.sendall(b"QUIT\r\n")
        finally:
            conn.close()  # the upload ends; QUIT is answered after its reply (RFC 959)
        replies = [ftp.getline() for _ in range(2)]
        assert replies[0].startswith("226"), replies
        assert replies[1].startswith("221"), replies
        assert live.read("/upload.bin") == b"x" * 1000
        # As after a QUIT between commands (test_log_access): gone once the 221 is read.
        assert live.stats.connections_active == 0
    finally:
        ftp.close()


def test_abor_right_after_a_protected_upload_starts_is_answered(
    live_server: StartServer,
) -> None:
    server_context, client_context = tls_contexts("the FTPS cases")
    live = live_server(backend="memory", ssl=server_context)
    for attempt in range(5):  # bounded; the race is lost nearly every time on loopback
        ftp = _tls_client(live, client_context, timeout=5)
        try:
            ftp.prot_p()
            ftp.voidcmd("TYPE I")
            conn = ftp.transfercmd(f"STOR upload{attempt}.bin")  # TLS handshake done
            try:
                conn.sendall(b"x" * 10)
                # What FTP_TLS.abort() sends (no urgent byte over TLS).
                assert ftp.sock is not None
                ftp.sock.sendall(b"ABOR\r\n")
                try:
                    replies = [ftp.getline() for _ in range(2)]
                except TimeoutError:
                    replies = ["(no reply to ABOR within 5 s)"]
            finally:
                conn.close()
        finally:
            ftp.close()
        assert replies[0].startswith("426") and replies[-1].startswith("226"), (
            attempt,
            replies,
        )


def test_the_last_failed_login_is_in_the_log_before_any_reply_to_it(
    live_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_ftpserver.server.session import Session

    live = live_server(backend="memory", login_failure_delay=0, max_login_failures=1)
    last_logged: list[tuple[int, str | None]] = []
    send = Session._send

    def spying_send(self: Session, code: int, text: str) -> None:
        log = self.server.log
        last_logged.append((code, log[-1].verb if log else None))
        send(self, code, text)

    monkeypatch.setattr(Session, "_send", spying_send)
    client = live.raw()
    try:
        assert client.cmd(f"USER {live.login}").startswith("331")
        client.send("PASS wrong password\r\n")
        replies: list[str] = []
        for _ in range(5):  # bounded: the server closes after its replies
            try:
                replies.append(client.line())
            except (EOFError, ConnectionError):
                break
    finally:
        client.close()
    assert replies and replies[-1].startswith("421"), replies
    sent_for_pass = [entry for entry in last_logged if entry[0] in (530, 421)]
    assert sent_for_pass, last_logged
    # When each reply to the PASS went out, the PASS was in the log already.
    assert all(verb == "PASS" for _, verb in sent_for_pass), last_logged


@pytest.mark.parametrize(
    ("ports", "error"),
    [([], ValueError), ([70000], ValueError), ([0], ValueError), ([True], TypeError),
     ("2121", TypeError)],
)
def test_a_passive_port_range_that_cannot_work_is_refused_up_front(
    ports: Any, error: type[Exception]
) -> None:
    # An empty range dropped the session at PASV (ValueError out of data_received), a
    # port past 65535 would have too (OverflowError): both are refused when made now.
    with pytest.raises(error, match="passive_ports"):
        Server(passive_ports=ports)
