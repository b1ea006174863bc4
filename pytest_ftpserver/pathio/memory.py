"""MemoryPathIO: a whole tree in memory, shared by every session of one server."""

from __future__ import annotations

import errno
import itertools
import os
import pathlib
import time

from ..protocol.listing import FileStat
from .base import AbstractPathIO, FileReader, FileWriter

_inode_numbers = itertools.count(1)


class _Node:
    __slots__ = ("children", "content", "ino", "mtime")

    def __init__(self, is_dir: bool) -> None:
        self.children: dict[str, _Node] | None = {} if is_dir else None
        self.content = bytearray()
        self.mtime = time.time()
        self.ino = next(_inode_numbers)

    def stat(self) -> FileStat:
        is_dir = self.children is not None
        return FileStat(
            size=0 if is_dir else len(self.content),
            mtime=self.mtime,
            is_dir=is_dir,
            mode=0o40755 if is_dir else 0o100644,
            ino=self.ino,
        )


def _err(code: int, path: pathlib.PurePath) -> OSError:
    return OSError(code, os.strerror(code), str(path))


def _parts(path: pathlib.PurePath) -> tuple[str, ...]:
    # "/srv/x", "srv/x" and "./srv/x" all name the same node: the tree has one root.
    return tuple(p for p in pathlib.PurePosixPath(path.as_posix()).parts if p not in ("/", "."))


class _MemoryReader(FileReader):
    """Reads from the node it opened: a STOR that replaces the file makes a new node, so a
    reader that started before it still gets the old content whole."""

    def __init__(self, node: _Node, offset: int) -> None:
        self._node = node
        self._position = offset

    async def read(self, size: int) -> bytes:
        start = self._position
        chunk = bytes(self._node.content[start : start + size])
        self._position += len(chunk)
        return chunk

    async def close(self) -> None:
        return None


class _MemoryWriter(FileWriter):
    def __init__(self, node: _Node, position: int | None) -> None:
        self._node = node
        self._position = position  # None: append
        self.write_nowait = self._write

    def _write(self, data: bytes | memoryview) -> None:
        node = self._node
        if self._position is None or self._position == len(node.content):
            node.content += data
            if self._position is not None:
                self._position += len(data)
        else:
            end = self._position + len(data)
            node.content[self._position : end] = data
            self._position = end
        node.mtime = time.time()

    async def write(self, data: bytes | memoryview) -> None:
        self._write(data)

    async def close(self) -> None:
        self._node.mtime = time.time()


