"""Run with ``pytest -n 2``: every test, in every worker, has its own server and tree."""

import ftplib
import io
import os

import pytest


@pytest.mark.parametrize("n", range(8))
def test_isolated(ftp_server, n):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        ftp.storbinary("STOR same-name.txt", io.BytesIO(str(n).encode()))
        assert ftp.nlst() == ["same-name.txt"]  # nobody else's files here

    assert ftp_server.read("same-name.txt") == str(n).encode()
    assert os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw")
