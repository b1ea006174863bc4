"""Several servers in one test: a primary and a mirror, with different options."""

import ftplib
import io


def copy_file(source, target, path):
    """The code under test: copies ``path`` from one FTP server to another."""
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


def test_copy_between_servers(ftp_server, ftp_server_factory):
    mirror = ftp_server_factory(backend="memory", maximum_connections=1)
    ftp_server.put("dist/app.tar", b"\x1f\x8b" + bytes(1000))
    mirror.mkdir("dist")

    copy_file(ftp_server, mirror, "dist/app.tar")

    assert mirror.read("dist/app.tar") == ftp_server.read("dist/app.tar")
