"""Connection limits: for the whole server (421 on connect), per user (530 at login)."""

import asyncio
import contextlib
import ftplib

from pytest_ftpserver import MemoryPathIO, Server, User


def connect(host: str, port: int, login: str | None = None) -> ftplib.FTP:
    ftp = ftplib.FTP()
    try:
        ftp.connect(host, port, timeout=10)
        if login is not None:
            ftp.login(login, "pw")
    except ftplib.Error:
        ftp.close()
        raise
    return ftp


def clients(host: str, port: int) -> None:
    with contextlib.ExitStack() as stack:
        stack.enter_context(connect(host, port, "dave"))
        try:
            connect(host, port, "dave")  # dave's second session
        except ftplib.error_perm as refused:
            print("dave again:", refused)  # 530 Too many connections for this user.
        stack.enter_context(connect(host, port, "erin"))
        stack.enter_context(connect(host, port))  # third connection: the server's limit
        try:
            connect(host, port)
        except ftplib.error_temp as refused:
            print("fourth connection:", refused)  # 421 Too many connections...


async def main() -> None:
    users = [User("dave", "pw", maximum_connections=1), User("erin", "pw")]
    async with Server(users, path_io_factory=MemoryPathIO, maximum_connections=3) as server:
        await asyncio.to_thread(clients, *server.address)
        print("peak:", server.stats.connections_peak, "total:", server.stats.connections_total)


asyncio.run(main())
