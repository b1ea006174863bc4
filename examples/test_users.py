"""Users: ``ftp_user`` markers replace the default users (``user`` + ``anonymous``)."""

import ftplib
import io

import pytest

from pytest_ftpserver import Permission


@pytest.mark.ftp_user("alice", "wonderland", home_path="/alice")
@pytest.mark.ftp_user("viewer", "look", permissions=[Permission("/", writable=False)])
def test_two_users(ftp_server):
    # the top-most ftp_user is the handle's login/password
    assert (ftp_server.login, ftp_server.password) == ("alice", "wonderland")

    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login("alice", "wonderland")
        assert ftp.pwd() == "/alice"  # home_path directories are created
        ftp.storbinary("STOR notes.txt", io.BytesIO(b"hello"))

    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login("viewer", "look")
        assert ftp.nlst("/alice") in (["notes.txt"], ["/alice/notes.txt"])
        with pytest.raises(ftplib.error_perm):
            ftp.storbinary("STOR /alice/graffiti.txt", io.BytesIO(b"!"))


def test_default_users(ftp_server):
    with ftplib.FTP() as ftp:  # a named user with a generated password...
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login(ftp_server.login, ftp_server.password)
    with ftplib.FTP() as ftp:  # ...and anonymous, both read-write
        ftp.connect(ftp_server.host, ftp_server.port)
        ftp.login()
