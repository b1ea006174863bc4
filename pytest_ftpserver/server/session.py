"""One control connection: read lines, dispatch commands one at a time, reply in order.

The session is an ``asyncio.Protocol``, not a task: an idle session costs a transport and
this object, nothing more. Quick commands run inline in ``data_received``; commands that
touch storage or a data channel run as one task each, while later lines wait in a queue
(only ABOR, STAT and QUIT are answered while a transfer runs).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import ipaddress
import logging
import pathlib
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..pathio.base import AbstractPathIO, FileReader, FileWriter
from ..protocol import (
    COMMANDS,
    FEATURES,
    MAX_LINE_LENGTH,
    MLST_FACTS,
    TLS_FEATURES,
    Arg,
    Command,
    CommandError,
    FileStat,
    FromNetworkAscii,
    PathError,
    ToNetworkAscii,
    User,
    format_facts,
    format_list_line,
    format_mdtm,
    help_lines,
    parse_command_line,
    parse_time_val,
    quote_path,
    real_path,
    resolve_virtual_path,
)
from .data import DataConnection, DataConnectionClosed
from .throttle import Throttle, ThrottleGroup

if TYPE_CHECKING:
    from .server import Server, _FaultPlan

log = logging.getLogger("pytest_ftpserver")

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
    }
    code = 452 if exc.errno == errno.ENOSPC else 550
    return FTPReply(code, messages.get(exc.errno or 0, (exc.strerror or "Failed") + "."))


class _Transfer:
    __slots__ = ("bytes", "verb")

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.bytes = 0


class Session(asyncio.Protocol):
    """The protocol object of one control connection."""

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
        self._closed = False
        self._aborting = False
        self._quit_after_abort = False
        self._transfer: _Transfer | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        # login state
        self.user: User | None = None
        self._candidate: User | None = None
        self._login_name = ""
        self._failures = 0
        self.cwd = pathlib.PurePosixPath("/")
        # transfer parameters
        self._ascii = True
        self._rest = 0
        self._rename_from: tuple[pathlib.PurePosixPath, pathlib.Path] | None = None
        self._passive: asyncio.AbstractServer | None = None
        self._passive_future: asyncio.Future[DataConnection] | None = None
        self._active_address: tuple[str, int] | None = None
        self._epsv_all = False
        self._mlst_facts: tuple[str, ...] = MLST_FACTS
        self._throttles: dict[str, Throttle] = {}
        # TLS state
        self._tls = server.implicit_tls
        self._protect_data = server.implicit_tls
        self._pbsz = server.implicit_tls
        self._cmd_bytes = 0

    # -- connection ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.peer_host = peer[0] if peer else ""
        self.local_host = local[0] if local else ""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self.family = sock.family
            # ftplib sends ABOR's last byte as urgent data: keep it in the stream.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
        if not self.server._session_opened(self):
            self._send(421, "Too many connections, try again later.")
            self._closed = True
            transport.close()
            return
        self._send(220, self.server.banner)
        if self.server.idle_timeout:
            self._last_activity = self.server._loop_time()
            self._schedule_idle(self.server.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        log.debug("session %d: connection closed (%s)", self.id, exc or "by peer")
        self._shutdown()

    def _shutdown(self) -> None:
        if self._closed and self.transport is None:
            return
        self._closed = True
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._close_passive()
        self._logout()
        self.server._session_closed(self)
        self.transport = None

    def close(self) -> None:
        """Drop the connection at once (used by ``Server.close``)."""
        transport = self.transport
        if transport is not None:
            transport.abort()
        self._shutdown()

    # -- idle timeout -------------------------------------------------------------------
    def _schedule_idle(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._idle_handle = loop.call_later(delay, self._idle_check)

    def _idle_check(self) -> None:
        timeout = self.server.idle_timeout
        assert timeout is not None
        if self._closed:
            return
        now = self.server._loop_time()
        if self._busy or self._transfer is not None:
            # A transfer is activity: never cut a session that is moving data.
            self._last_activity = now
        remaining = self._last_activity + timeout - now
        if remaining > 0:
            self._schedule_idle(remaining)
            return
        self._send(421, "Idle timeout, closing control connection.")
        if self.transport is not None:
            self.transport.close()
        self._shutdown()

    # -- reading lines ------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._closed:
            return
        if self.server.idle_timeout:
            self._last_activity = self.server._loop_time()
        buffer = self._buffer
        buffer += data
        while not self._closed:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) > MAX_LINE_LENGTH + 1:  # + 1: the CR of a CRLF to come
                    # Never hold an overlong line whole: answer once, drop the rest of it.
                    if not self._discarding:
                        self._on_line(CommandError(500, "Command line too long."))
                    self._discarding = True
                    buffer.clear()
                break
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if self._discarding:
                self._discarding = False
                continue
            try:
                item: Command | CommandError = parse_command_line(line)
            except CommandError as exc:
                item = exc
            self._on_line(item)
        if len(self._pending) > 64 and self.transport is not None:
            # A client that pipelines without reading replies waits for us.
            self.transport.pause_reading()

    def _on_line(self, item: Command | CommandError) -> None:
        if self._busy:
            if isinstance(item, Command) and self._transfer is not None:
                spec = COMMANDS.get(item.verb)
                if spec is not None and spec.during_transfer:
                    self._during_transfer(item)
                    return
            self._pending.append(item)
            return
        self._dispatch(item)

    def _run_pending(self) -> None:
        while self._pending and not self._busy and not self._closed:
            self._dispatch(self._pending.popleft())
        if not self._pending and self.transport is not None and not self._closed:
            self.transport.resume_reading()

    # -- replies ------------------------------------------------------------------------
    def _send(self, code: int, text: str) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        lines = text.split("\n")
        if len(lines) == 1:
            transport.write(f"{code} {text}\r\n".encode())
            return
        out = [f"{code}-{lines[0]}"]
        # Handlers indent continuation lines where the RFCs ask for it (FEAT, MLST).
        out.extend(lines[1:-1])
        out.append(f"{code} {lines[-1]}")
        transport.write(("\r\n".join(out) + "\r\n").encode())

    def _final(self, command: Command, code: int, text: str) -> None:
        self._send(code, text)
        self.server._record(self, command, code, text, self._cmd_bytes)

    # -- dispatch -----------------------------------------------------------------------
    def _dispatch(self, item: Command | CommandError) -> None:
        if isinstance(item, CommandError):
            self.server._record(self, Command("", ""), item.code, item.message, 0)
            self._send(item.code, item.message)
            return
        command = item
        server = self.server
        server.stats.commands[command.verb] += 1
        self._cmd_bytes = 0
        spec = COMMANDS.get(command.verb)
        if spec is None:
            return self._final(command, 500, f"Command {command.verb!r} not understood.")
        if not spec.implemented:
            return self._final(command, 502, f"Command {command.verb} not implemented.")
        verb = spec.alias_of or command.verb
        if spec.needs_login and self.user is None:
            return self._final(command, 530, "Log in with USER and PASS first.")
        if spec.arg is Arg.REQUIRED and not command.argument.strip():
            return self._final(command, 501, f"{command.verb} needs an argument.")
        if spec.arg is Arg.NONE and command.argument.strip():
            return self._final(command, 501, f"{command.verb} takes no argument.")
        if verb != "RNTO":
            self._rename_from = None  # RNFR modifies only the command right after it
        handler = _HANDLERS[verb]
        faults = server._faults
        if faults:
            fault = server._take_faults(verb)
            if fault is not None:
                return self._start(command, lambda: self._faulted(command, handler, fault))
        if handler.is_async:
            self._start(command, lambda: handler.func(self, command.argument))
        else:
            try:
                code, text = handler.func(self, command.argument)
            except FTPReply as reply:
                code, text = reply.code, reply.text
            self._final(command, code, text)

    def _start(
        self, command: Command, make: Callable[[], Coroutine[Any, Any, ReplyT | None]]
    ) -> None:
        self._busy = True
        self._task = asyncio.get_running_loop().create_task(self._run(command, make))

    async def _run(
        self, command: Command, make: Callable[[], Coroutine[Any, Any, ReplyT | None]]
    ) -> None:
        # The handler's coroutine is made here, so a task cancelled before it ever ran
        # (a client that vanished with commands queued) leaves no un-awaited coroutine.
        try:
            try:
                result = await make()
            except FTPReply as reply:
                result = (reply.code, reply.text)
            except OSError as exc:
                refusal = _os_error_reply(exc)
                result = (refusal.code, refusal.text)
            except asyncio.CancelledError:
                if not self._aborting:
                    raise
                result = (426, "Connection closed; transfer aborted.")
            except Exception as exc:
                self.server._internal_error(self, command, exc)
                result = (451, "Requested action aborted: local error in processing.")
            if result is not None:
                self._final(command, *result)
            if self._aborting:
                self._aborting = False
                if self._quit_after_abort:
                    self._quit()
                else:
                    self._send(226, "ABOR command successful.")
        finally:
            self._transfer = None
            self._busy = False
            self._task = None
        self._run_pending()

    def _during_transfer(self, command: Command) -> None:
        self.server.stats.commands[command.verb] += 1
        transfer = self._transfer
        assert transfer is not None
        if command.verb == "STAT":
            text = f"Transfer status: {transfer.verb} in progress, {transfer.bytes} bytes moved."
            self._send(213, text)
            self.server._record(self, command, 213, text, 0)
            return
        self._aborting = True
        self._quit_after_abort = command.verb == "QUIT"
        if self._quit_after_abort:
            self.server._record(self, command, 221, "Goodbye.", 0)
        else:
            self.server._record(self, command, 226, "ABOR command successful.", 0)
        assert self._task is not None
        self._task.cancel()

    async def _faulted(
        self, command: Command, handler: _Handler, fault: _FaultPlan
    ) -> ReplyT | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.fail is not None:
            return fault.fail
        if fault.cut is not None and command.verb not in _TRANSFER_VERBS:
            # A fault on a control verb: vanish without a reply.
            self.server._record(self, command, 0, "(connection cut by fault)", 0)
            self.close()
            return None
        self._cut_after = fault.cut
        try:
            if handler.is_async:
                awaited: ReplyT | None = await handler.func(self, command.argument)
                return awaited
            result: ReplyT | None = handler.func(self, command.argument)
            return result
        finally:
            self._cut_after = None

    _cut_after: int | None = None

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

    def _logout(self) -> None:
        if self.user is not None:
            self.server._user_logged_out(self.user)
            self.user = None

    def _quit(self) -> None:
        self._send(221, "Goodbye.")
        self._closed = True
        self._pending.clear()
        if self.transport is not None:
            self.transport.close()

    # -- access control -----------------------------------------------------------------
    def _tls_refusal(self) -> str | None:
        if self.server.tls_required and not self._tls:
            return "TLS is required: send AUTH TLS first."
        return None

    def ftp_USER(self, argument: str) -> ReplyT:
        refusal = self._tls_refusal()
        if refusal:
            return 530, refusal
        self._logout()
        self._login_name = argument
        self._candidate = self.server._find_user(argument)
        if self._candidate is not None and self._candidate.password is None:
            return self._login(self._candidate)
        return 331, f"Password required for {argument}."

    async def ftp_PASS(self, argument: str) -> ReplyT:
        refusal = self._tls_refusal()
        if refusal:
            return 530, refusal
        if self.user is not None:
            return 503, "Already logged in."
        if not self._login_name:
            return 503, "Login with USER first."
        user = self._candidate
        if user is not None and user.password == argument:
            return self._login(user)
        self._failures += 1
        self.server.stats.failed_logins += 1
        if self.server.login_failure_delay:
            await asyncio.sleep(self.server.login_failure_delay)
        self._login_name = ""
        if self._failures >= self.server.max_login_failures:
            self._send(530, "Login incorrect.")
            self._send(421, "Too many failed logins, closing control connection.")
            self._closed = True
            if self.transport is not None:
                self.transport.close()
            return None  # type: ignore[return-value]
        return 530, "Login incorrect."

    def _login(self, user: User) -> ReplyT:
        if not self.server._user_logged_in(user):
            self._login_name = ""
            return 530, "Too many connections for this user."
        self.user = user
        self.server.stats.logins += 1
        self.cwd = pathlib.PurePosixPath(str(user.home_path))
        self._throttles = self.server._session_throttles(user)
        return 230, "Login successful."

    def ftp_REIN(self, argument: str) -> ReplyT:
        self._logout()
        self._login_name = ""
        self._rest = 0
        self._rename_from = None
        self._ascii = True
        self._close_passive()
        self._active_address = None
        return 220, "Service ready for new user."

    def ftp_QUIT(self, argument: str) -> ReplyT:
        self._quit()  # sends 221 and closes; the reply below is only recorded
        return 221, "Goodbye."

    # -- simple commands ----------------------------------------------------------------
    def ftp_NOOP(self, argument: str) -> ReplyT:
        return 200, "NOOP command successful."

    def ftp_SYST(self, argument: str) -> ReplyT:
        return 215, "UNIX Type: L8"

    def ftp_FEAT(self, argument: str) -> ReplyT:
        features = list(FEATURES)
        facts = "".join(f + ("*;" if f in self._mlst_facts else ";") for f in MLST_FACTS)
        features.append("MLST " + facts)
        if self.server.ssl_context is not None and not self.server.implicit_tls:
            features.extend(TLS_FEATURES)
        elif self.server.ssl_context is not None:
            features.extend(("PBSZ", "PROT"))
        return 211, "\n".join(["Features:", *(" " + f for f in sorted(features)), "End"])

    def ftp_HELP(self, argument: str) -> ReplyT:
        if argument:
            spec = COMMANDS.get(argument.strip().upper())
            if spec is None:
                return 501, f"Unknown command {argument.strip()!r}."
            return 214, spec.help
        return 214, "\n".join(
            ["The following commands are recognized:", *(" " + h for h in help_lines()), "OK."]
        )

    def ftp_SITE(self, argument: str) -> ReplyT:
        sub = argument.strip().partition(" ")[0]
        if sub.upper() == "HELP":
            return 214, "\n".join(["The following SITE commands are recognized:", " HELP", "OK."])
        return 501, f"Unknown SITE command {sub!r}."

    def ftp_OPTS(self, argument: str) -> ReplyT:
        name, _, value = argument.strip().partition(" ")
        name = name.upper()
        if name == "UTF8":
            if value.strip().upper() in ("ON", ""):
                return 200, "UTF8 mode is always on."
            return 504, "UTF8 mode cannot be turned off."
        if name == "MLST":
            wanted = [f.lower() for f in value.strip().split(";") if f]
            unknown = [f for f in wanted if f not in MLST_FACTS]
            if unknown:
                return 501, f"Unknown fact(s): {', '.join(unknown)}."
            self._mlst_facts = tuple(f for f in MLST_FACTS if f in wanted)
            return 200, "MLST OPTS " + "".join(f + ";" for f in self._mlst_facts)
        return 501, f"Unknown option {name!r}."

    def ftp_TYPE(self, argument: str) -> ReplyT:
        words = argument.upper().split()
        if words in (["A"], ["A", "N"]):
            self._ascii = True
            return 200, "Type set to A."
        if words in (["I"], ["L", "8"]):
            self._ascii = False
            return 200, "Type set to I."
        return 504, f"Type {argument!r} not supported."

    def ftp_MODE(self, argument: str) -> ReplyT:
        if argument.strip().upper() == "S":
            return 200, "Mode set to S."
        return 504, "Only stream mode (S) is supported."

    def ftp_STRU(self, argument: str) -> ReplyT:
        if argument.strip().upper() == "F":
            return 200, "Structure set to F."
        return 504, "Only file structure (F) is supported."

    def ftp_ALLO(self, argument: str) -> ReplyT:
        return 202, "No storage allocation necessary."

    def ftp_REST(self, argument: str) -> ReplyT:
        try:
            offset = int(argument.strip())
        except ValueError:
            return 501, "REST needs a non-negative integer."
        if offset < 0:
            return 501, "REST needs a non-negative integer."
        self._rest = offset
        return 350, f"Restarting at {offset}. Send STORE or RETRIEVE to initiate transfer."

    def ftp_PWD(self, argument: str) -> ReplyT:
        return 257, f"{quote_path(self.cwd)} is the current directory."

    def ftp_ABOR(self, argument: str) -> ReplyT:
        self._close_passive()
        return 225, "No transfer to abort."

    def ftp_CCC(self, argument: str) -> ReplyT:
        return 534, "CCC is not allowed: the control channel stays protected."

    # -- TLS ----------------------------------------------------------------------------
    async def ftp_AUTH(self, argument: str) -> ReplyT | None:
        context = self.server.ssl_context
        if context is None:
            return 502, "TLS is not configured on this server."
        if argument.strip().upper() not in ("TLS", "SSL", "TLS-C", "TLS-P"):
            return 504, f"AUTH {argument} not supported."
        if self._tls:
            return 503, "TLS is already active."
        transport = self.transport
        assert transport is not None
        self._send(234, f"AUTH {argument.strip().upper()} successful.")
        self.server._record(self, Command("AUTH", argument), 234, "AUTH successful.", 0)
        loop = asyncio.get_running_loop()
        try:
            new_transport = await loop.start_tls(transport, self, context, server_side=True)
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            log.debug("session %d: TLS handshake failed: %s", self.id, exc)
            transport.abort()
            self._shutdown()
            return None
        if new_transport is None:
            self._shutdown()
            return None
        self.transport = new_transport
        self._tls = True
        self._logout()
        self._login_name = ""
        return None

    def ftp_PBSZ(self, argument: str) -> ReplyT:
        if not self._tls:
            return 503, "PBSZ is valid only after AUTH TLS."
        self._pbsz = True
        return 200, "PBSZ=0"

    def ftp_PROT(self, argument: str) -> ReplyT:
        if not self._tls:
            return 503, "PROT is valid only after AUTH TLS."
        level = argument.strip().upper()
        if level == "P":
            self._protect_data = True
            return 200, "Protection level set to P."
        if level == "C":
            if self.server.tls_required:
                return 534, "Clear data channels are not allowed here."
            self._protect_data = False
            return 200, "Protection level set to C."
        if level in ("S", "E"):
            return 536, f"Protection level {level} not supported."
        return 504, f"Unknown protection level {argument!r}."

    # -- directories --------------------------------------------------------------------
    async def ftp_CWD(self, argument: str) -> ReplyT:
        assert self.user is not None
        virtual, real = await self._resolve(argument or str(self.user.home_path))
        if not await self._io(self.path_io.is_dir(real)):
            return 550, "No such directory."
        self.cwd = virtual
        return 250, f"Directory changed to {virtual}."

    async def ftp_CDUP(self, argument: str) -> ReplyT:
        return await self.ftp_CWD("..")

    async def ftp_MKD(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument, write=True)
        await self._io(self.path_io.mkdir(real))
        return 257, f"{quote_path(virtual)} created."

    async def ftp_RMD(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument, write=True)
        if virtual == pathlib.PurePosixPath("/"):
            return 550, "Cannot remove the root directory."
        if not await self._io(self.path_io.is_dir(real)):
            return 550, "Not a directory."
        await self._io(self.path_io.rmdir(real))
        return 250, "Directory removed."

    async def ftp_DELE(self, argument: str) -> ReplyT:
        _virtual, real = await self._resolve(argument, write=True)
        await self._io(self.path_io.unlink(real))
        return 250, "File removed."

    async def ftp_RNFR(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument, write=True)
        if not await self._io(self.path_io.exists(real)):
            return 550, "No such file or directory."
        self._rename_from = (virtual, real)
        return 350, "Ready for destination name."

    async def ftp_RNTO(self, argument: str) -> ReplyT:
        source = self._rename_from
        self._rename_from = None
        if source is None:
            return 503, "Bad sequence of commands: send RNFR first."
        _virtual, real = await self._resolve(argument, write=True)
        await self._io(self.path_io.rename(source[1], real))
        return 250, "Rename successful."

    async def ftp_SIZE(self, argument: str) -> ReplyT:
        _, real = await self._resolve(argument)
        st = await self._stat(real)
        if st.is_dir:
            return 550, "Not a regular file."
        # The stored size in either TYPE, as vsftpd and curl expect; counting the CRLF
        # size of a TYPE A transfer would mean reading the whole file.
        return 213, str(st.size)

    async def ftp_MDTM(self, argument: str) -> ReplyT:
        _, real = await self._resolve(argument)
        st = await self._stat(real)
        if st.is_dir:
            return 550, "Not a regular file."
        return 213, format_mdtm(st.mtime)

    async def ftp_MFMT(self, argument: str) -> ReplyT:
        stamp, _, name = argument.strip().partition(" ")
        if not name:
            return 501, "Syntax: MFMT YYYYMMDDHHMMSS path"
        try:
            mtime = parse_time_val(stamp)
        except ValueError:
            return 501, f"Bad time value {stamp!r}."
        virtual, real = await self._resolve(name, write=True)
        await self._stat(real)
        await self._io(self.path_io.set_mtime(real, mtime))
        return 213, f"Modify={format_mdtm(mtime)}; {virtual}"

    async def ftp_MLST(self, argument: str) -> ReplyT:
        virtual, real = await self._resolve(argument or ".")
        st = await self._stat(real)
        facts = self._facts(virtual, st)
        return 250, f"Listing {virtual}\n {facts} {virtual}\nEnd."

    def _facts(self, virtual: pathlib.PurePosixPath, st: FileStat, type_: str | None = None) -> str:
        assert self.user is not None
        perm = self.user.permission_for(virtual)
        return format_facts(
            st,
            readable=perm.readable,
            writable=perm.writable,
            facts=self._mlst_facts,
            type_=type_,
        )

    async def ftp_STAT(self, argument: str) -> ReplyT:
        if not argument:
            lines = [
                "pytest-ftpserver status:",
                f" Connected to {self.peer_host}",
                f" Logged in as {self._login_name or 'anonymous'}",
                f" TYPE: {'ASCII' if self._ascii else 'BINARY'}, STRUcture: File, MODE: Stream",
                "End of status.",
            ]
            return 211, "\n".join(lines)
        lines = await self._listing(argument, "LIST")
        return 213, "\n".join(
            ["Status of " + argument + ":", *(" " + x for x in lines), "End of status."]
        )

    async def _listing(self, argument: str, verb: str) -> list[str]:
        # Options such as "-la" (gvfs, some GUIs) are accepted and ignored.
        words = argument.split(" ")
        while words and words[0].startswith("-") and len(words[0]) > 1:
            words.pop(0)
        argument = " ".join(words)
        virtual, real = await self._resolve(argument or ".")
        st = await self._stat(real)
        if not st.is_dir:
            if verb == "MLSD":
                raise FTPReply(501, "Not a directory.")
            name = virtual.name
            if verb == "NLST":
                return [argument or name]
            return [format_list_line(name, st)]
        entries = sorted(await self._io(self.path_io.list(real)))
        if verb == "NLST":
            return [name for name, _ in entries]
        if verb == "MLSD":
            return [f"{self._facts(virtual / name, est)} {name}" for name, est in entries]
        now = time.time()
        return [format_list_line(name, est, now) for name, est in entries]

    async def ftp_LIST(self, argument: str) -> ReplyT:
        return await self._send_listing(argument, "LIST")

    async def ftp_NLST(self, argument: str) -> ReplyT:
        return await self._send_listing(argument, "NLST")

    async def ftp_MLSD(self, argument: str) -> ReplyT:
        return await self._send_listing(argument, "MLSD")

    async def _send_listing(self, argument: str, verb: str) -> ReplyT:
        lines = await self._listing(argument, verb)
        payload = "".join(line + "\r\n" for line in lines).encode()
        connection = await self._open_data(verb)
        try:
            failed = await self._send_bytes(connection, payload)
        except BaseException:
            connection.abort()
            raise
        if failed is not None:
            return failed
        return await self._finish_download(connection)

    async def _finish_download(self, connection: DataConnection) -> ReplyT:
        if not await connection.finish():
            return 426, "Data connection reset by peer; transfer aborted."
        return 226, "Transfer complete."

    # -- data channel set-up ------------------------------------------------------------
    def _close_passive(self) -> None:
        if self._passive is not None:
            self._passive.close()
            self._passive = None
        future = self._passive_future
        if future is not None:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().abort()
            else:
                future.cancel()
            self._passive_future = None

    def _data_refusal(self) -> str | None:
        if self.server.tls_required and not self._protect_data:
            return "Data connections must be protected: send PROT P."
        return None

    async def _listen_passive(self) -> int:
        self._close_passive()
        self._active_address = None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[DataConnection] = loop.create_future()
        peer = self.peer_host
        accepted = False

        def accept(connection: DataConnection) -> bool:
            nonlocal accepted
            transport = connection.transport
            assert transport is not None
            host = transport.get_extra_info("peername")[0]
            if accepted or future.done() or not self.server._same_host(host, peer):
                log.debug("session %d: refused data connection from %s", self.id, host)
                return False
            accepted = True
            if self._protect_data:
                # curl and lftp start the TLS handshake as soon as they connect, before the
                # transfer command; ftplib only after the 150 reply. Start it now, and let
                # the transfer wait for it after sending 150. Reading stays paused until
                # start_tls takes over, so the ClientHello is not read as plain data.
                transport.pause_reading()
                connection.handshake = loop.create_task(self._wrap_tls(connection))
            future.set_result(connection)
            return True

        ports: list[int] = [0]
        if self.server.passive_ports is not None:
            ports = list(self.server.passive_ports)
            random.shuffle(ports)
        last_error: OSError | None = None
        for port in ports:
            try:
                self._passive = await loop.create_server(
                    lambda: DataConnection(accept), self.local_host, port, backlog=4
                )
                break
            except OSError as exc:
                last_error = exc
        else:
            raise FTPReply(425, f"Cannot open a passive port: {last_error}.")
        self._passive_future = future
        port_number: int = self._passive.sockets[0].getsockname()[1]
        return port_number

    async def ftp_PASV(self, argument: str) -> ReplyT:
        if self._epsv_all:
            return 503, "Only EPSV is accepted after EPSV ALL."
        address = self.server.masquerade_address or self.local_host
        if address.startswith("::ffff:"):
            address = address[7:]
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return 425, "PASV works on IPv4 only: use EPSV."
        port = await self._listen_passive()
        numbers = ",".join([*str(ip).split("."), str(port >> 8), str(port & 0xFF)])
        return 227, f"Entering Passive Mode ({numbers})."

    async def ftp_EPSV(self, argument: str) -> ReplyT:
        arg = argument.strip().upper()
        if arg == "ALL":
            self._epsv_all = True
            return 200, "EPSV ALL accepted."
        if arg:
            expected = "1" if self.family == socket.AF_INET else "2"
            if arg not in ("1", "2"):
                return 501, f"Unknown network protocol {arg!r}."
            if arg != expected:
                return 522, f"Network protocol not supported, use ({expected})."
        port = await self._listen_passive()
        return 229, f"Entering Extended Passive Mode (|||{port}|)."

    def _check_active(self, host: str, port: int) -> ReplyT | None:
        if self._epsv_all:
            return 503, "Only EPSV is accepted after EPSV ALL."
        if not self.server.allow_foreign_addresses and not self.server._same_host(
            host, self.peer_host
        ):
            return 504, "Active connections only to the client's own address."
        if port < 1024 and not self.server.allow_privileged_ports:
            return 504, "Active connections to privileged ports are refused."
        if not 0 < port < 65536:
            return 501, "Port out of range."
        self._close_passive()
        self._active_address = (host, port)
        return None

    def ftp_PORT(self, argument: str) -> ReplyT:
        parts = argument.strip().split(",")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            return 501, "Syntax: PORT h1,h2,h3,h4,p1,p2"
        if len(numbers) != 6 or any(not 0 <= n <= 255 for n in numbers):
            return 501, "Syntax: PORT h1,h2,h3,h4,p1,p2"
        if self.family != socket.AF_INET and not self.peer_host.startswith("::ffff:"):
            return 522, "PORT is for IPv4: use EPRT."
        host = ".".join(str(n) for n in numbers[:4])
        refusal = self._check_active(host, numbers[4] * 256 + numbers[5])
        return refusal or (200, "PORT command successful.")

    def ftp_EPRT(self, argument: str) -> ReplyT:
        text = argument.strip()
        if len(text) < 7:
            return 501, "Syntax: EPRT |proto|address|port|"
        fields = text[1:-1].split(text[0])
        if len(fields) != 3 or text[-1] != text[0]:
            return 501, "Syntax: EPRT |proto|address|port|"
        proto, host, port_text = fields
        if proto not in ("1", "2"):
            return 522, "Network protocol not supported, use (1,2)."
        try:
            ip = ipaddress.ip_address(host)
            port = int(port_text)
        except ValueError:
            return 501, "Bad address or port in EPRT."
        if (proto == "1") != (ip.version == 4):
            return 501, "EPRT protocol and address family disagree."
        refusal = self._check_active(str(ip), port)
        return refusal or (200, "EPRT command successful.")

    async def _open_data(self, verb: str, preliminary: str | None = None) -> DataConnection:
        refusal = self._data_refusal()
        if refusal:
            raise FTPReply(521, refusal)
        loop = asyncio.get_running_loop()
        # From here on ABOR, STAT and QUIT are answered at once.
        self._transfer = _Transfer(verb)
        if self._passive_future is not None:
            future = self._passive_future
            try:
                if not future.done():
                    await asyncio.wait_for(asyncio.shield(future), self.server.wait_future_timeout)
                connection = future.result()
            except asyncio.TimeoutError:
                self._close_passive()
                raise FTPReply(425, "No data connection was made in time.") from None
            finally:
                if self._passive is not None:
                    self._passive.close()
                    self._passive = None
                self._passive_future = None
        elif self._active_address is not None:
            host, port = self._active_address
            self._active_address = None
            try:
                _, connection = await asyncio.wait_for(
                    loop.create_connection(DataConnection, host, port),
                    self.server.wait_future_timeout,
                )
            except (OSError, asyncio.TimeoutError) as exc:
                raise FTPReply(425, f"Cannot open data connection: {exc}.") from None
        else:
            raise FTPReply(425, "Use PORT, EPRT, PASV or EPSV first.")
        self._send(150, preliminary or f"Opening data connection for {verb}.")
        if connection.handshake is not None:
            connection = await connection.handshake
        elif self._protect_data:
            connection = await self._wrap_tls(connection)
        return connection

    async def _wrap_tls(self, connection: DataConnection) -> DataConnection:
        context = self.server.ssl_context
        assert context is not None and connection.transport is not None
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                loop.start_tls(connection.transport, connection, context, server_side=True),
                self.server.socket_timeout or 30,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError) as exc:
            connection.abort()
            raise FTPReply(425, f"TLS negotiation on the data connection failed: {exc}.") from None
        assert transport is not None
        connection.transport = transport
        connection.tls = True
        return connection

    # -- transfers ----------------------------------------------------------------------
    def _throttle_group(self, direction: str) -> ThrottleGroup | None:
        throttles = [t for key, t in self._throttles.items() if key.startswith(direction)]
        return ThrottleGroup(throttles) if throttles else None

    async def _send_bytes(self, connection: DataConnection, payload: bytes) -> ReplyT | None:
        """Send a listing; returns a reply when the connection failed, else None."""
        view = memoryview(payload)
        limit = self._cut_after
        if limit is not None:
            view = view[:limit]
        try:
            for start in range(0, len(view), SEND_BLOCK):
                block = bytes(view[start : start + SEND_BLOCK])
                await self._data_write(connection, block)
        except (DataConnectionClosed, ConnectionError, asyncio.TimeoutError):
            connection.abort()
            return 426, "Data connection closed; transfer aborted."
        if limit is not None and limit < len(payload):
            connection.abort()
            return 426, "Data connection closed; transfer aborted (fault)."
        return None

    async def _data_write(self, connection: DataConnection, block: bytes) -> None:
        timeout = self.server.socket_timeout
        if timeout is None:
            await connection.write(block)
        else:
            await asyncio.wait_for(connection.write(block), timeout)
        transfer = self._transfer
        if transfer is not None:
            transfer.bytes += len(block)
        self._cmd_bytes += len(block)
        self.server.stats.bytes_sent += len(block)

    async def ftp_RETR(self, argument: str) -> ReplyT:
        _, real = await self._resolve(argument)
        offset, self._rest = self._rest, 0
        st = await self._stat(real)
        if st.is_dir:
            return 550, "Is a directory."
        if offset > st.size:
            return 554, f"Restart offset {offset} is past the end of the file."
        reader = await self._io(self.path_io.open_read(real, offset))
        try:
            connection = await self._open_data("RETR")
            try:
                failed = await self._retr(connection, reader, offset, st.size - offset)
            except BaseException:
                connection.abort()
                raise
        finally:
            await reader.close()
        if failed is not None:
            return failed
        reply = await self._finish_download(connection)
        if reply[0] == 226:
            self.server.stats.files_sent += 1
        return reply

    async def _retr(
        self, connection: DataConnection, reader: FileReader, offset: int, size: int
    ) -> ReplyT | None:
        throttle = self._throttle_group("write")
        limit = self._cut_after
        file = reader.sendfile_file
        transport = connection.transport
        assert transport is not None
        stats = self.server.stats
        if (
            file is not None
            and throttle is None
            and limit is None
            and not self._ascii
            and not self._protect_data
            and self.server.socket_timeout is None
            and size > 0
        ):
            try:
                sent = await connection.send_file(file.fileno(), offset, size)
            except (ConnectionError, OSError):
                connection.abort()
                return 426, "Data connection closed; transfer aborted."
            self._cmd_bytes += sent
            stats.bytes_sent += sent
            return None
        block = throttle.block_size if throttle is not None else SEND_BLOCK
        encoder = ToNetworkAscii() if self._ascii else None
        sent_total = 0
        try:
            while True:
                data = await self._io(reader.read(block))
                if not data:
                    if encoder is not None and (tail := encoder.flush()):
                        await self._data_write(connection, tail)
                    break
                if encoder is not None:
                    data = encoder.feed(data)
                if limit is not None and sent_total + len(data) >= limit:
                    data = data[: limit - sent_total]
                    await self._data_write(connection, data)
                    connection.abort()
                    return 426, "Data connection closed; transfer aborted (fault)."
                await self._data_write(connection, data)
                sent_total += len(data)
                if throttle is not None:
                    delay = throttle.consume(len(data))
                    if delay > 0:
                        await asyncio.sleep(delay)
        except (DataConnectionClosed, ConnectionError, asyncio.TimeoutError):
            connection.abort()
            return 426, "Data connection closed; transfer aborted."
        return None

    async def ftp_STOR(self, argument: str) -> ReplyT:
        return await self._store(argument, append=False)

    async def ftp_APPE(self, argument: str) -> ReplyT:
        return await self._store(argument, append=True)

    async def ftp_STOU(self, argument: str) -> ReplyT:
        base = argument.strip() or "file"
        virtual = self._virtual(base)
        name = virtual.name or "file"
        parent = str(virtual.parent)
        candidate = str(virtual)
        assert self.user is not None
        for n in range(1, 10_000):
            real = real_path(self.user.base_path, self._virtual(candidate))
            if not await self._io(self.path_io.exists(real)):
                break
            candidate = f"{parent.rstrip('/')}/{name}.{n}"
        else:
            return 450, "Cannot find a unique file name."
        unique = self._virtual(candidate).name
        return await self._store(candidate, append=False, unique_name=unique)

    async def _store(
        self, argument: str, *, append: bool, unique_name: str | None = None
    ) -> ReplyT:
        _, real = await self._resolve(argument, write=True)
        offset, self._rest = self._rest, 0
        if await self._io(self.path_io.is_dir(real)):
            return 550, "Is a directory."
        if offset:
            try:
                size = (await self._stat(real)).size
            except OSError:
                size = 0
            if offset > size:
                return 554, f"Restart offset {offset} is past the end of the file."
        # The data connection first: a transfer that never starts must not touch the file.
        connection = await self._open_data(
            "STOR", f"FILE: {unique_name}" if unique_name is not None else None
        )
        # Limits apply from the first byte, even those that arrive while the file opens.
        throttle = self._throttle_group("read")
        connection.throttle = throttle
        if throttle is not None:
            connection.set_block_size(throttle.block_size)
        connection.limit = self._cut_after
        try:
            writer = await self._io(self.path_io.open_write(real, append=append, offset=offset))
            try:
                failed = await self._receive(connection, writer)
            finally:
                await writer.close()
        except BaseException:
            connection.abort()
            raise
        if failed is not None:
            return failed
        self.server.stats.files_received += 1
        if unique_name is not None:
            return 226, f"Transfer complete (unique file name: {unique_name})."
        return 226, "Transfer complete."

    async def _receive(self, connection: DataConnection, writer: FileWriter) -> ReplyT | None:
        stats = self.server.stats
        transfer = self._transfer
        assert transfer is not None
        socket_timeout = self.server.socket_timeout
        before = connection.received
        sink_write = writer.write_nowait

        def count(n: int) -> None:
            transfer.bytes += n
            stats.bytes_received += n

        try:
            if (
                writer.fileno is not None
                and not self._ascii
                and socket_timeout is None
                and connection.can_splice()
            ):
                await connection.splice_into(writer.fileno, count)
                self._cmd_bytes = connection.received - before
            elif sink_write is not None and not self._ascii:
                # Blocks go from the socket callback to the file: no task, no queue.
                def sink(view: memoryview) -> None:
                    sink_write(view)
                    n = len(view)
                    transfer.bytes += n
                    stats.bytes_received += n

                while connection._chunks:  # bytes that came before the sink was set
                    sink(memoryview(connection._chunks.popleft()))
                connection.sink = sink
                if socket_timeout is None:
                    await connection.wait_eof()
                else:
                    await self._wait_progress(connection, socket_timeout)
                self._cmd_bytes = connection.received - before
                if connection.sink_error is not None:
                    raise connection.sink_error
            else:
                decoder = FromNetworkAscii() if self._ascii else None
                while True:
                    if socket_timeout is None:
                        chunk = await connection.read()
                    else:
                        chunk = await asyncio.wait_for(connection.read(), socket_timeout)
                    if not chunk:
                        break
                    n = len(chunk)
                    transfer.bytes += n
                    stats.bytes_received += n
                    self._cmd_bytes += n
                    if decoder is not None:
                        chunk = decoder.feed(chunk)
                    await self._io(writer.write(chunk))
                if decoder is not None and (tail := decoder.flush()):
                    await self._io(writer.write(tail))
        except asyncio.TimeoutError:
            connection.abort()
            return 426, "Data connection timed out; transfer aborted."
        if connection.limit is not None and connection.received >= connection.limit:
            return 426, "Data connection closed; transfer aborted (fault)."
        if connection.error is not None:
            return 426, "Data connection reset; transfer aborted, received data kept."
        connection.abort()
        await connection.closed
        return None

    async def _wait_progress(self, connection: DataConnection, timeout: float) -> None:
        """Wait for the end of an upload, failing if no byte arrives for ``timeout``."""
        waiter = asyncio.ensure_future(connection.wait_eof())
        try:
            while True:
                seen = connection.received
                done, _ = await asyncio.wait({waiter}, timeout=timeout)
                if done:
                    return
                if connection.received == seen:
                    raise asyncio.TimeoutError
        finally:
            waiter.cancel()


class _Handler:
    __slots__ = ("func", "is_async")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.is_async = asyncio.iscoroutinefunction(func)


_HANDLERS: dict[str, _Handler] = {
    verb: _Handler(getattr(Session, "ftp_" + verb))
    for verb, spec in COMMANDS.items()
    if spec.implemented and spec.alias_of is None
}
