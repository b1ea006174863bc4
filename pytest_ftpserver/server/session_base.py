"""State and helpers shared by every part of a session (see ``session.py``).

A session's verbs live in layers, each a class built on the one below, so that each file
holds one concern: ``SessionBase`` (state, replies, paths, storage calls) <
``FileCommands`` (``fs_commands.py``) < ``DataChannels`` (``channels.py``) <
``Transfers`` (``transfers.py``) < ``Session`` (``session.py``: the connection, the
dispatcher, login and the simple verbs).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import pathlib
import socket
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from ..pathio.base import AbstractPathIO
from ..protocol import (
    MLST_FACTS,
    Command,
    CommandError,
    FileStat,
    PathError,
    User,
    real_path,
    resolve_virtual_path,
)
from ..protocol.paths import ROOT
from .data import DataConnection
from .throttle import Throttle

if TYPE_CHECKING:
    from .server import Server

T = TypeVar("T")
ReplyT = tuple[int, str]

# Block size for downloads that cannot use sendfile (TLS, TYPE A, throttled, other backends).
SEND_BLOCK = 1 << 20
_TRANSFER_VERBS = frozenset({"RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"})


class FTPReply(Exception):  # it is a reply, raised to end a command early
    """Raised inside a handler to end the command with this reply."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def _os_error_reply(exc: OSError) -> FTPReply:
    messages = {
        errno.ENOENT: "No such file or directory.",
        errno.EEXIST: "File exists.",
        errno.ENOTDIR: "Not a directory.",
        errno.EISDIR: "Is a directory.",
        errno.ENOTEMPTY: "Directory not empty.",
        errno.EACCES: "Permission denied.",
        errno.EPERM: "Operation not permitted.",
        errno.ENOSPC: "No space left on device.",
        errno.EINVAL: "Invalid argument.",
        errno.ESPIPE: "Not a regular file.",  # a FIFO, socket or device (pathio/local.py)
    }
    code = 452 if exc.errno == errno.ENOSPC else 550
    return FTPReply(code, messages.get(exc.errno or 0, (exc.strerror or "Failed") + "."))


class _Transfer:
    __slots__ = ("bytes", "verb")

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.bytes = 0


def format_reply(code: int, text: str) -> bytes:
    """A reply as sent: one line, or a multi-line reply when ``text`` has several lines.

    Text goes out as UTF-8 (RFC 2640); a file name that is not UTF-8 on disk (the OS
    decoding left surrogates in it) goes out as its own bytes instead of failing the reply.
    """
    lines = text.split("\n")
    if len(lines) == 1:
        return f"{code} {text}\r\n".encode("utf-8", "surrogateescape")
    out = [f"{code}-{lines[0]}"]
    # Handlers indent continuation lines where the RFCs ask for it (FEAT, MLST).
    out.extend(lines[1:-1])
    out.append(f"{code} {lines[-1]}")
    return ("\r\n".join(out) + "\r\n").encode("utf-8", "surrogateescape")


