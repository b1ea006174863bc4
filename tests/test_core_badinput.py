"""Bad input and vanishing clients: a clear refusal, the session (or server) goes on."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import time

import pytest
from conftest import BACKEND_NAMES, LiveServer, RawClient, StartServer, parse_pasv, wait_until

LIMIT = 8192


@pytest.fixture
def srv(live_server: StartServer) -> LiveServer:
    live = live_server()
    live.put("/file.bin", os.urandom(1_000_000))
    return live


def server_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records
        if r.name.startswith("pytest_ftpserver") and r.levelno >= level
    ]


def test_overlong_line_gets_500_and_session_goes_on(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        reply = raw.cmd("NOOP " + "a" * (LIMIT + 1000))
        assert reply.startswith("500"), reply
        assert raw.cmd("NOOP").startswith("200")
        assert raw.cmd("PWD").startswith('257 "/"')


def test_line_at_the_limit_is_accepted(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        line = "CWD /" + "/" * (LIMIT - len("CWD /"))
        assert len(line) == LIMIT
        assert raw.cmd(line).startswith("250")


def test_unterminated_flood_is_refused_before_it_ends(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        # 1 MiB without a line end: the server must answer long before we stop
        chunk = b"x" * 65536
        raw.sock.settimeout(5)
        refused = ""
        for _ in range(16):
            try:
                raw.send(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            raw.sock.setblocking(False)
            try:
                data = raw.sock.recv(65536)
            except BlockingIOError:
                data = b""
            finally:
                raw.sock.settimeout(5)
            if data:
                raw.buffer += data
                refused = raw.line()
                break
        if not refused:
            refused = raw.line()
        assert refused.startswith("500"), refused
        # the rest of that line is dropped; the session is still there for the next one
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            raw.send(b"\r\nNOOP\r\n")
        codes = []
        for _ in range(5):
            reply = raw.reply()
            codes.append(reply[:3])
            if reply.startswith("200"):
                break
        assert codes[-1] == "200", codes


def test_many_overlong_lines_in_a_row(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.send(("A" * (LIMIT * 2) + "\r\n") * 20 + "NOOP\r\n")
        replies = [raw.reply()[:3] for _ in range(21)]
    assert replies == ["500"] * 20 + ["200"]


@pytest.mark.parametrize(
    "line",
    [b"MKD \x80\x81abc", b"\xc3\x28", b"CWD \xed\xa0\x80", b"STOR \xfe\xfe.bin", b"US\xe9R x"],
)
def test_non_utf8_gets_an_error_and_session_goes_on(srv: LiveServer, line: bytes) -> None:
    before = srv.names("/")
    with srv.raw_logged_in() as raw:
        raw.send(line + b"\r\n")
        reply = raw.reply()
        assert reply[:3] in {"500", "501", "550", "553"}, reply
        assert raw.cmd("NOOP").startswith("200")
    assert srv.names("/") == before


def test_empty_line_and_lowercase_and_bare_lf(srv: LiveServer) -> None:
    with srv.raw_logged_in() as raw:
        raw.send(b"\r\n")
        assert raw.reply()[:3] in {"500", "501"}
        assert raw.cmd("noop").startswith("200")
        raw.send(b"NOOP\n")  # some clients end lines with LF alone
        assert raw.reply().startswith("200")
        assert raw.cmd("pWd").startswith("257")


@pytest.mark.parametrize(
    "script",
    [
        b"NOO",
        b"USER user\r\n",
        b"USER user\r\nPASS pass\r\nPASV\r\n",
        b"USER user\r\nPASS pass\r\nRETR file.bin\r\n",
        b"USER user\r\nPASS pass\r\nCWD " + b"/" * 5000,
    ],
)
@pytest.mark.parametrize("how", ["fin", "rst"])
def test_abrupt_disconnect_is_ordinary(
    srv: LiveServer, caplog: pytest.LogCaptureFixture, script: bytes, how: str
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = srv.raw()
    raw.send(script)
    time.sleep(0.05)
    if how == "rst":
        raw.reset()
    else:
        raw.close()
    assert wait_until(lambda: srv.stats.connections_active == 0)
    with srv.ftp() as ftp:
        assert ftp.sendcmd("NOOP").startswith("200")
    # an ordinary event: at most DEBUG/INFO, never a warning with a traceback
    noisy = server_records(caplog, logging.WARNING)
    assert not noisy, [r.getMessage() for r in noisy]
    assert not [r for r in caplog.records if r.exc_info and r.levelno > logging.DEBUG]


@pytest.mark.parametrize("side", ["control", "data", "both"])
def test_vanishing_mid_download(
    live_server: StartServer, caplog: pytest.LogCaptureFixture, side: str
) -> None:
    caplog.set_level(logging.DEBUG)
    # throttled, so the transfer is surely still running when the client vanishes
    live = live_server(write_speed_limit_per_connection=200_000)
    live.put("/file.bin", os.urandom(1_000_000))
    raw = live.raw_logged_in()
    data = None
    try:
        raw.cmd("TYPE I")
        host, port = parse_pasv(raw.cmd("PASV"))
        data = socket.create_connection((host, port), timeout=5)
        raw.send("RETR file.bin\r\n")
        assert raw.reply()[:3] in {"125", "150"}
        data.recv(1000)
        if side in {"data", "both"}:
            data.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            data.close()
        if side in {"control", "both"}:
            raw.reset()
        else:
            reply = raw.reply()
            assert reply[:3] in {"426", "451"}, reply
            assert raw.cmd("NOOP").startswith("200")
    finally:
        raw.close()
        if data is not None:
            data.close()
    assert wait_until(lambda: live.stats.connections_active == 0)
    with live.ftp() as ftp:
        assert ftp.size("file.bin") == 1_000_000
    noisy = server_records(caplog, logging.WARNING)
    assert not noisy, [r.getMessage() for r in noisy]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_cut_off_upload_keeps_exactly_the_bytes_received(
    live_server: StartServer, backend: str
) -> None:
    live = live_server(backend=backend)
    payload = os.urandom(300_000)
    sent = 120_000
    raw = live.raw_logged_in()
    raw.cmd("TYPE I")
    host, port = parse_pasv(raw.cmd("PASV"))
    data = socket.create_connection((host, port), timeout=5)
    raw.send("STOR cut.bin\r\n")
    assert raw.reply()[:3] in {"125", "150"}
    data.sendall(payload[:sent])
    # wait until the server has taken every byte in, then vanish without a goodbye
    assert wait_until(lambda: live.stats.bytes_received >= sent)
    data.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    data.close()
    raw.reset()
    assert wait_until(lambda: live.stats.connections_active == 0)
    assert live.read("/cut.bin") == payload[:sent]


def test_upload_closed_early_by_client_is_a_complete_file(srv: LiveServer) -> None:
    """A FIN on the data connection ends a stream-mode upload: that is the whole file."""
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        host, port = parse_pasv(raw.cmd("PASV"))
        with socket.create_connection((host, port), timeout=5) as data:
            raw.send("STOR whole.bin\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            data.sendall(b"w" * 70_000)
        assert raw.reply().startswith("226")
    assert srv.read("/whole.bin") == b"w" * 70_000


def test_overwrite_cut_off_does_not_corrupt_other_files(srv: LiveServer) -> None:
    original = srv.read("/file.bin")
    raw = srv.raw_logged_in()
    raw.cmd("TYPE I")
    host, port = parse_pasv(raw.cmd("PASV"))
    data = socket.create_connection((host, port), timeout=5)
    raw.send("STOR other.bin\r\n")
    raw.reply()
    data.sendall(b"o" * 10_000)
    data.close()
    raw.reset()
    assert wait_until(lambda: srv.stats.connections_active == 0)
    assert srv.read("/file.bin") == original


def test_connect_and_close_without_a_word(srv: LiveServer) -> None:
    for _ in range(20):
        sock = socket.create_connection((srv.host, srv.port), timeout=5)
        sock.close()
    for _ in range(20):
        client = RawClient(srv.host, srv.port)
        client.reset()
    assert wait_until(lambda: srv.stats.connections_active == 0)
    with srv.ftp() as ftp:
        ftp.storbinary("STOR after.txt", io.BytesIO(b"ok"))
    assert srv.read("/after.txt") == b"ok"
