"""idle_timeout, socket_timeout, path_timeout and wait_future_timeout."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import pathlib
import socket
import time
from typing import Any

import pytest
from conftest import StartServer, parse_pasv, wait_until

# --------------------------------------------------------------------------- idle_timeout


def test_idle_session_is_closed_with_421(live_server: StartServer) -> None:
    live = live_server(idle_timeout=0.5)
    with live.raw_logged_in() as raw:
        started = time.monotonic()
        reply = raw.reply()  # nothing sent: the next thing heard is the server's goodbye
        assert reply.startswith("421"), reply
        assert raw.closed_by_peer()
        assert 0.3 < time.monotonic() - started < 5
    assert wait_until(lambda: live.stats.connections_active == 0)


def test_idle_timeout_before_login(live_server: StartServer) -> None:
    live = live_server(idle_timeout=0.5)
    with live.raw() as raw:
        assert raw.reply().startswith("421")
        assert raw.closed_by_peer()


def test_activity_keeps_the_session_alive(live_server: StartServer) -> None:
    live = live_server(idle_timeout=0.6)
    with live.raw_logged_in() as raw:
        for _ in range(8):  # 1.6 s in all, never 0.6 s of silence
            time.sleep(0.2)
            assert raw.cmd("NOOP").startswith("200")


def test_throttled_download_outlasting_idle_timeout_completes(
    live_server: StartServer,
) -> None:
    live = live_server(idle_timeout=0.5, write_speed_limit_per_connection=100_000)
    payload = os.urandom(150_000)  # about 1.5 s, three idle timeouts
    live.put("/slow.bin", payload)
    with live.ftp() as ftp:
        buf = io.BytesIO()
        ftp.retrbinary("RETR slow.bin", buf.write)
        assert buf.getvalue() == payload
        # the session is still alive right after the transfer
        assert ftp.sendcmd("NOOP").startswith("200")


def test_throttled_upload_outlasting_idle_timeout_completes(
    live_server: StartServer,
) -> None:
    live = live_server(idle_timeout=0.5, read_speed_limit_per_connection=100_000)
    payload = os.urandom(200_000)
    with live.ftp() as ftp:
        assert ftp.storbinary("STOR slow.bin", io.BytesIO(payload)).startswith("226")
    assert live.read("/slow.bin") == payload


def test_idle_after_transfer_still_times_out(live_server: StartServer) -> None:
    live = live_server(idle_timeout=0.5)
    live.put("/f.txt", b"f")
    with live.raw_logged_in() as raw:
        host, port = parse_pasv(raw.cmd("PASV"))
        with socket.create_connection((host, port), timeout=5) as data:
            raw.send("RETR f.txt\r\n")
            raw.reply()
            while data.recv(1000):
                pass
        assert raw.reply().startswith("226")
        assert raw.reply().startswith("421")


# --------------------------------------------------------------------------- wait_future


def test_pasv_nobody_connects_gets_425(live_server: StartServer) -> None:
    live = live_server(wait_future_timeout=0.3)
    live.put("/f.txt", b"f")
    with live.raw_logged_in() as raw:
        assert raw.cmd("PASV").startswith("227")
        started = time.monotonic()
        reply = raw.cmd("RETR f.txt")
        if reply[:3] in {"125", "150"}:
            reply = raw.reply()
        assert reply.startswith("425"), reply
        assert time.monotonic() - started < 5
        assert raw.cmd("NOOP").startswith("200")
        # and the session can still transfer normally
        host, port = parse_pasv(raw.cmd("PASV"))
        with socket.create_connection((host, port), timeout=5) as data:
            raw.send("RETR f.txt\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            assert data.recv(10) == b"f"
        assert raw.reply().startswith("226")


def test_epsv_nobody_connects_gets_425(live_server: StartServer) -> None:
    live = live_server(wait_future_timeout=0.3)
    with live.raw_logged_in() as raw:
        assert raw.cmd("EPSV").startswith("229")
        reply = raw.cmd("LIST")
        if reply[:3] in {"125", "150"}:
            reply = raw.reply()
        assert reply.startswith("425"), reply
        assert raw.cmd("NOOP").startswith("200")


def test_port_to_a_closed_port_gets_425(live_server: StartServer) -> None:
    live = live_server(wait_future_timeout=0.5)
    live.put("/f.txt", b"f")
    with socket.create_server(("127.0.0.1", 0)) as probe:
        dead = probe.getsockname()[1]
    with live.raw_logged_in() as raw:
        assert raw.cmd(f"PORT 127,0,0,1,{dead // 256},{dead % 256}").startswith("200")
        reply = raw.cmd("RETR f.txt")
        if reply[:3] in {"125", "150"}:
            reply = raw.reply()
        assert reply.startswith("425"), reply
        assert raw.cmd("NOOP").startswith("200")


def test_passive_port_is_released_after_425(live_server: StartServer) -> None:
    live = live_server(wait_future_timeout=0.3)
    with live.raw_logged_in() as raw:
        _, port = parse_pasv(raw.cmd("PASV"))
        reply = raw.cmd("LIST")
        if reply[:3] in {"125", "150"}:
            reply = raw.reply()
        assert reply.startswith("425")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --------------------------------------------------------------------------- socket_timeout


def test_stalled_download_reader_is_given_up(live_server: StartServer) -> None:
    live = live_server(backend="memory", socket_timeout=0.5)
    live.put("/huge.bin", b"h" * (24 * 1024 * 1024))
    with live.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        host, port = parse_pasv(raw.cmd("PASV"))
        data = socket.socket()
        data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        data.settimeout(5)
        data.connect((host, port))
        with data:
            raw.send("RETR huge.bin\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            # never read: the server's writes stall and socket_timeout ends the transfer
            raw.sock.settimeout(15)
            reply = raw.reply()
            assert reply[:3] in {"426", "451"}, reply
        raw.sock.settimeout(5)
        assert raw.cmd("NOOP").startswith("200")


def test_stalled_upload_sender_is_given_up(live_server: StartServer) -> None:
    live = live_server(socket_timeout=0.5)
    with live.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        host, port = parse_pasv(raw.cmd("PASV"))
        with socket.create_connection((host, port), timeout=5) as data:
            raw.send("STOR stalled.bin\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            data.sendall(b"s" * 1000)
            # then silence on the data connection, which stays open
            raw.sock.settimeout(10)
            reply = raw.reply()
            assert reply[:3] in {"426", "451"}, reply
        raw.sock.settimeout(5)
        assert raw.cmd("NOOP").startswith("200")
    stored = live.read("/stalled.bin")
    assert stored == b"s" * len(stored)


# --------------------------------------------------------------------------- path_timeout


def slow_memory_factory(delay: float) -> Any:
    from pytest_ftpserver import MemoryPathIO

    class SlowMemory(MemoryPathIO):  # type: ignore[misc]
        slow = False

        async def list(self, path: pathlib.Path) -> Any:
            if self.slow:
                await asyncio.sleep(delay)
            return await super().list(path)

        async def stat(self, path: pathlib.Path) -> Any:
            if self.slow:
                await asyncio.sleep(delay)
            return await super().stat(path)

    return SlowMemory


def test_path_timeout_bounds_backend_calls(live_server: StartServer) -> None:
    live = live_server(
        backend="memory", path_io_factory=slow_memory_factory(3.0), path_timeout=0.3
    )
    live.put("/f.txt", b"f")
    with live.raw_logged_in() as raw:
        live.path_io.slow = True
        for command in ("SIZE f.txt", "MDTM f.txt", "MLST f.txt", "CWD /"):
            started = time.monotonic()
            reply = raw.cmd(command)
            assert reply[:3] in {"451", "550"}, (command, reply)
            assert time.monotonic() - started < 2.5, command
        live.path_io.slow = False
        assert raw.cmd("SIZE f.txt") == "213 1"


def test_path_timeout_on_listing(live_server: StartServer) -> None:
    live = live_server(
        backend="memory", path_io_factory=slow_memory_factory(3.0), path_timeout=0.3
    )
    with live.ftp() as ftp:
        live.path_io.slow = True
        started = time.monotonic()
        with contextlib.suppress(Exception):
            ftp.nlst()
        assert time.monotonic() - started < 2.5
        live.path_io.slow = False
        assert ftp.sendcmd("NOOP").startswith("200")
        assert ftp.nlst() == []