class SessionBase(asyncio.BufferedProtocol):
    """Per-connection state and the helpers that handlers share."""

    _cut_after: int | None = None  # set while a "cut" fault applies to the running command

    def __init__(self, server: Server) -> None:
        self.server = server
        self.id = server._next_session_id()
        self.transport: asyncio.Transport | None = None
        self.peer_host = ""
        self.local_host = ""
        self.family = socket.AF_INET
        self._buffer = bytearray()
        self._discarding = False
        self._pending: collections.deque[Command | CommandError] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._draining = False  # in _run_pending (see there)
        self._closed = False
        self._aborting = False
        # An ABOR or QUIT that came during a transfer, answered once its reply is out.
        self._abort_command: Command | None = None
        self._quit_command: Command | None = None
        self._close_after_reply = False  # set by QUIT and the last failed login
        self._reply_first: tuple[int, str] | None = None  # a reply that precedes the final one
        self._transfer: _Transfer | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        # Set while the client does not read our replies (the transport's buffer is full).
        self._write_stall: asyncio.TimerHandle | None = None
        self._writing_paused = False
        self._last_activity = 0.0
        # login state
        self.user: User | None = None
        self._candidate: User | None = None
        self._login_name = ""
        self._failures = 0
        self.cwd = ROOT
        # transfer parameters
        self._ascii = True
        self._rest = 0
        self._rename_from: tuple[pathlib.PurePosixPath, pathlib.Path] | None = None
        # After PASV/EPSV: accepts the client's data connection as soon as it comes.
        self._passive_accept: asyncio.Future[DataConnection] | None = None
        self._passive_sock: socket.socket | None = None
        self._passive_task: asyncio.Task[None] | None = None  # only without direct_transports
        self._active_address: tuple[str, int] | None = None
        self._epsv_all = False
        self._mlst_facts: tuple[str, ...] = MLST_FACTS
        self._throttles: dict[str, Throttle] = {}
        # TLS state
        self._tls = server.implicit_tls
        self._protect_data = server.implicit_tls
        self._pbsz = server.implicit_tls
        self._cmd_bytes = 0
        # Set by greet_early(): admitted (or refused: too many connections) before the
        # transport was made, and what of the 220 line the socket did not take at once.
        self._admitted: bool | None = None
        self._greeting_rest: bytes | None = None

    # -- replies ------------------------------------------------------------------------
    def _send(self, code: int, text: str) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if "\n" not in text:
            transport.write(f"{code} {text}\r\n".encode("utf-8", "surrogateescape"))
            return
        transport.write(format_reply(code, text))

    def _final(self, command: Command, code: int, text: str) -> None:
        # Recorded first: a test that reads server.log as soon as its client has the
        # reply must find the entry (the loop thread could lose the GIL at the send).
        self.server._record(self, command, code, text, self._cmd_bytes)
        if self._close_after_reply:
            self._count_out()
            if self._reply_first is not None:  # the last failed login's 530
                self._send(*self._reply_first)
                self._reply_first = None
            self._send(code, text)
            self._close_gracefully()
            return
        self._send(code, text)

    # -- helpers for handlers -----------------------------------------------------------
    @property
    def path_io(self) -> AbstractPathIO:
        return self.server.path_io

    async def _io(self, awaitable: Awaitable[T]) -> T:
        timeout = self.server.path_timeout
        if timeout is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, timeout)
        except asyncio.TimeoutError:
            raise FTPReply(451, "Storage operation timed out.") from None

    def _virtual(self, argument: str) -> pathlib.PurePosixPath:
        try:
            return resolve_virtual_path(self.cwd, argument)
        except PathError as exc:
            raise FTPReply(501, f"Invalid path: {exc}.") from None

    async def _resolve(
        self, argument: str, *, write: bool = False
    ) -> tuple[pathlib.PurePosixPath, pathlib.Path]:
        """Virtual and backend path of an argument, checked against the user's rights."""
        assert self.user is not None
        virtual = self._virtual(argument)
        perm = self.user.permission_for(virtual)
        if not (perm.writable if write else perm.readable):
            raise FTPReply(550, "Permission denied.")
        real = real_path(self.user.base_path, virtual)
        if not await self._io(self.path_io.is_inside(self.user.base_path, real)):
            raise FTPReply(550, "Permission denied: path leads outside the root.")
        return virtual, real

    async def _stat(self, real: pathlib.Path) -> FileStat:
        return await self._io(self.path_io.stat(real))

    def _take_queued_interrupts(self) -> None:
        """Act on an ABOR, STAT or QUIT queued behind a transfer that has just started
        (Session does; the data-channel code calls it once the 150 is out)."""

    def _logout(self) -> None:
        if self.user is not None:
            self.server._user_logged_out(self.user)
            self.user = None

    def _count_out(self) -> None:
        """Before a last reply (221, 421): log out and leave the active count, so that a
        test reading the stats once its client has that reply finds the session gone."""
        self._logout()
        self.server._session_leaving(self)

    def _close_gracefully(self) -> None:
        """Read no more commands; close once the replies already written are flushed."""
        self._closed = True
        self._pending.clear()
        if self.transport is not None:
            self.transport.close()
