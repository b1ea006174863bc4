"""The safe defaults, seen from a client."""

import ftplib
import os

import pytest

from pytest_ftpserver.protocol import MAX_LINE_LENGTH


def login(ftp_server):
    ftp = ftplib.FTP()
    ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
    ftp.login(ftp_server.login, ftp_server.password)
    return ftp


def test_three_wrong_passwords_and_out(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        for _ in range(2):
            with pytest.raises(ftplib.error_perm, match=r"^530"):
                ftp.login(ftp_server.login, "wrong")
        with pytest.raises(ftplib.error_perm, match=r"^530"):
            ftp.login(ftp_server.login, "wrong")  # the third failure...
        assert ftp.getline().startswith("421")  # ...closes the connection
    assert ftp_server.stats.failed_logins == 3


def test_active_mode_only_to_the_client_itself(ftp_server):
    with login(ftp_server) as ftp:
        # Another host (127.0.0.2 stands for one here): an FTP bounce attempt.
        with pytest.raises(ftplib.error_perm, match=r"^504"):
            ftp.sendcmd("PORT 127,0,0,2,195,80")
        # A privileged port on the client's own address.
        with pytest.raises(ftplib.error_perm, match=r"^504"):
            ftp.sendcmd("PORT 127,0,0,1,0,25")
        assert ftp.sendcmd("PORT 127,0,0,1,195,80").startswith("200")


def test_overlong_command_lines_are_refused(ftp_server):
    with login(ftp_server) as ftp:
        ftp.putline("NOOP " + "x" * MAX_LINE_LENGTH)  # 8 KiB and more
        assert ftp.getline().startswith("500 Command line too long")
        assert ftp.voidcmd("NOOP").startswith("200")  # the session goes on


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks_do_not_lead_out_of_the_root(ftp_server, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours")
    (ftp_server.root / "escape.txt").symlink_to(outside)

    with login(ftp_server) as ftp, pytest.raises(ftplib.error_perm, match=r"^550"):
        ftp.retrbinary("RETR escape.txt", lambda block: None)

