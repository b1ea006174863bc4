"""IPv6: bind the fixture to ::1 (per test, or for all with --ftp-server-host=::1)."""

import ftplib
import socket

import pytest


def ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback here")
@pytest.mark.ftp_server(host="::1")
def test_over_ipv6(ftp_server):
    assert ftp_server.url == f"ftp://[::1]:{ftp_server.port}"
    ftp_server.put("v6.txt", b"six")

    with ftplib.FTP() as ftp:
        ftp.connect("::1", ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        assert ftp.nlst() == ["v6.txt"]  # ftplib uses EPSV on IPv6; PASV is IPv4 only
