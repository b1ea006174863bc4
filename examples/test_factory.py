"""ftp_server_factory: more servers in one test, each with its own options."""

import ftplib
import io

from pytest_ftpserver import User


def mirror(source, target, path):
    """The code under test: copies one file from one FTP server to another."""
    data = io.BytesIO()
    with ftplib.FTP() as ftp:
        ftp.connect(source.host, source.port)
        ftp.login(source.login, source.password)
        ftp.retrbinary(f"RETR {path}", data.write)
    data.seek(0)
    with ftplib.FTP() as ftp:
        ftp.connect(target.host, target.port)
        ftp.login(target.login, target.password)
        ftp.storbinary(f"STOR {path}", data)


def test_mirror_between_two_servers(ftp_server_factory):
    primary = ftp_server_factory()  # the same defaults as ftp_server
    backup = ftp_server_factory(
        backend="memory",
        users=[User("backup", "pw")],  # or dicts: [{"login": "backup", "password": "pw"}]
        maximum_connections=1,
    )
    primary.put("/release.tar", bytes(1000))

    mirror(primary, backup, "/release.tar")

    assert backup.read("/release.tar") == bytes(1000)
    assert backup.login == "backup"


def test_alongside_the_fixture(ftp_server, ftp_server_factory):
    other = ftp_server_factory(backend="memory")  # markers apply to ftp_server only
    assert other.port != ftp_server.port
