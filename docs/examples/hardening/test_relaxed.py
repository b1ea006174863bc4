"""Relaxing the defaults, for tests that need another behaviour."""

import ftplib

import pytest


@pytest.mark.ftp_server(max_login_failures=10, login_failure_delay=0.1)
def test_a_client_that_retries_its_login(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        for _ in range(5):  # each failure is answered 0.1 s late
            with pytest.raises(ftplib.error_perm, match=r"^530"):
                ftp.login(ftp_server.login, "wrong")
        ftp.login(ftp_server.login, ftp_server.password)


@pytest.mark.ftp_server(allow_foreign_addresses=True, allow_privileged_ports=True)
def test_active_mode_to_anywhere(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        assert ftp.sendcmd("PORT 127,0,0,2,0,25").startswith("200")  # FXP-style setups
