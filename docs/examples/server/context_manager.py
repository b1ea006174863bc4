"""``async with`` starts the server on entry and closes it on exit."""

import asyncio
import ftplib

from pytest_ftpserver import MemoryPathIO, Server


def list_root(host: str, port: int) -> list[str]:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login()  # Server() without users: anonymous, read and write on "/"
        return ftp.nlst()


async def main() -> None:
    async with Server(path_io_factory=MemoryPathIO) as server:
        await server.path_io.mkdir(server.users[0].base_path / "incoming", parents=True)
        names = await asyncio.to_thread(list_root, *server.address)
    print(names)
    assert names == ["incoming"]
    assert not server.is_serving


asyncio.run(main())
