"""A bug inside the server (here: in a custom backend) fails the test at teardown."""

import ftplib
import pathlib

import pytest

from pytest_ftpserver import FileStat, MemoryPathIO


class BrokenPathIO(MemoryPathIO):
    async def list(self, path: pathlib.Path) -> list[tuple[str, FileStat]]:
        raise RuntimeError("listing is broken")  # not an OSError: a bug, not a refusal


@pytest.mark.ftp_server(path_io_factory=BrokenPathIO)
def test_listing(ftp_server):
    with ftplib.FTP() as ftp:
        ftp.connect(ftp_server.host, ftp_server.port, timeout=10)
        ftp.login(ftp_server.login, ftp_server.password)
        with pytest.raises(ftplib.error_temp, match=r"^451"):
            ftp.nlst()
    # The test body passes; the fixture reports the server's error at teardown.
