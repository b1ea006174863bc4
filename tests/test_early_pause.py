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
from asyncio import selector_events
from typing import Any

import pytest
from conftest import StartServer, trickled_upload


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
    sent = trickled_upload(srv, "trickle.bin")
    assert srv.read("/trickle.bin") == sent


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
