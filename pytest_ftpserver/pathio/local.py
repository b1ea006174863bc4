"""Backends on the local file system: PathIO (direct calls) and AsyncPathIO (aiofiles)."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import pathlib
import secrets
import stat as stat_module
from collections.abc import Callable
from typing import IO, Any

import aiofiles
import aiofiles.os

from ..protocol.listing import FileStat
from .base import AbstractPathIO, FileReader, FileWriter


def _to_stat(st: os.stat_result) -> FileStat:
    return FileStat(
        size=st.st_size,
        mtime=st.st_mtime,
        is_dir=stat_module.S_ISDIR(st.st_mode),
        mode=st.st_mode,
        ino=st.st_ino,
        nlink=st.st_nlink,
    )


def _list_dir(path: pathlib.Path) -> list[tuple[str, FileStat]]:
    out = []
    with os.scandir(path) as entries:
        for entry in entries:
            try:
                out.append((entry.name, _to_stat(entry.stat())))
            except OSError:  # vanished, or a dangling symlink: not listable
                continue
    return out


def _write_open_flags(append: bool, offset: int) -> int:
    flags = os.O_WRONLY | os.O_CREAT
    if append:
        return flags | os.O_APPEND
    return flags if offset else flags | os.O_TRUNC


def _replace_open(path: pathlib.Path) -> int:
    """Open a new, empty file that atomically takes the place of ``path``.

    Replacing instead of truncating means a download that has the old file open still gets
    all of it, and no reader ever finds the name missing or half-written from the start.
    """
    try:
        if stat_module.S_ISDIR(os.stat(path).st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
    except FileNotFoundError:
        pass
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.replace(temporary, path)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return fd


_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _open_regular(path: pathlib.Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` for regular files only, that never waits.

    A FIFO in the served tree would block the open (and with it the event loop) until a
    writer comes; a device would be read for ever. Both are refused (ESPIPE: 550).
    """
    fd = os.open(path, flags | _NONBLOCK, mode)
    try:
        if not stat_module.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ESPIPE, "Not a regular file", str(path))
        if _NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


@functools.lru_cache(maxsize=256)
def _real_root(root: pathlib.Path) -> str:
    # A user's root is resolved once: it is checked on every path a command names.
    return os.path.realpath(root)


def _is_inside(root: pathlib.Path, path: pathlib.Path) -> bool:
    real_root = _real_root(root)
    below = _below_without_links(root, path, real_root)
    if below is not None:
        return below
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _below_without_links(root: pathlib.Path, path: pathlib.Path, real_root: str) -> bool | None:
    """True when ``path`` is ``root`` plus plain names, none of them a symbolic link.

    The root is resolved once; below it, only the named components are looked at (one
    lstat each, none for the root itself) instead of realpath's walk from "/". None means
    "cannot tell this way" (a link, "..", an odd path): the caller resolves in full.
    """
    root_text, text = str(root), str(path)
    if text == root_text:
        return True
    prefix = root_text if root_text.endswith(os.sep) else root_text + os.sep
    if not text.startswith(prefix):
        return None
    current = real_root.rstrip(os.sep)
    for name in text[len(prefix) :].split(os.sep):
        if name in ("", ".", ".."):
            return None
        current = current + os.sep + name
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            return True  # the rest does not exist: nothing below can lead elsewhere
        except OSError:
            return None
        if stat_module.S_ISLNK(mode):
            return None
    return True


class _LocalReader(FileReader):
    def __init__(self, file: IO[bytes]) -> None:
        self.sendfile_file = file
        self._file = file

    async def read(self, size: int) -> bytes:
        return self._file.read(size)

    async def close(self) -> None:
        self._file.close()