class MemoryPathIO(AbstractPathIO):
    """A tree of directories and files in memory.

    Paths are taken by their parts, so ``base_path`` values such as ``Path(".")`` and
    ``Path("/srv")`` both work; the server makes each user's base path at start.
    """

    creates_base_paths = True

    def __init__(self) -> None:
        self.root = _Node(is_dir=True)

    def _lookup(self, path: pathlib.PurePath) -> _Node:
        node = self.root
        for part in _parts(path):
            if node.children is None:
                raise _err(errno.ENOTDIR, path)
            child = node.children.get(part)
            if child is None:
                raise _err(errno.ENOENT, path)
            node = child
        return node

    def _parent_dir(self, path: pathlib.PurePath) -> tuple[_Node, str]:
        parts = _parts(path)
        if not parts:
            raise _err(errno.EEXIST, path)
        parent = self._lookup(pathlib.PurePosixPath(*parts[:-1]))
        if parent.children is None:
            raise _err(errno.ENOTDIR, path)
        return parent, parts[-1]

    async def exists(self, path: pathlib.Path) -> bool:
        try:
            self._lookup(path)
        except OSError:
            return False
        return True

    async def stat(self, path: pathlib.Path) -> FileStat:
        return self._lookup(path).stat()

    async def list(self, path: pathlib.Path) -> list[tuple[str, FileStat]]:
        node = self._lookup(path)
        if node.children is None:
            raise _err(errno.ENOTDIR, path)
        return [(name, child.stat()) for name, child in node.children.items()]

    async def mkdir(
        self, path: pathlib.Path, *, parents: bool = False, exist_ok: bool = False
    ) -> None:
        parts = _parts(path)
        node = self.root
        for i, part in enumerate(parts):
            assert node.children is not None
            child = node.children.get(part)
            last = i == len(parts) - 1
            if child is None:
                if not (last or parents):
                    raise _err(errno.ENOENT, path)
                child = node.children[part] = _Node(is_dir=True)
                node.mtime = time.time()
            elif child.children is None:
                raise _err(errno.EEXIST if last else errno.ENOTDIR, path)
            elif last and not exist_ok:
                raise _err(errno.EEXIST, path)
            node = child
        if not parts and not exist_ok:
            raise _err(errno.EEXIST, path)

    async def rmdir(self, path: pathlib.Path) -> None:
        parent, name = self._parent_dir(path)
        assert parent.children is not None
        node = parent.children.get(name)
        if node is None:
            raise _err(errno.ENOENT, path)
        if node.children is None:
            raise _err(errno.ENOTDIR, path)
        if node.children:
            raise _err(errno.ENOTEMPTY, path)
        del parent.children[name]
        parent.mtime = time.time()

    async def unlink(self, path: pathlib.Path) -> None:
        parent, name = self._parent_dir(path)
        assert parent.children is not None
        node = parent.children.get(name)
        if node is None:
            raise _err(errno.ENOENT, path)
        if node.children is not None:
            raise _err(errno.EISDIR, path)
        del parent.children[name]
        parent.mtime = time.time()

    async def rename(self, source: pathlib.Path, destination: pathlib.Path) -> None:
        src_parent, src_name = self._parent_dir(source)
        assert src_parent.children is not None
        node = src_parent.children.get(src_name)
        if node is None:
            raise _err(errno.ENOENT, source)
        dst_parent, dst_name = self._parent_dir(destination)
        assert dst_parent.children is not None
        # Moving a directory into itself would detach it from the tree.
        if node.children is not None and (
            dst_parent is node or self._is_descendant(node, dst_parent)
        ):
            raise _err(errno.EINVAL, destination)
        existing = dst_parent.children.get(dst_name)
        if existing is node:
            return  # a name onto itself: nothing to do (as os.rename)
        if existing is not None and existing.children is None and node.children is not None:
            raise _err(errno.ENOTDIR, destination)  # a directory never replaces a file
        if existing is not None and existing.children is not None:
            if node.children is None:
                raise _err(errno.EISDIR, destination)
            if existing.children:
                raise _err(errno.ENOTEMPTY, destination)
        del src_parent.children[src_name]
        dst_parent.children[dst_name] = node
        src_parent.mtime = dst_parent.mtime = time.time()

    @staticmethod
    def _is_descendant(ancestor: _Node, node: _Node) -> bool:
        stack = [ancestor]
        while stack:
            current = stack.pop()
            if current.children:
                for child in current.children.values():
                    if child is node:
                        return True
                    stack.append(child)
        return False

    async def set_mtime(self, path: pathlib.Path, mtime: float) -> None:
        self._lookup(path).mtime = mtime

    async def open_read(self, path: pathlib.Path, offset: int = 0) -> FileReader:
        node = self._lookup(path)
        if node.children is not None:
            raise _err(errno.EISDIR, path)
        return _MemoryReader(node, offset)

    async def open_write(
        self, path: pathlib.Path, *, append: bool = False, offset: int = 0
    ) -> FileWriter:
        parent, name = self._parent_dir(path)
        assert parent.children is not None
        existing = parent.children.get(name)
        if existing is not None and existing.children is not None:
            raise _err(errno.EISDIR, path)
        if existing is not None and (append or offset):
            if offset and not append:
                del existing.content[offset:]
            return _MemoryWriter(existing, None if append else offset)
        # A fresh node: readers of the old file keep the old content intact.
        node = _Node(is_dir=False)
        parent.children[name] = node
        parent.mtime = time.time()
        return _MemoryWriter(node, 0)
