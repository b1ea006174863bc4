"""Uploads stay whole on Pythons whose transports ignore an early pause_reading().

Python 3.10 and 3.11 before a bugfix release (Debian 12's 3.11.2 among them) register a
new socket transport's reader one loop turn after making it without looking at
pause_reading() called in between (CPython gh-103607). The tmp_path backend pauses a
fresh data transport to splice(2) from its socket: on those Pythons the transport read
the upload too, and the file kept what splice saw first. These tests give the transport
the old behaviour on any Python.
"""

from __future__ import annotations

import io
import os
import socket
import time
from asyncio import selector_events
from typing import Any

import pytest
from conftest import StartServer, parse_pasv


@pytest.fixture
def old_transports(monkeypatch: pytest.MonkeyPatch) -> None:
    def add_reader_ignoring_pause(self: Any, fd: int, callback: Any, *args: Any) -> None:
        if self._closing:
            return
        self._loop._add_reader(fd, callback, *args)

    monkeypatch.setattr(
        selector_events._SelectorTransport, "_add_reader", add_reader_ignoring_pause
    )


@pytest.mark.usefixtures("old_transports")
def test_a_trickled_upload_is_whole(live_server: StartServer) -> None:
    srv = live_server()
    pieces = [os.urandom(n) for n in (1, 2, 3, 1000, 1, 65536, 7, 0, 5)]
    with srv.raw_logged_in() as raw:
        raw.cmd("TYPE I")
        host, port = parse_pasv(raw.cmd("PASV"))
        with socket.create_connection((host, port), timeout=5) as data:
            data.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            raw.send("STOR trickle.bin\r\n")
            assert raw.reply()[:3] in {"125", "150"}
            for piece in pieces:
                data.sendall(piece)
                time.sleep(0.02)
        assert raw.reply().startswith("226")
    assert srv.read("/trickle.bin") == b"".join(pieces)


@pytest.mark.usefixtures("old_transports")
def test_ftplib_uploads_are_whole(live_server: StartServer) -> None:
    srv = live_server()
    blobs = {f"f{i}.bin": os.urandom(size) for i, size in enumerate((0, 1, 70_000, 3 << 20))}
    with srv.ftp(timeout=30) as ftp:
        for name, blob in blobs.items():
            ftp.storbinary(f"STOR {name}", io.BytesIO(blob))
        ftp.storbinary("APPE f1.bin", io.BytesIO(b"more"))
    for name, blob in blobs.items():
        expected = blob + b"more" if name == "f1.bin" else blob
        assert srv.read(f"/{name}") == expected, name
