"""ftp_user markers: stack them to declare the accounts; they replace the default ones."""

import ftplib
import io

import pytest

from pytest_ftpserver import Permission


def connect(ftp_server, login, password=""):
    ftp = ftplib.FTP()
    ftp.connect(ftp_server.host, ftp_server.port)
    ftp.login(login, password)
    return ftp


@pytest.mark.ftp_user("alice", "wonderland", home_path="/alice")
@pytest.mark.ftp_user("auditor", "s3cret", permissions=[Permission("/", writable=False)])
def test_two_accounts(ftp_server):
    # The top-most ftp_user gives the handle's login and password.
    assert (ftp_server.login, ftp_server.password) == ("alice", "wonderland")

    with connect(ftp_server, "alice", "wonderland") as ftp:
        assert ftp.pwd() == "/alice"  # home directories are created for you
        ftp.storbinary("STOR notes.txt", io.BytesIO(b"hello"))

    with connect(ftp_server, "auditor", "s3cret") as ftp:
        assert ftp.nlst("/alice") == ["notes.txt"]
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.storbinary("STOR /alice/graffiti.txt", io.BytesIO(b"!"))

    with pytest.raises(ftplib.error_perm, match=r"^530"):
        connect(ftp_server, "mallory", "guess")


@pytest.mark.ftp_user()  # login=None: any login name; password=None: no password asked
def test_anyone_may_log_in(ftp_server):
    with connect(ftp_server, "whoever") as ftp:
        ftp.mkd("scratch")
    assert ftp_server.exists("/scratch")


@pytest.mark.ftp_user("reader", "pw", permissions=[
    Permission("/", readable=False, writable=False),  # nothing at all...
    Permission("/pub", writable=False),  # ...but /pub, read only
])
def test_nearest_permission_wins(ftp_server):
    ftp_server.put("/pub/readme.txt", "welcome")
    ftp_server.put("/private/key.txt", "secret")

    with connect(ftp_server, "reader", "pw") as ftp:
        data = io.BytesIO()
        ftp.retrbinary("RETR /pub/readme.txt", data.write)
        assert data.getvalue() == b"welcome"
        with pytest.raises(ftplib.error_perm, match=r"^550"):
            ftp.retrbinary("RETR /private/key.txt", data.write)


def test_without_markers_the_two_default_users(ftp_server):
    with connect(ftp_server, ftp_server.login, ftp_server.password):  # "user", random password
        pass
    with connect(ftp_server, "anonymous") as ftp:  # no password asked; may write too
        ftp.mkd("uploads")
    assert ftp_server.exists("/uploads")
