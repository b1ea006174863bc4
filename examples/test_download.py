"""Download: the test puts files on the server; the code under test fetches them."""

import ftplib
import pathlib

import pytest


def mirror(host: str, port: int, login: str, password: str, target: pathlib.Path) -> None:
    """The code under test: copies every file of /incoming into ``target``."""
    with ftplib.FTP() as ftp:
        ftp.connect(host, port)
        ftp.login(login, password)
        ftp.cwd("/incoming")
        for name in ftp.nlst():
            with open(target / name, "wb") as f:
                ftp.retrbinary(f"RETR {name}", f.write)


@pytest.mark.ftp_server(backend="memory")  # nothing touches the disk on the server side
def test_mirror(ftp_server, tmp_path):
    ftp_server.put("/incoming/a.txt", "first")
    ftp_server.put("/incoming/b.bin", bytes(range(256)))

    mirror(ftp_server.host, ftp_server.port, ftp_server.login, ftp_server.password, tmp_path)

    assert (tmp_path / "a.txt").read_text() == "first"
    assert (tmp_path / "b.bin").read_bytes() == bytes(range(256))
