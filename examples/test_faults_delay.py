"""delay(): replies to a verb come late, to test the client's timeouts."""

import ftplib
import socket

import pytest


def test_client_times_out(ftp_server):
    ftp_server.delay("PASV", 5)  # each PASV reply comes 5 s late

    with ftplib.FTP(timeout=0.5) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        with pytest.raises(socket.timeout):
            ftp.nlst()


def test_slow_but_within_the_timeout(ftp_server):
    ftp_server.delay("CWD", 0.2, times=1)  # only the next CWD
    ftp_server.mkdir("/slow")

    with ftplib.FTP(timeout=5) as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
        assert ftp.cwd("/slow").startswith("250")
