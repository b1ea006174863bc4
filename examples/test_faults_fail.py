"""fail(): the next N commands with a verb get the reply you choose instead of running."""

import ftplib
import io

import pytest


def fetch(server, path, attempts=3):
    """The code under test: downloads a file, retrying on temporary (4xx) errors."""
    for attempt in range(attempts):
        try:
            with ftplib.FTP() as ftp:
                ftp.connect(server.host, server.port, timeout=10)
                ftp.login(server.login, server.password)
                data = io.BytesIO()
                ftp.retrbinary(f"RETR {path}", data.write)
                return data.getvalue()
        except ftplib.error_temp:
            if attempt == attempts - 1:
                raise


def test_retries_after_two_failures(ftp_server):
    ftp_server.put("data.json", b"{}")
    ftp_server.fail("RETR", 421, times=2)  # the next two RETR get "421 Service not available"

    assert fetch(ftp_server, "data.json") == b"{}"
    ftp_server.assert_received("RETR", "data.json", count=3)


def test_gives_up_in_the_end(ftp_server):
    ftp_server.put("data.json", b"{}")
    ftp_server.fail("RETR", 450, "Try later.", times=None)  # every RETR, until reset

    with pytest.raises(ftplib.error_temp, match=r"^450 Try later."):
        fetch(ftp_server, "data.json")

    ftp_server.reset_faults()
    assert fetch(ftp_server, "data.json") == b"{}"


def test_a_failed_login(ftp_server):
    ftp_server.fail("PASS", 530)  # even the right password is refused, once
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        with pytest.raises(ftplib.error_perm, match=r"^530"):
            ftp.login(ftp_server.login, ftp_server.password)
        ftp.login(ftp_server.login, ftp_server.password)  # the second try works
