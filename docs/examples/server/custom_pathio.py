"""A backend of your own: a quota on top of the in-memory tree.

Subclass AbstractPathIO and implement its coroutines. Raise OSError subclasses for the
ordinary refusals (FileNotFoundError, PermissionError...): the server answers them with
550, or 452 for errno.ENOSPC. Anything else is recorded in ``Server.errors`` as a bug.
"""

import asyncio
import errno
import ftplib
import io
import pathlib

from pytest_ftpserver import (
    AbstractPathIO,
    FileReader,
    FileStat,
    FileWriter,
    MemoryPathIO,
    Server,
    User,
)


class QuotaWriter(FileWriter):
    def __init__(self, inner: FileWriter, backend: "QuotaPathIO") -> None:
        self.inner = inner
        self.backend = backend

    async def write(self, data: bytes | memoryview) -> None:
        if self.backend.used + len(data) > self.backend.quota:
            raise OSError(errno.ENOSPC, "quota exceeded")
        self.backend.used += len(data)
        await self.inner.write(data)

    async def close(self) -> None:
        await self.inner.close()


class QuotaPathIO(AbstractPathIO):
    """Everything is delegated to a MemoryPathIO; uploads count against a quota."""

    creates_base_paths = True  # like MemoryPathIO: the server makes base and home paths
    quota = 1000  # bytes, for the whole server

    def __init__(self) -> None:
        self.inner = MemoryPathIO()
        self.used = 0

    async def exists(self, path: pathlib.Path) -> bool:
        return await self.inner.exists(path)

    async def stat(self, path: pathlib.Path) -> FileStat:
        return await self.inner.stat(path)

    async def list(self, path: pathlib.Path) -> list[tuple[str, FileStat]]:
        return await self.inner.list(path)

    async def mkdir(
        self, path: pathlib.Path, *, parents: bool = False, exist_ok: bool = False
    ) -> None:
        await self.inner.mkdir(path, parents=parents, exist_ok=exist_ok)

    async def rmdir(self, path: pathlib.Path) -> None:
        await self.inner.rmdir(path)

    async def unlink(self, path: pathlib.Path) -> None:
        self.used -= (await self.inner.stat(path)).size
        await self.inner.unlink(path)

    async def rename(self, source: pathlib.Path, destination: pathlib.Path) -> None:
        await self.inner.rename(source, destination)

    async def set_mtime(self, path: pathlib.Path, mtime: float) -> None:
        await self.inner.set_mtime(path, mtime)

    async def open_read(self, path: pathlib.Path, offset: int = 0) -> FileReader:
        return await self.inner.open_read(path, offset)

    async def open_write(
        self, path: pathlib.Path, *, append: bool = False, offset: int = 0
    ) -> FileWriter:
        if not append and await self.inner.exists(path):
            self.used -= max(0, (await self.inner.stat(path)).size - offset)
        return QuotaWriter(await self.inner.open_write(path, append=append, offset=offset), self)


def client(host: str, port: int) -> None:
    with ftplib.FTP() as ftp:
        ftp.connect(host, port, timeout=10)
        ftp.login("carol", "pw")
        ftp.storbinary("STOR small.bin", io.BytesIO(bytes(600)))
        try:
            ftp.storbinary("STOR big.bin", io.BytesIO(bytes(600)))
        except ftplib.error_temp as refused:
            print("second upload:", refused)  # 452 No space left on device.


async def main() -> None:
    async with Server([User("carol", "pw")], path_io_factory=QuotaPathIO) as server:
        await asyncio.to_thread(client, *server.address)
        assert isinstance(server.path_io, QuotaPathIO)  # the one instance all sessions share
        print("bytes stored:", server.path_io.used, "server errors:", server.errors)


asyncio.run(main())
