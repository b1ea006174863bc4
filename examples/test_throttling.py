"""Throttling: speed limits in bytes per second ("write" = what the server sends)."""

import ftplib
import time

import pytest


@pytest.mark.ftp_server(write_speed_limit_per_connection=200_000)
def test_slow_download(ftp_server):
    ftp_server.put("big.bin", b"x" * 100_000)

    started = time.monotonic()
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        ftp.retrbinary("RETR big.bin", lambda chunk: None)
    elapsed = time.monotonic() - started

    # 100 kB at 200 kB/s: about half a second. The timing is the behaviour tested here,
    # so only a generous lower bound is checked.
    assert elapsed >= 0.3
