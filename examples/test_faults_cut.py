"""cut(): a transfer broken half way (426), or a control connection dropped."""

import ftplib

import pytest


def test_resume_a_broken_download(ftp_server):
    ftp_server.put("video.bin", bytes(range(256)) * 400)  # 102,400 bytes
    ftp_server.cut("RETR", after_bytes=40_000)  # close the data connection there, reply 426

    received = bytearray()
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        with pytest.raises(ftplib.error_temp, match=r"^426"):
            ftp.retrbinary("RETR video.bin", received.extend)
        assert len(received) == 40_000
        # Resume where it stopped: REST 40000, then RETR.
        ftp.retrbinary("RETR video.bin", received.extend, rest=len(received))

    assert bytes(received) == bytes(range(256)) * 400
    ftp_server.assert_received("REST", "40000")


def test_connection_dropped(ftp_server):
    ftp_server.cut("CWD")  # not a transfer verb: the server hangs up without a reply

    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        with pytest.raises((EOFError, ConnectionError)):
            ftp.cwd("/")
