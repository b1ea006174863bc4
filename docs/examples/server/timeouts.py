"""Timeouts: an idle client, a passive connection never made, a slow backend."""

import asyncio
import ftplib
import pathlib

from pytest_ftpserver import FileStat, MemoryPathIO, Server


class SlowPathIO(MemoryPathIO):
    """A backend whose stat() hangs, as a stuck network file system would."""

    async def stat(self, path: pathlib.Path) -> FileStat:
        if path.name == "stuck.txt":
            await asyncio.sleep(60)
        return await super().stat(path)


def idle_client(host: str, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login()
        ftp.sock.settimeout(10)
        print("idle client is told:", ftp.getline())  # 421 after idle_timeout seconds


def lazy_client(host: str, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login()
        print(ftp.sendcmd("PASV"))  # ...and never connects to the port it was given
        try:
            ftp.sendcmd("LIST")
            print(ftp.getresp())
        except ftplib.error_temp as refused:
            print("LIST without a data connection:", refused)  # 425 after wait_future_timeout


def stat_client(host: str, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login()
        try:
            ftp.size("stuck.txt")
        except ftplib.error_temp as refused:
            print("SIZE on a stuck backend:", refused)  # 451 after path_timeout


async def main() -> None:
    server = Server(
        path_io_factory=SlowPathIO,
        idle_timeout=0.5,  # seconds a client may stay silent (a transfer counts as activity)
        wait_future_timeout=0.5,  # seconds to wait for the client's passive data connection
        path_timeout=0.5,  # seconds one storage operation may take
        socket_timeout=5,  # seconds a data transfer may go without moving a byte
    )
    async with server:
        await asyncio.to_thread(idle_client, *server.address)
        await asyncio.to_thread(lazy_client, *server.address)
        await asyncio.to_thread(stat_client, *server.address)


asyncio.run(main())
