"""The one storage interface that every backend implements."""

from __future__ import annotations

import abc
import pathlib
from collections.abc import Callable
from typing import IO

from ..protocol.listing import FileStat


class FileReader(abc.ABC):
    """An open file being sent to a client."""

    #: A real binary file positioned at the start offset, when the backend has one: the
    #: server then hands it to ``loop.sendfile`` (zero copy) instead of calling ``read``.
    sendfile_file: IO[bytes] | None = None

    @abc.abstractmethod
    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end of the file."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the file; called once, after the last ``read``."""


class FileWriter(abc.ABC):
    """An open file being received from a client."""

    #: A synchronous write the server may call straight from the socket's callback when
    #: the backend writes to local files (no task per block then). ``None`` otherwise.
    write_nowait: Callable[[bytes | memoryview], object] | None = None

    #: The descriptor of a local file being written, when there is one: the server may
    #: then move upload bytes from the socket into it inside the kernel (splice).
    fileno: int | None = None

    @abc.abstractmethod
    async def write(self, data: bytes | memoryview) -> None:
        """Write all of ``data`` at the current position."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish the file and release it; called once, after the last ``write``."""


class AbstractPathIO(abc.ABC):
    """Asynchronous storage operations on backend paths.

    A path is ``user.base_path`` joined with the parts of a normalized virtual path, so a
    backend never sees ``..``. One instance serves every session of a server (it is made
    once by ``path_io_factory``), so state such as an in-memory tree is shared. Methods
    raise ``OSError`` subclasses (``FileNotFoundError``, ``FileExistsError``,
    ``NotADirectoryError``, ``IsADirectoryError``, ``PermissionError``) for the ordinary
    refusals; the server turns those into 550 replies. Anything else is a bug and is
    recorded in ``Server.errors``.
    """

    #: Whether the server should create each user's ``base_path`` at start (a fresh
    #: in-memory tree has nothing; a real directory is the user's to provide).
    creates_base_paths = False

    @abc.abstractmethod
    async def exists(self, path: pathlib.Path) -> bool:
        """Whether a file or a directory exists at ``path``."""

    @abc.abstractmethod
    async def stat(self, path: pathlib.Path) -> FileStat:
        """Size, modification time and kind of ``path`` (``FileNotFoundError`` if none)."""

    async def is_dir(self, path: pathlib.Path) -> bool:
        """Whether ``path`` is a directory (``False`` when it does not exist)."""
        try:
            return (await self.stat(path)).is_dir
        except OSError:
            return False

    async def is_file(self, path: pathlib.Path) -> bool:
        """Whether ``path`` is a file (``False`` when it does not exist)."""
        try:
            return not (await self.stat(path)).is_dir
        except OSError:
            return False

    @abc.abstractmethod
    async def list(self, path: pathlib.Path) -> list[tuple[str, FileStat]]:
        """Names and stats of a directory's entries, in no particular order."""

    @abc.abstractmethod
    async def mkdir(
        self, path: pathlib.Path, *, parents: bool = False, exist_ok: bool = False
    ) -> None:
        """Make the directory ``path``: with ``parents``, its missing parents too; with
        ``exist_ok``, no error when it already exists as a directory."""

    @abc.abstractmethod
    async def rmdir(self, path: pathlib.Path) -> None:
        """Remove the empty directory ``path``."""

    @abc.abstractmethod
    async def unlink(self, path: pathlib.Path) -> None:
        """Remove the file ``path`` (``IsADirectoryError`` for a directory)."""

    @abc.abstractmethod
    async def rename(self, source: pathlib.Path, destination: pathlib.Path) -> None:
        """Move ``source`` to ``destination``, replacing a file of that name."""

    @abc.abstractmethod
    async def set_mtime(self, path: pathlib.Path, mtime: float) -> None:
        """Set the modification time of ``path``, in seconds since the epoch."""

    @abc.abstractmethod
    async def open_read(self, path: pathlib.Path, offset: int = 0) -> FileReader:
        """Open the file ``path`` to read it from byte ``offset`` (set by ``REST``)."""

    @abc.abstractmethod
    async def open_write(
        self, path: pathlib.Path, *, append: bool = False, offset: int = 0
    ) -> FileWriter:
        """Open for writing: truncate (default), append, or write from ``offset`` (REST)."""

    async def is_inside(self, root: pathlib.Path, path: pathlib.Path) -> bool:
        """Whether ``path`` really lies under ``root`` (symlinks followed). True by default."""
        return True

    async def read_bytes(self, path: pathlib.Path) -> bytes:
        """Whole content of a file (a convenience for tests and fixtures)."""
        reader = await self.open_read(path)
        try:
            parts = []
            while chunk := await reader.read(1 << 20):
                parts.append(chunk)
            return b"".join(parts)
        finally:
            await reader.close()

    async def write_bytes(self, path: pathlib.Path, data: bytes) -> None:
        """Replace a file's content, making missing parent directories."""
        await self.mkdir(path.parent, parents=True, exist_ok=True)
        writer = await self.open_write(path)
        try:
            await writer.write(data)
        finally:
            await writer.close()
