"""The server core without pytest: start it, use it, stop it."""

import asyncio
import ftplib
import io

from pytest_ftpserver import MemoryPathIO, Server, User


def client(host: str, port: int) -> bytes:
    """Any FTP client will do; ftplib blocks, so it runs in a thread below."""
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login("alice", "secret")
        ftp.storbinary("STOR hello.txt", io.BytesIO(b"hello"))
        data = io.BytesIO()
        ftp.retrbinary("RETR hello.txt", data.write)
        return data.getvalue()


async def main() -> None:
    server = Server([User("alice", "secret")], path_io_factory=MemoryPathIO)
    await server.start()  # 127.0.0.1 on a free port; returns once it listens
    host, port = server.address
    try:
        assert await asyncio.to_thread(client, host, port) == b"hello"
    finally:
        await server.close()  # closes every session too
    print("logins:", server.stats.logins, "files received:", server.stats.files_received)


asyncio.run(main())