class _LocalWriter(FileWriter):
    def __init__(self, fd: int, *, append: bool = False) -> None:
        self._fd = fd
        # splice(2) refuses files opened with O_APPEND.
        self.fileno = None if append else fd
        self.write_nowait: Callable[[bytes | memoryview], object] = self._write_all

    def _write_all(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    async def write(self, data: bytes | memoryview) -> None:
        self._write_all(data)

    async def close(self) -> None:
        os.close(self._fd)


class PathIO(AbstractPathIO):
    """Real files through direct system calls.

    Metadata calls are quick system calls made inline. Downloads are sent with
    ``loop.sendfile`` (zero copy, never blocking the loop on a socket); uploads are written
    with ``os.write`` from the socket callback in blocks of up to 1 MiB, which land in the
    page cache. This measured faster than a worker thread per block (see benchmarks/).
    """

    async def exists(self, path: pathlib.Path) -> bool:
        return os.path.exists(path)

    async def stat(self, path: pathlib.Path) -> FileStat:
        return _to_stat(os.stat(path))

    async def list(self, path: pathlib.Path) -> list[tuple[str, FileStat]]:
        return _list_dir(path)

    async def mkdir(
        self, path: pathlib.Path, *, parents: bool = False, exist_ok: bool = False
    ) -> None:
        path.mkdir(parents=parents, exist_ok=exist_ok)

    async def rmdir(self, path: pathlib.Path) -> None:
        os.rmdir(path)

    async def unlink(self, path: pathlib.Path) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(21, "Is a directory", str(path))
        os.unlink(path)

    async def rename(self, source: pathlib.Path, destination: pathlib.Path) -> None:
        os.rename(source, destination)

    async def set_mtime(self, path: pathlib.Path, mtime: float) -> None:
        os.utime(path, (os.stat(path).st_atime, mtime))

    async def open_read(self, path: pathlib.Path, offset: int = 0) -> FileReader:
        if os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory", str(path))
        file = os.fdopen(_open_regular(path, os.O_RDONLY), "rb")
        if offset:
            file.seek(offset)
        return _LocalReader(file)

    async def open_write(
        self, path: pathlib.Path, *, append: bool = False, offset: int = 0
    ) -> FileWriter:
        if not append and not offset:
            return _LocalWriter(_replace_open(path))
        fd = _open_regular(path, _write_open_flags(append, offset))
        if offset and not append:
            # Resuming an upload: what follows the offset is replaced by what arrives.
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        return _LocalWriter(fd, append=append)

    async def is_inside(self, root: pathlib.Path, path: pathlib.Path) -> bool:
        return _is_inside(root, path)


class _AioReader(FileReader):
    def __init__(self, file: Any) -> None:
        self._file = file

    async def read(self, size: int) -> bytes:
        data: bytes = await self._file.read(size)
        return data

    async def close(self) -> None:
        await self._file.close()


class _AioWriter(FileWriter):
    def __init__(self, file: Any) -> None:
        self._file = file

    async def write(self, data: bytes | memoryview) -> None:
        await self._file.write(data)

    async def close(self) -> None:
        await self._file.close()


class AsyncPathIO(AbstractPathIO):
    """Real files through aiofiles: every call runs in a worker thread, none blocks the loop."""

    async def exists(self, path: pathlib.Path) -> bool:
        return bool(await aiofiles.os.path.exists(path))

    async def stat(self, path: pathlib.Path) -> FileStat:
        return _to_stat(await aiofiles.os.stat(path))

    async def list(self, path: pathlib.Path) -> list[tuple[str, FileStat]]:
        wrapped = aiofiles.os.wrap(_list_dir)
        result: list[tuple[str, FileStat]] = await wrapped(path)
        return result

    async def mkdir(
        self, path: pathlib.Path, *, parents: bool = False, exist_ok: bool = False
    ) -> None:
        if parents:
            await aiofiles.os.makedirs(path, exist_ok=exist_ok)
        else:
            try:
                await aiofiles.os.mkdir(path)
            except FileExistsError:
                if not (exist_ok and await aiofiles.os.path.isdir(path)):
                    raise

    async def rmdir(self, path: pathlib.Path) -> None:
        await aiofiles.os.rmdir(path)

    async def unlink(self, path: pathlib.Path) -> None:
        if await aiofiles.os.path.isdir(path) and not await aiofiles.os.path.islink(path):
            raise IsADirectoryError(21, "Is a directory", str(path))
        await aiofiles.os.remove(path)

    async def rename(self, source: pathlib.Path, destination: pathlib.Path) -> None:
        await aiofiles.os.rename(source, destination)

    async def set_mtime(self, path: pathlib.Path, mtime: float) -> None:
        st = await aiofiles.os.stat(path)
        await aiofiles.os.wrap(os.utime)(path, (st.st_atime, mtime))

    async def open_read(self, path: pathlib.Path, offset: int = 0) -> FileReader:
        if await aiofiles.os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory", str(path))
        fd = await aiofiles.os.wrap(_open_regular)(path, os.O_RDONLY)
        file = await aiofiles.open(fd, "rb")
        if offset:
            await file.seek(offset)
        return _AioReader(file)

    async def open_write(
        self, path: pathlib.Path, *, append: bool = False, offset: int = 0
    ) -> FileWriter:
        if append:
            mode, flags = "ab", os.O_WRONLY | os.O_CREAT | os.O_APPEND
        elif offset:
            if await aiofiles.os.path.exists(path):
                mode, flags = "r+b", os.O_RDWR
            else:
                mode, flags = "wb", os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        else:
            # One worker call, so no reader ever finds the name missing in between.
            fd = await aiofiles.os.wrap(_replace_open)(path)
            return _AioWriter(await aiofiles.open(fd, "wb"))
        fd = await aiofiles.os.wrap(_open_regular)(path, flags)
        file = await aiofiles.open(fd, mode)
        if offset and not append:
            await file.seek(offset)
            await file.truncate()
        return _AioWriter(file)

    async def is_inside(self, root: pathlib.Path, path: pathlib.Path) -> bool:
        result: bool = await aiofiles.os.wrap(_is_inside)(root, path)
        return result
