"""Faults: make the server fail, stall or cut a transfer, and test the client's recovery."""

import ftplib
import io

import pytest


def fetch(server, path, attempts=3):
    """The code under test: downloads a file, retrying on 4xx replies."""
    for attempt in range(attempts):
        try:
            with ftplib.FTP(timeout=5) as ftp:
                ftp.connect(server.host, server.port)
                ftp.login(server.login, server.password)
                data = io.BytesIO()
                ftp.retrbinary(f"RETR {path}", data.write)
                return data.getvalue()
        except ftplib.error_temp:
            if attempt == attempts - 1:
                raise


def test_retries_after_temporary_failures(ftp_server):
    ftp_server.put("data.json", b"{}")
    ftp_server.fail("RETR", 421, times=2)  # the next two RETR get "421"

    assert fetch(ftp_server, "data.json") == b"{}"
    ftp_server.assert_received("RETR", "data.json", count=3)


def test_gives_up_eventually(ftp_server):
    ftp_server.put("data.json", b"{}")
    ftp_server.fail("RETR", 450, "Busy.", times=None)  # every RETR, until reset_faults()

    with pytest.raises(ftplib.error_temp, match=r"^450 Busy"):
        fetch(ftp_server, "data.json")


def test_times_out_on_a_stalled_server(ftp_server):
    ftp_server.delay("PASV", 10)  # the reply to PASV comes 10 s late

    with ftplib.FTP(timeout=0.5) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        with pytest.raises(TimeoutError):
            ftp.nlst()


def test_resumes_a_cut_download(ftp_server):
    ftp_server.put("video.bin", bytes(100_000))
    ftp_server.cut("RETR", after_bytes=40_000)  # data connection closed, then 426

    received = bytearray()
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        with pytest.raises(ftplib.error_temp, match="426"):
            ftp.retrbinary("RETR video.bin", received.extend)
        ftp.retrbinary("RETR video.bin", received.extend, rest=len(received))  # REST 40000

    assert len(received) == 100_000
