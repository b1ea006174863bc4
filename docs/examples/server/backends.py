"""The three storage backends: real files (PathIO, AsyncPathIO) and a tree in memory."""

import asyncio
import ftplib
import io
import pathlib
import tempfile

from pytest_ftpserver import AsyncPathIO, MemoryPathIO, PathIO, Server, User


def upload(host: str, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login("bob", "pw")
        ftp.storbinary("STOR data.bin", io.BytesIO(b"\x00\x01"))


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = pathlib.Path(directory)
        for factory in (PathIO, AsyncPathIO):
            # base_path is the real directory that the user's "/" maps to.
            user = User("bob", "pw", base_path=root / factory.__name__)
            user.base_path.mkdir()  # real directories are yours to make
            async with Server([user], path_io_factory=factory) as server:
                await asyncio.to_thread(upload, *server.address)
            print(factory.__name__, "wrote", (user.base_path / "data.bin").read_bytes())

    # In memory: nothing touches the disk; base_path only names a node of the tree.
    async with Server([User("bob", "pw")], path_io_factory=MemoryPathIO) as server:
        await asyncio.to_thread(upload, *server.address)
        stored = await server.path_io.read_bytes(pathlib.Path("data.bin"))
    print("MemoryPathIO holds", stored)


asyncio.run(main())
